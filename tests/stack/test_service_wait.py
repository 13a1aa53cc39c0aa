"""`wanprov stack wait`: answers end the wait; a service that exits or restarts ends it at once, with the
tail of its log (the comfyui role's `process` supervisor starting the ComfyUI double that dies at start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from wanprov.commands.stack import wait_command
from wanprov.errors import NetworkError
from wanprov.exit_codes import ExitCode
from wanprov.stack.service_wait import ServiceDownError, process_watch, wait_for_service

REPO = Path(__file__).resolve().parents[2]
SUPERVISOR = REPO / "cli/wanprov/service/supervise.py"
DOUBLE = REPO / "tests/doubles/comfyui_app"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(tmp_path: Path, port: int, env: dict[str, str]) -> Path:
    spec = {
        "argv": [sys.executable, str(DOUBLE / "main.py"), "--listen", "127.0.0.1", "--port", str(port)],
        "cwd": str(DOUBLE),
        "user": "root" if os.getuid() == 0 else os.environ.get("USER", ""),
        "group": None,
        "env": {"PYTHONPATH": str(DOUBLE), **env},
        "pidfile": str(tmp_path / "comfyui.pid"),
        "logfile": str(tmp_path / "comfyui.log"),
    }
    path = tmp_path / "comfyui-launch.json"
    path.write_text(json.dumps(spec))
    return path


def test_a_service_that_dies_at_start_fails_the_wait_with_its_log(tmp_path):
    port = _free_port()
    why = "RuntimeError: Could not load this library: .../_torchaudio.so (wanprov test)"
    launch = _launch(tmp_path, port, {"COMFYUI_DOUBLE_DIE_AT_START": why})
    subprocess.run([sys.executable, str(SUPERVISOR), "start", str(launch)], check=True, capture_output=True)
    args = ["--url", f"http://127.0.0.1:{port}/system_stats", "--pidfile", str(tmp_path / "comfyui.pid"),
            "--log", str(tmp_path / "comfyui.log"), "--timeout", "60", "--interval", "0.2"]  # fmt: skip
    result = CliRunner().invoke(wait_command, [*args, "--format", "json"], standalone_mode=False)
    # 11, not 5: it stopped because the process was gone, not because 60 s passed
    assert isinstance(result.exception, ServiceDownError), result.output
    assert result.exception.exit_code == ExitCode.SERVICE_DOWN == 11
    assert "exited before answering" in result.exception.message
    assert why in result.exception.message  # the reason, from the service's log


class _Stats(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Stats)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/system_stats"
    httpd.shutdown()


def test_an_answer_ends_the_wait(tmp_path, server):
    (tmp_path / "pid").write_text(f"{os.getpid()}\n")
    result = wait_for_service(server, process_watch(tmp_path / "pid", tmp_path / "log"), timeout_s=5)
    assert result["answered"] is True and result["process"] == str(os.getpid())


def test_a_restart_while_waiting_fails_the_wait(tmp_path):
    sleepers = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(2)]
    try:
        pidfile = tmp_path / "pid"
        pidfile.write_text(f"{sleepers[0].pid}\n")
        (tmp_path / "log").write_text("starting\nSegmentation fault (core dumped)\n")

        def restart(_seconds: float) -> None:  # the supervisor put another process in its place
            pidfile.write_text(f"{sleepers[1].pid}\n")

        url = f"http://127.0.0.1:{_free_port()}/system_stats"  # nothing listens
        with pytest.raises(ServiceDownError, match="restarted") as caught:
            wait_for_service(url, process_watch(pidfile, tmp_path / "log"), timeout_s=60, sleep=restart)
        assert "Segmentation fault" in caught.value.message
    finally:
        for proc in sleepers:
            proc.kill()
            proc.wait()


def test_a_live_service_that_never_answers_times_out(tmp_path):
    (tmp_path / "pid").write_text(f"{os.getpid()}\n")
    ticks = iter(range(100))
    url = f"http://127.0.0.1:{_free_port()}/system_stats"
    with pytest.raises(NetworkError, match="did not answer"):
        wait_for_service(
            url, process_watch(tmp_path / "pid", tmp_path / "log"), timeout_s=3, sleep=lambda _s: None,
            clock=lambda: float(next(ticks)),
        )  # fmt: skip


def test_wait_needs_one_way_to_watch():
    result = CliRunner().invoke(wait_command, ["--url", "http://127.0.0.1:1/"], standalone_mode=False)
    assert "either --unit" in str(result.exception)


def test_systemd_restart_fails_the_wait_with_the_journal(tmp_path, monkeypatch):
    """Restart=on-failure brings a crashed unit back: MainPID and NRestarts change, and the wait says so."""
    from wanprov.stack.service_wait import systemd_watch

    state = tmp_path / "state"
    state.write_text("ActiveState=activating\nMainPID=4242\nNRestarts=0\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(f"#!/bin/sh\ncat {state}\n")
    (bin_dir / "journalctl").write_text(
        '#!/bin/sh\n[ "$2" = comfyui ] || exit 1\n'
        'echo "ImportError: libcudart.so.13: cannot open shared object"\n'
    )
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def crash_and_restart(_seconds: float) -> None:
        state.write_text("ActiveState=activating\nMainPID=4343\nNRestarts=1\n")

    url = f"http://127.0.0.1:{_free_port()}/system_stats"
    with pytest.raises(ServiceDownError, match="restarted") as caught:
        wait_for_service(url, systemd_watch("comfyui"), timeout_s=60, sleep=crash_and_restart)
    assert "libcudart.so.13" in caught.value.message
