"""TEST DOUBLE of ComfyUI's prompt queue (server.py /prompt, /history, /queue, /interrupt; execution.py).

Answers with the shapes of ComfyUI 0.3.64 (a125cd84):
- POST /prompt validates like execution.validate_prompt, from the outputs back: invalid_prompt (no
  class_type, unknown class), prompt_no_outputs, then per node required_input_missing,
  return_type_mismatch, invalid_input_type, value_smaller_than_min / value_bigger_than_max and
  value_not_in_list. HTTP 400 when no output validates, else 200 with node_errors for the outputs dropped.
- A worker "runs" each queued prompt, its nodes in dependency order: it writes real media per SaveImage /
  VHS_VideoCombine node under the output folder (media_out.py: the size, frame count and fps the prompt
  asks for) and stores the history entry {prompt, outputs, meta, status{status_str, completed, messages}}.
- While it runs it sends the websocket events of execution.py / main.py to the prompt's client_id
  (`send(event, data, sid)`, wired by main.py): execution_start, execution_cached, executing per node,
  progress + progress_state per sampler step, executed per output, execution_success / execution_error /
  execution_interrupted, then executing {node: None}. COMFYUI_DOUBLE_EVENTS names a JSON list of
  [event, data] recorded from the real server: then those are sent instead (prompt_id and each output's ui
  replaced by this run's), so a recording can stand in for the shapes written here.
File lists come from the host's folders at each POST (main.py's object_info, filled by file_lists.py), so a
name not on disk is refused as on a server without the file. It runs no models, so it is told what fails:
- COMFYUI_DOUBLE_FAIL_NODE: a class_type whose execution raises (COMFYUI_DOUBLE_FAIL_MESSAGE): an
  execution_error like the real one (node_id, node_type, executed, exception_message/type, traceback).
- COMFYUI_DOUBLE_RUN_SECONDS: how long each prompt runs, spread over its samplers (interruptible, like a
  sampling loop).
- COMFYUI_DOUBLE_OUTPUT=black|short: the media is all black (NaN upstream) or one frame short.
A loader whose model file is malformed fails as the real loader does (model_files.py): the same
execution_error, with the real exception type and message.
"""

import json
import os
import threading
import time
import uuid
from pathlib import Path

import media_out
from model_files import load_error

HERE = Path(__file__).resolve().parent
_CONVERT = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}
SAMPLERS = {"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"}


def _now_ms():
    return int(time.time() * 1000)


class PromptQueue:
    def __init__(self, load_object_info, output_dir=None, send=None, model_roots=dict, custom_nodes=None):
        self.load_object_info = load_object_info  # re-read per POST /prompt: the folders may have changed
        self.output_dir = Path(output_dir) if output_dir else HERE / "output"
        self.send = send or (lambda event, data, sid: None)  # server.send_sync(event, data, sid)
        self.model_roots = model_roots  # folder name -> directories, read when a loader runs
        self.custom_nodes = custom_nodes or HERE / "custom_nodes"
        recorded = os.environ.get("COMFYUI_DOUBLE_EVENTS")
        self.recorded = json.loads(Path(recorded).read_text()) if recorded else None
        self.object_info = load_object_info()
        self.fail_node = os.environ.get("COMFYUI_DOUBLE_FAIL_NODE")
        self.fail_message = os.environ.get(
            "COMFYUI_DOUBLE_FAIL_MESSAGE", "Error while deserializing header: header too small"
        )
        self.run_seconds = float(os.environ.get("COMFYUI_DOUBLE_RUN_SECONDS", "0"))
        self.number = 0
        self.queue = []
        self.running = None
        self.history = {}
        self.interrupted = set()
        self.lock = threading.Condition()
        threading.Thread(target=self._worker, daemon=True).start()

    # ---- HTTP -------------------------------------------------------------------------------------
    def handle(self, method, path, body):
        """(status, JSON document) for the routes of this module, or None for the caller's routes."""
        route = path.split("?", 1)[0]
        if route.startswith("/api/"):
            route = route[4:]
        if method == "POST" and route == "/prompt":
            return self.post_prompt(body if isinstance(body, dict) else {})
        if method == "GET" and route.startswith("/history/"):
            prompt_id = route[len("/history/") :]
            with self.lock:
                entry = self.history.get(prompt_id)
                return 200, ({prompt_id: entry} if entry is not None else {})
        if method == "GET" and route == "/history":
            with self.lock:
                return 200, dict(self.history)
        if method == "GET" and route == "/queue":
            with self.lock:
                return 200, {
                    "queue_running": [self.running] if self.running else [],
                    "queue_pending": self.queue,
                }
        if method == "POST" and route == "/interrupt":
            with self.lock:
                target = (body or {}).get("prompt_id") if isinstance(body, dict) else None
                if self.running and (target is None or self.running[1] == target):
                    self.interrupted.add(self.running[1])
                    self.lock.notify_all()
            return 200, None
        if method == "POST" and route == "/queue":
            with self.lock:
                delete = set((body or {}).get("delete", [])) if isinstance(body, dict) else set()
                self.queue = [item for item in self.queue if item[1] not in delete]
                if isinstance(body, dict) and body.get("clear"):
                    self.queue = []
            return 200, None
        return None

    def post_prompt(self, body):
        self.object_info = self.load_object_info()
        if "prompt" not in body:
            error = {
                "type": "no_prompt",
                "message": "No prompt provided",
                "details": "No prompt provided",
                "extra_info": {},
            }
            return 400, {"error": error, "node_errors": {}}
        prompt = body["prompt"]
        ok, error, outputs, node_errors = self.validate(prompt)
        if not ok:
            return 400, {"error": error, "node_errors": node_errors}
        with self.lock:
            number = self.number
            self.number += 1
            prompt_id = str(body.get("prompt_id", uuid.uuid4()))
            extra = dict(body.get("extra_data") or {})
            if "client_id" in body:
                extra["client_id"] = body["client_id"]
            self.queue.append([number, prompt_id, prompt, extra, outputs])
            self.lock.notify_all()
        return 200, {"prompt_id": prompt_id, "number": number, "node_errors": node_errors}

    # ---- validation (execution.validate_prompt / validate_inputs) ------------------------------------
    def validate(self, prompt):
        def invalid(message, node_id):
            error = {
                "type": "invalid_prompt",
                "message": message,
                "details": f"Node ID '#{node_id}'",
                "extra_info": {},
            }
            return False, error, [], {}

        for node_id, node in prompt.items():
            if "class_type" not in node:
                return invalid("Cannot execute because a node is missing the class_type property.", node_id)
            if node["class_type"] not in self.object_info:
                return invalid(f"Cannot execute because node {node['class_type']} does not exist.", node_id)
        outputs = [k for k, n in prompt.items() if self.object_info[n["class_type"]].get("output_node")]
        if not outputs:
            error = {
                "type": "prompt_no_outputs",
                "message": "Prompt has no outputs",
                "details": "",
                "extra_info": {},
            }
            return False, error, [], {}
        validated, good, errors = {}, [], {}
        for out in outputs:
            if self._validate_node(prompt, out, validated):
                good.append(out)
        for node_id, (_ok, errs) in validated.items():
            if errs:
                dependent = [o for o in outputs if o not in good]
                errors[node_id] = {
                    "errors": errs,
                    "dependent_outputs": dependent,
                    "class_type": prompt[node_id]["class_type"],
                }
        if not good:
            error = {
                "type": "prompt_outputs_failed_validation",
                "message": "Prompt outputs failed validation",
                "details": "",
                "extra_info": {},
            }
            return False, error, [], errors
        return True, None, good, errors

    def _validate_node(self, prompt, node_id, validated):
        if node_id in validated:
            return validated[node_id][0]
        validated[node_id] = (True, [])  # cycles are someone else's test
        node = prompt[node_id]
        schema = self.object_info[node["class_type"]]
        inputs = node.get("inputs", {})
        errs = []
        ok = True
        for category in ("required", "optional"):
            for name, spec in (schema.get("input", {}).get(category) or {}).items():
                if name not in inputs:
                    if category == "required":
                        errs.append(
                            self._err(
                                "required_input_missing",
                                "Required input is missing",
                                name,
                                {"input_name": name},
                            )
                        )
                    continue
                value = inputs[name]
                if isinstance(value, list):
                    source_id, slot = str(value[0]), value[1]
                    if source_id not in prompt:
                        errs.append(
                            self._err(
                                "exception_during_inner_validation",
                                "Exception when validating inner node",
                                name,
                                {"input_name": name},
                            )
                        )
                        continue
                    received = self.object_info[prompt[source_id]["class_type"]]["output"][slot]
                    wanted = spec[0] if isinstance(spec[0], str) else "COMBO"
                    if not _types_match(received, wanted):
                        errs.append(
                            self._err(
                                "return_type_mismatch",
                                "Return type mismatch between linked nodes",
                                f"{name}, received_type({received}) mismatch input_type({wanted})",
                                {"input_name": name},
                            )
                        )
                    elif not self._validate_node(prompt, source_id, validated):
                        ok = False
                    continue
                err = self._check_value(node["class_type"], name, spec, value)
                if err:
                    errs.append(err)
        validated[node_id] = (ok and not errs, errs)
        return ok and not errs

    def _check_value(self, class_type, name, spec, value):
        head = spec[0]
        meta = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
        options = head if isinstance(head, list) else (meta.get("options") if head == "COMBO" else None)
        if options is not None:
            listed = list(options)
            if value not in listed:
                shown = f"(list of length {len(listed)})" if len(listed) > 20 else str(listed)
                return self._err(
                    "value_not_in_list",
                    "Value not in list",
                    f"{name}: '{value}' not in {shown}",
                    {"input_name": name, "input_config": spec, "received_value": value},
                )
            return None
        convert = _CONVERT.get(head)
        if convert is None:
            return None
        try:
            value = convert(value)
        except (TypeError, ValueError) as exc:
            return self._err(
                "invalid_input_type",
                f"Failed to convert an input value to a {head} value",
                f"{name}, {value}, {exc}",
                {"input_name": name, "received_value": value},
            )
        if "min" in meta and value < meta["min"]:
            return self._err(
                "value_smaller_than_min",
                f"Value {value} smaller than min of {meta['min']}",
                name,
                {"input_name": name, "received_value": value},
            )
        if "max" in meta and value > meta["max"]:
            return self._err(
                "value_bigger_than_max",
                f"Value {value} bigger than max of {meta['max']}",
                name,
                {"input_name": name, "received_value": value},
            )
        return None

    @staticmethod
    def _err(kind, message, details, extra):
        return {"type": kind, "message": message, "details": details, "extra_info": extra}

    # ---- execution ----------------------------------------------------------------------------------
    def _worker(self):
        while True:
            with self.lock:
                while not self.queue:
                    self.lock.wait()
                self.running = self.queue.pop(0)
            item = self.running
            sid = item[3].get("client_id")
            messages = []
            self._message(messages, sid, "execution_start", {"prompt_id": item[1]})
            self._message(messages, sid, "execution_cached", {"nodes": [], "prompt_id": item[1]})
            outputs, status = self._execute(item, messages, sid)
            if self.recorded is not None:  # during the run, as the real server sends them
                self._replay(item[1], sid, outputs)
            with self.lock:
                self.history[item[1]] = {
                    "prompt": item,
                    "outputs": outputs,
                    "meta": {
                        k: {"node_id": k, "display_node": k, "parent_node": None, "real_node_id": k}
                        for k in outputs
                    },
                    "status": {"status_str": status, "completed": status == "success", "messages": messages},
                }
                self.running = None
            self._event(sid, "executing", {"node": None, "prompt_id": item[1]})  # main.py prompt_worker

    def _message(self, messages, sid, event, data):
        """execution.py add_message: into the history's messages (with a timestamp) and to the client."""
        data = {**data, "timestamp": _now_ms()}
        messages.append([event, data])
        self._event(sid, event, data)

    def _event(self, sid, event, data):
        if self.recorded is None and sid is not None:
            self.send(event, data, sid)

    def _replay(self, prompt_id, sid, outputs):
        """Send the recorded events of a real run as this prompt's (its id, its outputs' ui)."""
        for event, data in self.recorded:
            data = dict(data)
            if "prompt_id" in data:
                data["prompt_id"] = prompt_id
            if event == "executed" and str(data.get("node")) in outputs:
                data["output"] = outputs[str(data["node"])]
            if sid is not None:
                self.send(event, data, sid)

    @staticmethod
    def _order(prompt, outputs):
        """The nodes the outputs need, dependencies first (execution.py ExecutionList stages them so)."""
        order, seen = [], set()

        def visit(node_id):
            if node_id in seen or node_id not in prompt:
                return
            seen.add(node_id)
            for value in (prompt[node_id].get("inputs") or {}).values():
                if isinstance(value, list) and len(value) == 2:
                    visit(str(value[0]))
            order.append(node_id)

        for out in outputs:
            visit(str(out))
        return order

    def _execute(self, item, messages, sid):
        _, prompt_id, prompt, _, output_ids = item
        order = self._order(prompt, output_ids)
        samplers = [n for n in order if prompt[n]["class_type"] in SAMPLERS] or order[-1:]
        executed, outputs, signatures = [], {}, {}
        for node_id in order:
            node_type = prompt[node_id]["class_type"]
            signature = _signature(prompt, node_id, signatures)
            if signature in signatures.values() and node_id not in output_ids:
                # execution.py execute(): a node whose inputs' signature is already in the output cache
                # (caching.py keys by inputs, not id) is not run: no `executing` event, no execution
                signatures[node_id] = signature
                executed.append(node_id)
                continue
            signatures[node_id] = signature
            if prompt_id not in self.interrupted:
                data = {"node": node_id, "display_node": node_id, "prompt_id": prompt_id}
                self._event(sid, "executing", data)
            if node_id in samplers:
                self._sample(prompt_id, node_id, prompt[node_id], sid, self.run_seconds / len(samplers))
            if prompt_id in self.interrupted:
                data = {"prompt_id": prompt_id, "node_id": node_id, "node_type": node_type}
                data["executed"] = executed
                self._message(messages, sid, "execution_interrupted", data)
                return {}, "error"
            error = self.fail_message if node_type == self.fail_node else None
            error_type = "safetensors._safetensors_rust.SafetensorError"
            if error is None:  # the real loaders parse each file's header first (model_files.py)
                inputs = prompt[node_id].get("inputs", {})
                failure = load_error(node_type, inputs, self.model_roots(), self.custom_nodes)
                if failure is not None:
                    error_type, error = failure
            if error is None and node_id in output_ids:
                try:
                    ui = self._write_output(prompt, node_id)
                except RuntimeError as exc:  # ffmpeg missing or failing: VHS raises, the run fails
                    error, error_type = str(exc), "Exception"
                else:
                    if ui:
                        outputs[node_id] = ui
                        self._event(
                            sid,
                            "executed",
                            {"node": node_id, "display_node": node_id, "output": ui, "prompt_id": prompt_id},
                        )
            if error is not None:
                data = {
                    "prompt_id": prompt_id,
                    "node_id": node_id,
                    "node_type": node_type,
                    "executed": executed,
                    "exception_message": f"{error}\n",
                    "exception_type": error_type,
                    "traceback": ['  File "execution.py", line 496, in execute\n'],
                    "current_inputs": {},
                    "current_outputs": [],
                }
                self._message(messages, sid, "execution_error", data)
                return {}, "error"
            executed.append(node_id)
        self._message(messages, sid, "execution_success", {"prompt_id": prompt_id})
        return outputs, "success"

    def _sample(self, prompt_id, node_id, node, sid, seconds):
        """A sampling loop: one progress (main.py hijack_progress) and progress_state per step, the time
        spread over the steps, interruptible between them."""
        inputs = node.get("inputs") or {}
        start, end = int(inputs.get("start_at_step", 0)), int(inputs.get("end_at_step", 10000))
        steps = max(1, min(int(inputs.get("steps", 1)), end) - start)
        for step in range(1, steps + 1):
            deadline = time.monotonic() + seconds / steps
            with self.lock:
                while time.monotonic() < deadline and prompt_id not in self.interrupted:
                    self.lock.wait(timeout=max(0.0, deadline - time.monotonic()))
            if prompt_id in self.interrupted:
                return
            progress = {"value": step, "max": steps, "prompt_id": prompt_id, "node": node_id}
            self._event(sid, "progress", progress)
            state = {
                "value": step,
                "max": steps,
                "state": "running",
                "node_id": node_id,
                "prompt_id": prompt_id,
                "display_node_id": node_id,
                "parent_node_id": None,
                "real_node_id": node_id,
            }
            self._event(sid, "progress_state", {"prompt_id": prompt_id, "nodes": {node_id: state}})

    def _write_output(self, prompt, node_id):
        """SaveImage: <prefix>_00001_.png (images); VHS_VideoCombine: <prefix>_00001.mp4 (gifs, fullpath)."""
        node = prompt[node_id]
        inputs = node.get("inputs", {})
        prefix = str(inputs.get("filename_prefix", "ComfyUI"))
        subfolder, _, base = prefix.rpartition("/")
        folder = self.output_dir / subfolder
        folder.mkdir(parents=True, exist_ok=True)
        counter = 1 + len(list(folder.glob(f"{base}_*")))
        width, height, frames = media_out.shape(prompt, node_id)
        if node["class_type"] == "SaveImage":
            name = f"{base}_{counter:05}_.png"
            media_out.write_png(folder / name, width, height)
            return {"images": [{"filename": name, "subfolder": subfolder, "type": "output"}]}
        if node["class_type"] == "VHS_VideoCombine":
            video_format = str(inputs.get("format"))
            name = f"{base}_{counter:05}.{media_out.extension(video_format)}"
            fps = inputs.get("frame_rate", 8)
            media_out.write_video(folder / name, video_format, width, height, frames, fps)
            return {
                "gifs": [
                    {
                        "filename": name,
                        "subfolder": subfolder,
                        "type": "output",
                        "format": video_format,
                        "frame_rate": fps,
                        "workflow": f"{base}_{counter:05}.png",
                        "fullpath": str(folder / name),
                    }
                ]
            }
        return None


def _signature(prompt, node_id, known):
    """comfy_execution/caching.py CacheKeySetInputSignature, as far as the double needs it: the class and
    the inputs, a link standing for its source node's signature (sources come first in the order)."""
    node = prompt[node_id]
    inputs = []
    for key, value in sorted((node.get("inputs") or {}).items()):
        if isinstance(value, list) and len(value) == 2:
            value = ("link", known.get(str(value[0]), str(value[0])), value[1])
        inputs.append((key, json.dumps(value, sort_keys=True, default=str)))
    return (node["class_type"], tuple(inputs))


def _types_match(received, wanted):
    if "*" in (received, wanted):
        return True
    return bool(set(str(received).split(",")) & set(str(wanted).split(",")))
