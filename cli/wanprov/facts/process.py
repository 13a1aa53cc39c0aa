"""Run a probe command with a timeout; never raises (probes report "unknown, because ..." instead)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    returncode: int | None  # None: the command did not run to completion (missing, timed out)
    stdout: str
    stderr: str
    error: str | None = None  # why it did not run, for the "unknown" reason

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run(argv: list[str], *, timeout: float, env: dict[str, str] | None = None) -> Result:
    """Run `argv` (no shell) and capture its text output; a missing binary or a timeout is a Result."""
    executable = argv[0] if os.sep in argv[0] else shutil.which(argv[0])
    if executable is None:
        return Result(None, "", "", error=f"{argv[0]} not found on PATH")
    try:
        completed = subprocess.run(
            [executable, *argv[1:]],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Result(None, "", "", error=f"{argv[0]} did not answer within {timeout:g} s")
    except OSError as exc:
        return Result(None, "", "", error=f"{argv[0]} could not start: {exc.strerror or exc}")
    return Result(completed.returncode, completed.stdout, completed.stderr)


def unknown(reason: str, **fields: object) -> dict[str, object]:
    """The shape of a probe that could not find out: status "unknown" and the reason why."""
    return {"status": "unknown", "reason": reason, **fields}
