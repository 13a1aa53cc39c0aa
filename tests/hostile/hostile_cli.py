"""Run the real CLI entry (run_guarded: the one handler of errors and exit codes) in-process, and read what
a caller would see. In-process so property tests can afford a hundred runs."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from typing import Any

from wanprov.commands.output import run_guarded
from wanprov.commands.root import cli
from wanprov.exit_codes import ExitCode

DOCUMENTED = {int(code) for code in ExitCode}


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        """The one JSON document on stdout (fails the test when there is not exactly one)."""
        return json.loads(self.out)


def invoke(*args: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run_guarded(cli, list(args))
    return Result(int(code), out.getvalue(), err.getvalue())


def assert_clean_failure(result: Result, *, json_format: bool, allowed: set[int] | None = None) -> None:
    """The property every hostile input must keep: a documented exit code, one clear message (exactly one
    JSON error document under --format json), never a traceback, never an 'unexpected error' (a bug)."""
    assert result.code in (allowed or DOCUMENTED), result
    assert "Traceback" not in result.out + result.err, result
    assert "unexpected error" not in result.out + result.err, result
    if json_format:
        document = result.json()
        if result.code not in (ExitCode.OK, ExitCode.CHECK_FAILED, ExitCode.PENDING):
            assert set(document) == {"error", "message", "hint", "exit_code"}, document
            assert document["exit_code"] == result.code
            assert document["message"]
    elif result.code not in (ExitCode.OK, ExitCode.CHECK_FAILED, ExitCode.PENDING):
        assert result.err.strip(), result
