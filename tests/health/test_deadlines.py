"""`--timeout` is wall time: a server that trickles its answers, or sends one without end, from /system_stats,
/object_info or /history, cannot hold `health check` or the smoke past their deadline (exit 5, or the
smoke's timed_out); every answer is read incrementally and size-capped.

Before, requests' timeout was per recv: one byte a second held the check for ever, and an endless body was
read into memory until the host ran out of it."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

from wanprov.bounded_http import BodyTooLarge, Deadline, DeadlineExceeded, request
from wanprov.commands.health import check_command
from wanprov.errors import NetworkError
from wanprov.exit_codes import ExitCode
from wanprov.workflows.smoke import TIMED_OUT, run_smoke

STATS = json.dumps({"system": {"comfyui_version": "0.3.64"}, "devices": []}).encode()
DONE = {
    "status": {"status_str": "success", "completed": True, "messages": []},
    "outputs": {"1": {"images": [{"filename": "a.png", "subfolder": "", "type": "output"}]}},
}
SAVE_IMAGE = {"1": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}}}


class _Hostile(http.server.BaseHTTPRequestHandler):
    """Answers each path as `modes` says: `ok` (a JSON body), `endless` (bytes without end, fast),
    `trickle` (a byte a second), `silent` (takes the request, never answers: a websocket handshake or a
    GET left hanging) or `trickle_head` (a status line, then one header line a byte a second, never
    ended: what websocket-client's per-recv timeout cannot cut). `done`: /history says the prompt wrote
    one image."""

    protocol_version = "HTTP/1.1"
    modes: ClassVar[dict[str, str]] = {}
    stop = threading.Event()

    def _mode(self) -> str:
        return next((m for prefix, m in self.modes.items() if self.path.startswith(prefix)), "ok")

    def _answer(self) -> None:
        if self.headers.get("Content-Length"):
            self.rfile.read(int(self.headers["Content-Length"]))
        mode = self._mode()
        body = STATS if self.path.startswith("/system_stats") else b"{}"
        if self.path.startswith("/prompt"):
            body = json.dumps({"prompt_id": "p1", "number": 1, "node_errors": {}}).encode()
        if self.path.startswith("/history") and "done" in self.modes.values():
            body = json.dumps({"p1": DONE}).encode()
        if mode in ("silent", "trickle_head"):
            self._hang(mode)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if mode in ("ok", "done"):
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_header("Connection", "close")
        self.end_headers()  # no length: the body ends when the server closes, i.e. never
        piece = b" " * (64 << 10) if mode == "endless" else b" "
        try:
            while not self.stop.is_set():
                self.wfile.write(piece)
                self.wfile.flush()
                if mode == "trickle":
                    self.stop.wait(1.0)
        except OSError:
            pass  # the client gave up: what it should do

    def _hang(self, mode: str) -> None:
        try:
            if mode == "trickle_head":
                self.wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nX-Slow: ")
                self.wfile.flush()
            while not self.stop.is_set():
                if mode == "trickle_head":
                    self.wfile.write(b"a")
                    self.wfile.flush()
                self.stop.wait(0.5)
        except OSError:
            pass  # the client gave up
        self.close_connection = True

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hostile() -> Iterator[tuple[str, dict[str, str]]]:
    modes: ClassVar[dict[str, str]] = {}
    stop = threading.Event()
    handler = type("Handler", (_Hostile,), {"modes": modes, "stop": stop})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", modes
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def _health(url: str, tmp_path: Path, timeout: str) -> tuple[int, dict]:
    pidfile, log = tmp_path / "comfyui.pid", tmp_path / "comfyui.log"
    pidfile.write_text("1\n")  # a running process (init) stands for the service
    log.write_text("")
    args = ["--url", url, "--workflows-dir", str(tmp_path), "--pidfile", str(pidfile), "--log", str(log)]
    result = CliRunner().invoke(
        check_command, [*args, "--timeout", timeout, "--interval", "0.2", "--format", "json"],
        standalone_mode=False,
    )  # fmt: skip
    assert result.exception is None, result.output
    return result.return_value, json.loads(result.output)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", ["/system_stats", "/object_info"])
@pytest.mark.parametrize("mode", ["endless", "trickle"])
def test_health_check_ends_within_its_timeout(hostile, tmp_path: Path, path: str, mode: str) -> None:
    url, modes = hostile
    modes[path] = mode
    code, document = _health(url, tmp_path, "2")
    assert code == ExitCode.NETWORK == document["exit_code"], document
    assert document["ok"] is False and document["error"].startswith("does not answer")


@pytest.mark.timeout(60)
def test_the_smoke_times_out_on_a_trickling_history_at_its_wall_time(hostile) -> None:
    url, modes = hostile
    modes["/history"] = "trickle"
    report = run_smoke(url, {"1": {"class_type": "SaveImage", "inputs": {}}}, timeout=2, poll=0.1)
    assert report.status == TIMED_OUT and report.error and report.error["type"] == "timed_out"


@pytest.mark.timeout(60)
def test_the_smoke_refuses_an_endless_history(hostile, monkeypatch) -> None:
    url, modes = hostile
    modes["/history"] = "endless"
    monkeypatch.setattr("wanprov.workflows.smoke.ANSWER_MAX_BYTES", 4 << 20)  # the same rule, sooner
    with pytest.raises(NetworkError, match="answered more than"):
        run_smoke(url, {"1": {"class_type": "SaveImage", "inputs": {}}}, timeout=30, poll=0.1)


@pytest.mark.timeout(60)
def test_a_bounded_request_ends_at_its_deadline_or_cap(hostile) -> None:
    url, modes = hostile
    modes["/slow"] = "trickle"
    modes["/big"] = "endless"
    with pytest.raises(DeadlineExceeded):
        request("GET", url + "/slow", deadline=Deadline(0.5))
    with pytest.raises(BodyTooLarge):
        request("GET", url + "/big", deadline=Deadline(30), max_bytes=1 << 20)
    assert request("GET", url + "/system_stats", deadline=Deadline(5)).json()["system"]


# ---- every network step of the smoke gets what is left of --timeout, the websocket and /view included ----
# Before, the websocket's handshake had its own 10 s (and, trickled, no end at all: websocket-client's
# timeout is per recv) and each /view download its own 600 s. Each test checks which rule ended the call:
# the network exit code and the message naming the step and the smoke's --timeout.


@pytest.mark.timeout(60)
def test_a_websocket_that_never_answers_its_handshake_ends_the_smoke_at_its_timeout(hostile) -> None:
    from hostile.hostile_cli import invoke

    url, modes = hostile
    modes["/ws"] = "silent"
    result = invoke("workflow", "smoke", "flux1-schnell", "--url", url, "--timeout", "2", "--format", "json")
    document = result.json()
    assert result.code == ExitCode.NETWORK == document["exit_code"], result
    assert document["error"] == "deadline_exceeded", document
    assert "opening the progress websocket" in document["message"], document
    assert "workflow smoke --timeout of 2 s" in document["message"], document
    assert "--timeout" in document["hint"]


@pytest.mark.timeout(60)
def test_a_trickled_websocket_handshake_ends_the_smoke_at_its_timeout(hostile) -> None:
    url, modes = hostile
    modes["/ws"] = "trickle_head"
    with pytest.raises(DeadlineExceeded, match=r"progress websocket .* workflow smoke --timeout of 2 s"):
        run_smoke(url, SAVE_IMAGE, timeout=2, poll=0.1)


@pytest.mark.timeout(60)
def test_a_websocket_slower_than_its_share_leaves_the_run_to_the_history(hostile, monkeypatch) -> None:
    """A handshake that takes longer than its share (CONNECT_S) of a longer --timeout costs the events,
    not the smoke: the run goes on and is judged by /history (here: a trickled history, so timed out)."""
    url, modes = hostile
    modes["/ws"] = "silent"
    modes["/history"] = "trickle"
    monkeypatch.setattr("wanprov.workflows.progress.EventStream.CONNECT_S", 0.5)
    report = run_smoke(url, SAVE_IMAGE, timeout=6, poll=0.1)
    assert report.status == TIMED_OUT, report
    assert report.events_error and "no complete answer within 0.5 s" in report.events_error


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["silent", "trickle"])
def test_a_view_download_gets_only_what_is_left_of_the_smoke_timeout(hostile, mode: str) -> None:
    url, modes = hostile
    modes["/history"] = "done"  # at once (the websocket is refused: no events, judged by /history)
    modes["/view"] = mode
    with pytest.raises(DeadlineExceeded, match=r"GET .*/view.* workflow smoke --timeout of 2 s"):
        run_smoke(url, SAVE_IMAGE, timeout=2, poll=0.1, limit="workflow smoke --timeout")


@pytest.mark.timeout(60)
def test_health_check_names_its_timeout_when_object_info_never_answers(hostile, tmp_path: Path) -> None:
    url, modes = hostile
    modes["/object_info"] = "silent"
    code, document = _health(url, tmp_path, "2")
    assert code == ExitCode.NETWORK == document["exit_code"], document
    assert "health check --timeout of 2 s" in document["error"], document


def test_stack_wait_never_sleeps_or_probes_past_its_timeout(tmp_path: Path) -> None:
    """`stack wait --timeout 1 --interval 5`: the pause between probes is cut to what is left (before: the
    full interval, and a probe of max(1, interval) seconds, past --timeout)."""
    from wanprov.stack.service_wait import process_watch, wait_for_service

    (tmp_path / "pid").write_text("1\n")
    (tmp_path / "log").write_text("")
    now = [0.0]
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += seconds

    with pytest.raises(NetworkError, match="did not answer"):
        wait_for_service(
            "http://127.0.0.1:9/system_stats",  # nothing listens: each probe fails at once
            process_watch(tmp_path / "pid", tmp_path / "log"),
            timeout_s=1,
            interval_s=5,
            sleep=sleep,
            clock=lambda: now[0],
        )
    assert pauses and max(pauses) <= 1, pauses
