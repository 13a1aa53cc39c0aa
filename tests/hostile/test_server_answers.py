"""Wrong shapes are data errors: whatever a server answers (any JSON, not JSON, an escape-laden string),
`health check` and `workflow check --object-info URL` end in a documented code with their own document -
never "unexpected error" - and nothing of the answer reaches the terminal raw."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hostile_cli import assert_clean_failure, invoke
from hostile_strategies import VALUES
from hypothesis import given
from hypothesis import strategies as st

from wanprov.exit_codes import ExitCode

ANSWER: dict[str, bytes] = {}


class Answers(BaseHTTPRequestHandler):
    """Every GET answers 200 with the body set for its path (the test sets them per example)."""

    def do_GET(self) -> None:
        body = ANSWER.get(self.path.split("?")[0], ANSWER.get("*", b"{}"))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.do_GET()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


BODIES = st.one_of(
    VALUES.map(lambda value: json.dumps(value).encode()),
    st.sampled_from(
        [
            b"",
            b"not json",
            b'{"system": {"comfyui_version": "\\u001b]0;owned\\u0007\\nFLEET OK"}, "devices": "x"}',
            b'{"a": 1, "a": 2}',
            b"[" * 3000 + b"]" * 3000,
            b'{"KSampler": {"input": "x"}}',
            b'{"KSampler": {"input": {"required": {"seed": "INT"}}, "output": 5}}',
            b"\xff\xfe",
        ]
    ),
)


def _process_files(tmp_path: Path) -> list[str]:
    (tmp_path / "svc.pid").write_text(f"{os.getpid()}\n")  # a live process stands for the service
    (tmp_path / "svc.log").write_text("")
    return ["--pidfile", str(tmp_path / "svc.pid"), "--log", str(tmp_path / "svc.log")]


@given(stats=BODIES, object_info=BODIES, json_format=st.booleans())
def test_health_check_of_any_answer_is_a_documented_outcome(
    server, tmp_path_factory, stats, object_info, json_format
) -> None:
    tmp_path = tmp_path_factory.mktemp("h")
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "w.api.json").write_text(
        '{"1": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}}}'
    )
    ANSWER.clear()
    ANSWER.update({"/system_stats": stats, "/object_info": object_info})
    fmt = ("--format", "json") if json_format else ()
    result = invoke(
        "health", "check", "--url", server, "--workflows-dir", str(workflows), "--timeout", "2",
        "--interval", "0.1", *_process_files(tmp_path), *fmt,
    )  # fmt: skip
    assert "unexpected error" not in result.out + result.err, result
    assert "Traceback" not in result.out + result.err, result
    assert "\x1b" not in result.out + result.err and "\x07" not in result.out + result.err
    assert result.code in {int(code) for code in ExitCode}, result
    if json_format:
        document = result.json()
        assert document.get("schema") == "wanprov.instance-health/2" or set(document) == {
            "error", "message", "hint", "exit_code",
        }, document  # fmt: skip


@given(object_info=BODIES, json_format=st.booleans())
def test_workflow_check_against_any_object_info_answer_is_a_documented_outcome(
    server, tmp_path_factory, object_info, json_format
) -> None:
    tmp_path = tmp_path_factory.mktemp("c")
    (tmp_path / "w.json").write_text('{"1": {"class_type": "KSampler", "inputs": {"seed": 1}}}')
    ANSWER.clear()
    ANSWER["*"] = object_info
    fmt = ("--format", "json") if json_format else ()
    result = invoke("workflow", "check", str(tmp_path / "w.json"), "--object-info", server, *fmt)
    assert_clean_failure(result, json_format=json_format)
    assert "\x1b" not in result.out + result.err


@given(prompt=BODIES, history=BODIES, queue=BODIES, json_format=st.booleans())
def test_workflow_smoke_against_any_answer_is_a_documented_outcome(
    server, prompt, history, queue, json_format
) -> None:
    ANSWER.clear()
    ANSWER.update({"/prompt": prompt, "/queue": queue, "*": history, "/upload/image": b'{"name": "x.png"}'})
    fmt = ("--format", "json") if json_format else ()
    result = invoke(
        "workflow", "smoke", "flux1-schnell", "--url", server, "--tier", "large", "--timeout", "1",
        "--poll", "0.05", *fmt,
    )  # fmt: skip
    assert "unexpected error" not in result.out + result.err, result
    assert "Traceback" not in result.out + result.err, result
    assert "\x1b" not in result.out + result.err
    assert result.code in {int(code) for code in ExitCode}, result
