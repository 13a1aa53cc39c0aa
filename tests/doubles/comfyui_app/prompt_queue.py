"""TEST DOUBLE of ComfyUI's prompt queue (server.py /prompt, /history, /queue, /interrupt; execution.py).

Answers with the shapes of ComfyUI 0.3.64 (a125cd84):
- POST /prompt validates like execution.validate_prompt, from the outputs back: invalid_prompt (no
  class_type, unknown class), prompt_no_outputs, then per node required_input_missing,
  return_type_mismatch, invalid_input_type, value_smaller_than_min / value_bigger_than_max and
  value_not_in_list. HTTP 400 when no output validates, else 200 with node_errors for the outputs dropped.
- A worker "runs" each queued prompt: it writes an output file per SaveImage / VHS_VideoCombine node under
  output/ and stores the history entry {prompt, outputs, meta, status{status_str, completed, messages}}.
File lists come from the host's folders at each POST (main.py's object_info, filled by file_lists.py), so a
name not on disk is refused as on a server without the file. It runs no models, so it is told what fails:
- COMFYUI_DOUBLE_FAIL_NODE: a class_type whose execution raises (COMFYUI_DOUBLE_FAIL_MESSAGE): an
  execution_error like the real one (node_id, node_type, executed, exception_message/type, traceback).
- COMFYUI_DOUBLE_RUN_SECONDS: how long each prompt runs (interruptible, like a sampling loop).
A loader whose model file is malformed fails as the real loader does (model_files.py): the same
execution_error, with the real exception type and message.
"""

import os
import threading
import time
import uuid
from pathlib import Path

from model_files import load_error

HERE = Path(__file__).resolve().parent
_CONVERT = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}


def _now_ms():
    return int(time.time() * 1000)


class PromptQueue:
    def __init__(self, load_object_info, model_roots=dict, custom_nodes=HERE / "custom_nodes"):
        self.load_object_info = load_object_info  # re-read per POST /prompt: the folders may have changed
        self.model_roots = model_roots  # folder name -> directories, read when a loader runs
        self.custom_nodes = custom_nodes
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
            messages = [
                ["execution_start", {"prompt_id": item[1], "timestamp": _now_ms()}],
                ["execution_cached", {"nodes": [], "prompt_id": item[1], "timestamp": _now_ms()}],
            ]
            outputs, status = self._execute(item, messages)
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

    def _execute(self, item, messages):
        _, prompt_id, prompt, _, _ = item
        deadline = time.monotonic() + self.run_seconds
        with self.lock:
            while time.monotonic() < deadline and prompt_id not in self.interrupted:
                self.lock.wait(timeout=max(0.0, deadline - time.monotonic()))
        executed = []
        for node_id in sorted(prompt, key=lambda k: (len(k), k)):
            node_type = prompt[node_id]["class_type"]
            if prompt_id in self.interrupted:
                messages.append(
                    [
                        "execution_interrupted",
                        {
                            "prompt_id": prompt_id,
                            "node_id": node_id,
                            "node_type": node_type,
                            "executed": executed,
                            "timestamp": _now_ms(),
                        },
                    ]
                )
                return {}, "error"
            failure = None
            if node_type == self.fail_node:
                failure = ("safetensors._safetensors_rust.SafetensorError", self.fail_message)
            else:
                inputs = prompt[node_id].get("inputs", {})
                failure = load_error(node_type, inputs, self.model_roots(), self.custom_nodes)
            if failure is not None:
                messages.append(
                    [
                        "execution_error",
                        {
                            "prompt_id": prompt_id,
                            "node_id": node_id,
                            "node_type": node_type,
                            "executed": executed,
                            "exception_message": f"{failure[1]}\n",
                            "exception_type": failure[0],
                            "traceback": ['  File "execution.py", line 496, in execute\n'],
                            "current_inputs": {},
                            "current_outputs": [],
                            "timestamp": _now_ms(),
                        },
                    ]
                )
                return {}, "error"
            executed.append(node_id)
        outputs = {}
        for node_id in item[4]:
            ui = self._write_output(prompt[node_id])
            if ui:
                outputs[node_id] = ui
        messages.append(["execution_success", {"prompt_id": prompt_id, "timestamp": _now_ms()}])
        return outputs, "success"

    def _write_output(self, node):
        """SaveImage: <prefix>_00001_.png (images); VHS_VideoCombine: <prefix>_00001.mp4 (gifs)."""
        inputs = node.get("inputs", {})
        prefix = str(inputs.get("filename_prefix", "ComfyUI"))
        subfolder, _, base = prefix.rpartition("/")
        folder = HERE / "output" / subfolder
        folder.mkdir(parents=True, exist_ok=True)
        counter = 1 + len(list(folder.glob(f"{base}_*")))
        if node["class_type"] == "SaveImage":
            name = f"{base}_{counter:05}_.png"
            (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n")
            return {"images": [{"filename": name, "subfolder": subfolder, "type": "output"}]}
        if node["class_type"] == "VHS_VideoCombine":
            name = f"{base}_{counter:05}.mp4"
            (folder / name).write_bytes(b"\x00\x00\x00\x18ftypmp42")
            return {
                "gifs": [
                    {
                        "filename": name,
                        "subfolder": subfolder,
                        "type": "output",
                        "format": inputs.get("format"),
                        "frame_rate": inputs.get("frame_rate"),
                        "workflow": f"{base}_{counter:05}.png",
                        "fullpath": str(folder / name),
                    }
                ]
            }
        return None


def _types_match(received, wanted):
    if "*" in (received, wanted):
        return True
    return bool(set(str(received).split(",")) & set(str(wanted).split(",")))
