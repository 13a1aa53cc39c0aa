"""Runs the real `wanprov` CLI in a subprocess, as a user would (shared by the workflow tests)."""

from __future__ import annotations

import os
import subprocess
import sys


def run_wanprov(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wanprov", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_workflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`wanprov workflow ARGS...`."""
    return run_wanprov("workflow", *args, env=env)
