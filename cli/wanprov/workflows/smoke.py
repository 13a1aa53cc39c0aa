"""A real run on a running ComfyUI: POST /prompt, follow GET /history/{prompt_id}, report seconds and outputs.

Shapes follow ComfyUI 0.3.64 (server.py post_prompt / get_history_prompt_id, execution.py PromptQueue):
- POST /prompt {"prompt", "client_id"} -> 200 {"prompt_id", "number", "node_errors"} or
  400 {"error": {type, message, details, extra_info},
  "node_errors": {id: {errors, dependent_outputs, class_type}}};
  a 200 can still carry node_errors for outputs that will not run (the others do).
- GET /history/{id} -> {} until the prompt is done, then {id: {"prompt", "outputs": {node: ui},
  "status": {"status_str": "success"|"error", "completed", "messages": [[event, data], ...]}}};
  an `execution_error` message names the node, its class, the exception and the traceback.
On timeout the prompt is interrupted and dropped from the queue, so a stuck run does not hold the GPU.
An accepted prompt with history status "success" is not yet a video: each output is fetched through the
server's GET /view (so the smoke works from another machine too), read back with PyAV and compared with
what the prompt asked for (media.py); the seconds of each stage come from the server's websocket events
(progress.py), the peak RAM/VRAM from /system_stats sampled at each poll.
A LoadImage input is uploaded first (POST /upload/image, multipart `image`, `overwrite`): the server lists
only its own input folder, which on a provisioned host is the service's data folder, not the checkout's
example.png.
"""

from __future__ import annotations

import contextlib
import struct
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from wanprov.bounded_http import WATCHDOG, Deadline, abort_response, request, within
from wanprov.errors import NetworkError, WanprovError
from wanprov.workflows.media import expected_media, verify
from wanprov.workflows.progress import EventStream, timeline

SUCCESS = "success"
REFUSED = "refused"  # HTTP 400 from /prompt, or a 200 whose node_errors leave the smoke's outputs out
FAILED = "failed"  # accepted, then an execution_error (or an error status) during the run
TIMED_OUT = "timed_out"
UNVERIFIED = "unverified"  # the run finished, but an output is missing or not the media asked for
SCHEMA = "wanprov.workflow-smoke/2"


class SmokeProtocolError(WanprovError):
    """The server answered, but not like ComfyUI."""

    code = "not_comfyui"


@dataclass
class SmokeReport:
    url: str
    template: str
    status: str
    seconds: float | None = None  # from POST to the finished history entry
    prompt_id: str | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)  # {node_id, filename, subfolder, type, path}
    error: dict[str, Any] | None = None  # /prompt's error, or the execution_error message
    node_errors: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    media: list[dict[str, Any]] = field(default_factory=list)  # per output: expected and read-back facts
    timeline: dict[str, Any] | None = None  # progress.Timeline.to_dict(), from the websocket events
    memory: dict[str, Any] = field(default_factory=dict)  # peak RAM/VRAM seen in /system_stats
    events_error: str | None = None  # why there are no progress events, when there are none

    @property
    def output(self) -> str | None:
        return self.outputs[0]["path"] if self.outputs else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "url": self.url,
            "template": self.template,
            "status": self.status,
            "ok": self.status == SUCCESS,
            "seconds": self.seconds,
            "prompt_id": self.prompt_id,
            "output": self.output,
            "outputs": self.outputs,
            "error": self.error,
            "node_errors": self.node_errors,
            "params": self.params,
            "verified": self.status == SUCCESS and bool(self.media) and all(m["ok"] for m in self.media),
            "media": self.media,
            "stages": (self.timeline or {}).get("stages", {}),
            "timeline": self.timeline,
            "memory": self.memory,
            "events_error": self.events_error,
        }


ANSWER_MAX_BYTES = 64 << 20  # a /history entry with its outputs is KBs; a big one is not ComfyUI's
DOWNLOAD_MAX_BYTES = 8 << 30  # a smoke's output is a few MB of video
DOWNLOAD_DEADLINE_S = 600.0  # a /view download outside a smoke (in one, the smoke's deadline bounds it)
SMOKE_LIMIT = "workflow smoke --timeout"


class _Http:
    """The few calls the smoke needs; every transport failure is a NetworkError naming the URL.

    Each call ends by `deadline` (the smoke's wall time: every call gets what is left of it, no share of
    its own), or within `timeout` without one; its answer read incrementally and capped
    (wanprov.bounded_http)."""

    def __init__(self, base: str, timeout: float, deadline: Deadline | None = None) -> None:
        self.base = base.rstrip("/")
        self.timeout = timeout
        self.deadline = deadline

    def upload(self, path: str, filename: str, data: bytes, fields: dict[str, str]) -> tuple[int, Any]:
        """A multipart POST (`image` file plus form fields), as ComfyUI's upload routes read it."""
        return self.call("POST", path, files={"image": (filename, data, "image/png")}, data=fields)

    def download(self, path: str, params: dict[str, str], dest: Path) -> int:
        """GET `path` into `dest` (streamed: a video can be large); the HTTP status. The head of the answer
        and its body end by the smoke's deadline (DOWNLOAD_DEADLINE_S without one), at a lowest throughput."""
        import requests

        url = self.base + path
        deadline = self.deadline or Deadline(DOWNLOAD_DEADLINE_S)
        held: dict[str, Any] = {}
        watch = None

        def head() -> Any:
            left = max(deadline.remaining(), 0.001)
            held["response"] = requests.get(url, params=params, timeout=(min(10.0, left), left), stream=True)
            return held["response"]

        def abort() -> None:
            abort_response(held.get("response"))

        try:
            response = within(deadline, head, f"GET {url}", on_expiry=abort)
            with response:
                # a total deadline and a lowest throughput (bounded_http.Watchdog), and a size cap
                watch = WATCHDOG.watch(response, deadline.monotonic_at(), 1024.0, 30.0)
                try:
                    if response.status_code == 200:
                        with dest.open("wb") as out:
                            for chunk in response.iter_content(1 << 20):
                                watch.count(len(chunk))
                                if watch.received > DOWNLOAD_MAX_BYTES:
                                    raise NetworkError(
                                        f"GET {url} sent more than {DOWNLOAD_MAX_BYTES} bytes", hint=None
                                    )
                                out.write(chunk)
                finally:
                    WATCHDOG.release(watch)
        except requests.RequestException as exc:
            if watch is None or not watch.reason:
                raise NetworkError(f"GET {url} failed: {exc}", hint="is ComfyUI still running?") from exc
        assert watch is not None  # set before any read; a failure before it was raised above
        if watch.reason:  # cut by the watchdog: the read failed, or ended early as if complete
            if deadline.expired():
                raise deadline.exceeded(f"GET {url}")
            raise NetworkError(f"GET {url}: {watch.reason}", hint="is ComfyUI still running?")
        return response.status_code

    def call(self, method: str, path: str, body: Any = None, **multipart: Any) -> tuple[int, Any]:
        import requests  # deferred: only the smoke and URL schemas need it

        url = self.base + path
        deadline = self.deadline or Deadline(self.timeout)  # the smoke's: what is left of its wall time
        kwargs = multipart if multipart else {"json": body}
        try:
            response = request(method, url, deadline=deadline, max_bytes=ANSWER_MAX_BYTES, **kwargs)
        except requests.RequestException as exc:
            raise NetworkError(
                f"{method} {url} failed: {exc}",
                hint="is ComfyUI running and listening there? (curl URL/system_stats)",
            ) from exc
        if not response.body:
            return response.status, None
        try:
            return response.status, response.json()
        except (ValueError, RecursionError) as exc:
            raise SmokeProtocolError(
                f"{method} {url} answered HTTP {response.status} without JSON: {response.body[:200]!r}",
                hint="point --url at a ComfyUI server",
            ) from exc


SMOKE_IMAGE = "wanprov-smoke.png"


def smoke_png(width: int = 64, height: int = 64) -> bytes:
    """A mid-grey RGB PNG, made here so the smoke needs no file on the host (the I2V nodes resize it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * (3 * width) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def upload_input_images(http: _Http, prompt: dict[str, Any]) -> None:
    """Upload the smoke image once and point every LoadImage node at the name the server gives it."""
    loaders = [n for n in prompt.values() if isinstance(n, dict) and n.get("class_type") == "LoadImage"]
    if not loaders:
        return
    status, reply = http.upload("/upload/image", SMOKE_IMAGE, smoke_png(), {"overwrite": "true"})
    if status != 200 or not isinstance(reply, dict) or not isinstance(reply.get("name"), str):
        raise SmokeProtocolError(
            f"POST {http.base}/upload/image answered HTTP {status}: {reply!r}", hint=None
        )
    name = "/".join(p for p in (reply.get("subfolder") or "", reply["name"]) if p)
    for node in loaders:
        node.setdefault("inputs", {})["image"] = name


def run_smoke(
    url: str,
    prompt: dict[str, Any],
    *,
    template: str = "<workflow>",
    timeout: float = 600.0,
    poll: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    limit: str = SMOKE_LIMIT,
) -> SmokeReport:
    """Queue `prompt` on the ComfyUI at `url`, wait (at most `timeout` seconds) for its history entry, then
    fetch and verify every output it wrote.

    `timeout` is wall time: the upload, the websocket's handshake, the POST, every poll and every /view
    download end by then; only the interrupt and dequeue of a run that timed out take a few seconds more.
    The deadline passing before the prompt is queued, or during a download, is DeadlineExceeded (exit 5)
    naming `limit` (the option that set `timeout`); during the run it is the report's TIMED_OUT."""
    deadline = Deadline(timeout, clock, label=limit)
    http = _Http(url, timeout=min(30.0, max(timeout, 1.0)), deadline=deadline)
    report = SmokeReport(url, template, REFUSED)
    upload_input_images(http, prompt)
    memory = _Memory(http)
    client_id = f"wanprov-{uuid.uuid4()}"
    events = EventStream(url, client_id, clock, deadline)
    try:
        start = clock()
        status, reply = http.call("POST", "/prompt", {"prompt": prompt, "client_id": client_id})
        if not isinstance(reply, dict):
            raise SmokeProtocolError(f"POST {url}/prompt answered HTTP {status} with {reply!r}", hint=None)
        report.node_errors = reply.get("node_errors") or {}
        if status != 200:
            if status == 400 and "error" in reply:
                report.error = reply["error"]
                return report
            raise SmokeProtocolError(f"POST {url}/prompt answered HTTP {status}: {reply}", hint=None)
        prompt_id = reply.get("prompt_id")
        if not isinstance(prompt_id, str):
            raise SmokeProtocolError(f"POST {url}/prompt gave no prompt_id: {reply}", hint=None)
        report.prompt_id = prompt_id
        if report.node_errors:
            # ComfyUI runs the outputs that validated and drops the rest: a smoke needs all of them
            report.error = {
                "type": "prompt_outputs_failed_validation",
                "message": "some outputs will not run",
            }
            _cancel(http, prompt_id)
            return report
        while True:
            memory.sample()
            try:
                _, history = http.call("GET", f"/history/{prompt_id}")
            except NetworkError:
                if not deadline.expired():
                    raise
                history = None  # the wall time ran out during the poll: timed out, as below
            entry = history.get(prompt_id) if isinstance(history, dict) else None
            if isinstance(entry, dict) and entry.get("status") is not None:
                report.seconds = round(clock() - start, 3)
                _finished(report, entry, memory.output_roots())
                break
            if clock() - start >= timeout or deadline.expired():
                report.status = TIMED_OUT
                report.seconds = round(clock() - start, 3)
                report.error = {"type": "timed_out", "message": f"no result after {timeout:g} s"}
                _cancel(http, prompt_id)
                break
            sleep(min(poll, deadline.remaining()))
        if report.status != TIMED_OUT:
            events.wait_for_end(prompt_id)  # the history can be read before the last events are
    finally:
        events.close()
    report.timeline = timeline(events.events, prompt_id, prompt).to_dict()
    report.events_error = events.error
    report.memory = memory.to_dict()
    if report.status == SUCCESS:
        _verify_outputs(http, report, prompt)
    return report


class _Memory:
    """Peak RAM and VRAM in use, as /system_stats reports them (total - free), sampled at each poll; and
    the server's launch arguments (where its output folders are)."""

    def __init__(self, http: _Http) -> None:
        self.http = http
        self.samples = 0
        self.ram_used_peak: int | None = None
        self.vram_used_peak: dict[str, int] = {}
        self.argv: list[str] = []
        self.sample()

    def sample(self) -> None:
        try:
            status, stats = self.http.call("GET", "/system_stats")
        except WanprovError:  # the history poll that follows says what is wrong with the server
            return
        if status != 200 or not isinstance(stats, dict):
            return
        # a ComfyUI answer of another shape (another server, another version) gives no memory figures
        system = stats.get("system") if isinstance(stats.get("system"), dict) else {}
        devices = stats.get("devices") if isinstance(stats.get("devices"), list) else []
        self.samples += 1
        if not self.argv and isinstance(system.get("argv"), list):
            self.argv = [str(a) for a in system["argv"]]
        used = _used(system, "ram_total", "ram_free")
        if used is not None:
            self.ram_used_peak = max(self.ram_used_peak or 0, used)
        for device in devices:
            if not isinstance(device, dict):
                continue
            used = _used(device, "vram_total", "vram_free")
            if used is not None and str(device.get("type")) != "cpu":
                name = str(device.get("name"))
                self.vram_used_peak[name] = max(self.vram_used_peak.get(name, 0), used)

    def output_roots(self) -> dict[str, str]:
        return output_roots(self.argv)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": "/system_stats, sampled at each poll",
            "samples": self.samples,
            "ram_used_peak_bytes": self.ram_used_peak,
            "vram_used_peak_bytes": self.vram_used_peak,
        }


def _used(record: dict[str, Any], total: str, free: str) -> int | None:
    t, f = record.get(total), record.get(free)
    return int(t) - int(f) if isinstance(t, int) and isinstance(f, int) and t > 0 else None


def output_roots(argv: Sequence[str]) -> dict[str, str]:
    """Absolute folder per history output `type` (output, temp, input) from ComfyUI's launch arguments,
    as folder_paths sets them: --output/--temp/--input-directory, else under --base-directory, else under
    the folder of main.py. Empty when main.py's path is relative and no folder flag says."""
    flags: dict[str, str] = {}
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name.startswith("--") and (eq or i + 1 < len(argv)):
            flags[name] = value if eq else argv[i + 1]
    main = Path(argv[0]) if argv else None
    base = flags.get("--base-directory") or (str(main.parent) if main and main.is_absolute() else None)
    roots: dict[str, str] = {}
    for kind in ("output", "temp", "input"):
        folder = flags.get(f"--{kind}-directory") or (str(Path(base) / kind) if base else None)
        if folder and Path(folder).is_absolute():
            roots[kind] = str(Path(folder))
    return roots


def _verify_outputs(http: _Http, report: SmokeReport, prompt: dict[str, Any]) -> None:
    """Fetch each output through GET /view and read it back; any that does not verify (or an output node
    that wrote nothing) makes the report UNVERIFIED."""
    expected = expected_media(prompt)
    written = {o["node_id"] for o in report.outputs}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="wanprov-smoke-") as folder:
        for output in report.outputs:
            want = expected.get(output["node_id"])
            if want is None:  # a preview or text node's file: nothing asked of it
                continue
            local = Path(folder) / Path(output["filename"]).name
            params = {k: output[k] for k in ("filename", "subfolder", "type")}
            status = http.download("/view", params, local)
            facts = verify(local, want) if status == 200 else None
            if facts is None:
                entry = {"node_id": output["node_id"], "ok": False, "problems": [f"GET /view: HTTP {status}"]}
            else:
                entry = {"node_id": output["node_id"], **facts.to_dict()}
            entry.update(path=output["path"], expected=asdict(want))
            report.media.append(entry)
            problems += [f"node {output['node_id']} {output['filename']}: {p}" for p in entry["problems"]]
    for node_id in sorted(set(expected) - written):
        report.media.append({"node_id": node_id, "ok": False, "problems": ["wrote no file"]})
        problems.append(f"node {node_id} ({prompt[node_id].get('class_type')}) wrote no file")
    if problems:
        report.status = UNVERIFIED
        report.error = {"type": "output_not_verified", "message": "; ".join(problems)}


def smoke_template(
    url: str,
    name: str,
    *,
    preset: str | None = None,
    profile: str | None = None,
    facts_file: Path | None = None,
    tier: str | None = None,
    nvenc: bool | None = None,
    gpu: int | None = None,
    sets: Sequence[str] = (),
    timeout: float = 600.0,
    poll: float = 1.0,
    limit: str = SMOKE_LIMIT,
    size: str = "smoke",
) -> tuple[SmokeReport, list[str]]:
    """Render shipped template `name` at its smoke size (or the user's, `size="full"`: smoke_size.py) for
    the host (flags over facts, as `workflow render`) and run it on the ComfyUI at `url`. Returns the report
    (with the size and profile run) and the host notes."""
    from wanprov.workflows.host import settings
    from wanprov.workflows.params import load_defaults, parse_set
    from wanprov.workflows.render import render
    from wanprov.workflows.smoke_size import smoke_overrides

    template = load_defaults()[1].get(name)
    host = settings(
        facts_file,
        tier=tier,
        nvenc=nvenc,
        uses_nvenc=template is None or "nvenc" in template.params,
        gpu=gpu,
    )
    overrides = smoke_overrides(name, tier=host.tier, preset=preset, overrides=parse_set(sets), size=size)
    rendered = render(
        name, preset=preset, profile=profile, tier=host.tier, nvenc=host.nvenc, overrides=overrides
    )
    report = run_smoke(url, rendered.prompt, template=name, timeout=timeout, poll=poll, limit=limit)
    report.params = {
        k: rendered.params[k] for k in ("width", "height", "length", "steps") if k in rendered.params
    }
    report.params.update(profile=rendered.profile, size=size)
    return report, list(host.notes)


def _finished(report: SmokeReport, entry: dict[str, Any], roots: dict[str, str]) -> SmokeReport:
    status = entry["status"]
    messages = status.get("messages") or []
    error = next(
        (m[1] for m in messages if isinstance(m, list | tuple) and len(m) == 2 and m[0] == "execution_error"),
        None,
    )
    if status.get("status_str") != "success" or error is not None:
        report.status = FAILED
        report.error = error or {"type": "error", "message": f"history status {status}"}
        return report
    report.outputs = list(_output_files(entry.get("outputs") or {}, roots))
    report.status = SUCCESS
    if not report.outputs:
        report.status = UNVERIFIED
        report.error = {"type": "no_output", "message": "the run finished without writing an output file"}
    return report


def _output_files(outputs: dict[str, Any], roots: dict[str, str]) -> Any:
    """SaveImage's `images`, VHS_VideoCombine's `gifs`, core video nodes' `images`/`videos`; `path` is the
    absolute path on the ComfyUI host (VHS's own `fullpath`, else the type's folder from the server's launch
    arguments; None when neither says), `relative` the one under that folder."""
    for node_id, ui in outputs.items():
        if not isinstance(ui, dict):
            continue
        for items in ui.values():
            for item in items if isinstance(items, list) else ():
                if isinstance(item, dict) and isinstance(item.get("filename"), str):
                    subfolder = item.get("subfolder") or ""
                    kind = item.get("type") or "output"
                    relative = "/".join(p for p in (subfolder, item["filename"]) if p)
                    fullpath = item.get("fullpath")
                    if not (isinstance(fullpath, str) and Path(fullpath).is_absolute()):
                        fullpath = str(Path(roots[kind]) / relative) if kind in roots else None
                    yield {
                        "node_id": str(node_id),
                        "filename": item["filename"],
                        "subfolder": subfolder,
                        "type": kind,
                        "path": fullpath,
                        "relative": relative,
                    }


CANCEL_TIMEOUT_S = 5.0


def _cancel(http: _Http, prompt_id: str) -> None:
    """Stop it if it runs (targeted /interrupt), drop it if it waits (/queue delete). Best effort, a few
    seconds each, past the smoke's deadline if need be (a run left queued would hold the GPU)."""
    http = _Http(http.base, CANCEL_TIMEOUT_S)
    for path, body in (("/interrupt", {"prompt_id": prompt_id}), ("/queue", {"delete": [prompt_id]})):
        with contextlib.suppress(WanprovError):
            http.call("POST", path, body)
