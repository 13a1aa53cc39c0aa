"""ComfyUI's own progress events for one prompt, and the seconds each stage of the run took.

The events come over ComfyUI's websocket (`GET /ws?clientId=<the client_id POSTed with the prompt>`); each
text message is `{"type": event, "data": {...}}` (server.py send_json). The shapes, ComfyUI 0.3.64:
- `status` {"status": {"exec_info": {"queue_remaining": n}}, "sid"?}: on connect and on queue changes;
- `execution_start` / `execution_success` {"prompt_id", "timestamp"} (execution.py add_message);
- `execution_cached` {"nodes": [ids], "prompt_id", "timestamp"}: nodes whose result is reused, not run;
- `executing` {"node", "display_node", "prompt_id"} as each node starts; {"node": null, "prompt_id"} once
  the prompt is done (main.py prompt_worker);
- `progress` {"value", "max", "prompt_id", "node"} per sampler step (main.py hijack_progress) and
  `progress_state` {"prompt_id", "nodes": {id: {value, max, state, node_id, ...}}} (comfy_execution/progress);
- `executed` {"node", "display_node", "output", "prompt_id"} when an output node wrote its ui;
- `execution_error` / `execution_interrupted` {"prompt_id", "node_id", "node_type", "executed", ...}.
Binary messages are previews and are ignored.

A node's seconds run from its `executing` to the next node's (or to the end of the prompt); they are taken
on this side, at receipt, so they include the network's latency (milliseconds on one host). ComfyUI loads
weights lazily: a loader node reads the file, the sampler that first uses the model moves it to the GPU -
that part of "model load" is counted in the sampler's seconds.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from wanprov.bounded_http import Deadline, DeadlineExceeded, within

# class_type -> stage. Loaders read weights; samplers are reported one by one (`sampler_<node id>`).
STAGES = {
    "model_load": {
        "UnetLoaderGGUF",
        "UNETLoader",
        "CLIPLoader",
        "CLIPLoaderGGUF",
        "DualCLIPLoader",
        "DualCLIPLoaderGGUF",
        "VAELoader",
        "LoraLoader",
        "LoraLoaderModelOnly",
        "CLIPVisionLoader",
        "CheckpointLoaderSimple",
    },
    "text_encode": {"CLIPTextEncode", "CLIPTextEncodeFlux"},
    "sampler": {"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"},
    "vae_decode": {"VAEDecode", "VAEDecodeTiled"},
    "interpolation": {"RIFE VFI", "FILM VFI"},
    "encode": {"VHS_VideoCombine", "SaveImage", "SaveVideo", "SaveAnimatedWEBP"},
}
_STAGE_OF = {cls: stage for stage, classes in STAGES.items() for cls in classes}
END_EVENTS = {"execution_success", "execution_error", "execution_interrupted"}


@dataclass(frozen=True)
class Event:
    at: float  # seconds on the smoke's clock when it arrived
    type: str
    data: dict[str, Any]


def parse_message(text: str | bytes, at: float) -> Event | None:
    """One websocket message as an Event; None for a binary preview or anything not shaped like ComfyUI's."""
    if isinstance(text, bytes):
        return None
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return None
    data = message.get("data")
    return Event(at, message["type"], data if isinstance(data, dict) else {})


@dataclass
class NodeTime:
    node_id: str
    class_type: str
    stage: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Timeline:
    """Per-node and per-stage seconds of one prompt, from its events."""

    nodes: list[NodeTime] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    steps: dict[str, int] = field(default_factory=dict)  # sampler node -> the last step's `max`
    events: int = 0
    ended: str | None = None  # the event that ended the prompt

    @property
    def stages(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for node in self.nodes:
            out[node.stage] = round(out.get(node.stage, 0.0) + node.seconds, 3)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "stages": self.stages,
            "nodes": [n.to_dict() for n in self.nodes],
            "cached": self.cached,
            "sampler_steps": self.steps,
            "events": self.events,
            "ended_by": self.ended,
        }


def stage_of(node_id: str, class_type: str) -> str:
    stage = _STAGE_OF.get(class_type, "other")
    return f"sampler_{node_id}" if stage == "sampler" else stage


def timeline(events: Iterable[Event], prompt_id: str, prompt: dict[str, Any]) -> Timeline:
    """The seconds of each node of `prompt_id`'s run, from its `executing` events to the end of the prompt."""
    out = Timeline()
    current: tuple[str, float] | None = None

    def close(at: float) -> None:
        if current is None:
            return
        node_id, started = current
        class_type = str((prompt.get(node_id) or {}).get("class_type", "?"))
        out.nodes.append(NodeTime(node_id, class_type, stage_of(node_id, class_type), round(at - started, 3)))

    for event in events:
        if event.data.get("prompt_id") not in (prompt_id, None) or event.type == "status":
            continue
        out.events += 1
        if event.type == "execution_cached":
            out.cached = [str(n) for n in event.data.get("nodes") or []]
        elif event.type == "executing":
            close(event.at)
            node = event.data.get("node")
            current = (str(node), event.at) if node is not None else None
            if node is None:
                out.ended = out.ended or "executing"
        elif event.type == "progress" and event.data.get("node") is not None:
            out.steps[str(event.data["node"])] = int(event.data.get("max") or 0)
        elif event.type in END_EVENTS:
            close(event.at)
            current = None
            out.ended = event.type
    return out


def ws_url(base: str, client_id: str) -> str:
    """ComfyUI's websocket for `client_id` on the server at http(s) URL `base`."""
    parts = urllib.parse.urlsplit(base.rstrip("/"))
    scheme = "wss" if parts.scheme == "https" else "ws"
    query = urllib.parse.urlencode({"clientId": client_id})
    return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path + "/ws", query, ""))


class EventStream:
    """Reads the websocket in a thread until closed; `events` grows as messages arrive.

    Opened before the POST, so no event of the run is missed. A server that refuses the websocket (a proxy
    without upgrade support), or does not finish the handshake within CONNECT_S, leaves `error` set and the
    run is still judged by /history. Every step on the caller's side ends by `deadline` (the smoke's wall
    time): the handshake runs under it (websocket-client's timeout is per recv, so a server that trickles
    the handshake would hold it for ever) and raises DeadlineExceeded when the deadline itself ran out; the
    reader's receives are woken by shutting the socket down on close."""

    CONNECT_S = 10.0

    def __init__(
        self, base: str, client_id: str, clock: Callable[[], float], deadline: Deadline | None = None
    ) -> None:
        self.events: list[Event] = []
        self.error: str | None = None
        self._clock = clock
        self._stop = threading.Event()
        self._ws: Any = None
        self._thread: threading.Thread | None = None
        self._deadline = deadline or Deadline(self.CONNECT_S)
        import websocket  # websocket-client; deferred: only the smoke listens

        ws = websocket.WebSocket()
        share = self._deadline.clipped(self.CONNECT_S)
        what = f"opening the progress websocket {base}/ws"
        try:
            within(
                share,
                lambda: ws.connect(ws_url(base, client_id), timeout=max(share.remaining(), 0.001)),
                what,
                on_expiry=lambda: _shut(ws),
            )
        except DeadlineExceeded as exc:
            if self._deadline.expired():
                raise  # the whole wall time went on the handshake: the caller cannot go on
            self.error = f"no progress events: {exc.message}"
            return
        except (OSError, websocket.WebSocketException) as exc:
            self.error = f"no progress events: the websocket at {base}/ws did not open ({exc})"
            return
        self._ws = ws
        self._ws.settimeout(0.2)
        self._thread = threading.Thread(target=self._read, name="comfyui-events", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        import websocket

        while not self._stop.is_set():
            try:
                message = self._ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (OSError, websocket.WebSocketException) as exc:
                if not self._stop.is_set():
                    self.error = f"the progress websocket closed during the run ({exc})"
                return
            event = parse_message(message, self._clock())
            if event is not None:
                self.events.append(event)

    def ended(self, prompt_id: str) -> bool:
        return any(e.type in END_EVENTS and e.data.get("prompt_id") == prompt_id for e in list(self.events))

    def wait_for_end(self, prompt_id: str, timeout: float = 2.0) -> None:
        """Give the reader a moment (never past the deadline) to take the run's last events off the socket."""
        until = time.monotonic() + min(timeout, self._deadline.remaining())
        while self._thread is not None and self._thread.is_alive() and time.monotonic() < until:
            if self.ended(prompt_id):
                return
            time.sleep(0.02)

    def close(self) -> None:
        """Say goodbye (a close frame, not waited for) and shut the socket: a reader blocked in a receive
        wakes at once, whatever the server sends."""
        self._stop.set()
        if self._ws is not None:
            import websocket

            with contextlib.suppress(OSError, websocket.WebSocketException):  # the server may have gone
                self._ws.send_close()
            _shut(self._ws)
        if self._thread is not None:
            self._thread.join(timeout=1.0)


def _shut(ws: Any) -> None:
    """Shut a websocket's socket down, even mid-handshake (websocket-client's abort() only acts once
    connected): a thread blocked in its recv gets an error at once."""
    sock = getattr(ws, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()
