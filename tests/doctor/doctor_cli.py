"""Run the real `wanprov doctor` CLI in a subprocess (as users and Ansible do)."""

from __future__ import annotations

import os
import subprocess
import sys

from doubles.gpu import TARGET_PYTHON  # the target interpreter, deliberately *not* wanprov's

WANPROV = [sys.executable, "-m", "wanprov"]
__all__ = ["TARGET_PYTHON", "WANPROV", "run_doctor"]


def run_doctor(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WANPROV, "doctor", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
