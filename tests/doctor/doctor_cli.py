"""Run the real `wanprov doctor` CLI in a subprocess (as users and Ansible do)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WANPROV = [sys.executable, "-m", "wanprov"]
# The target interpreter is deliberately *not* wanprov's: the system python3 when there is one.
TARGET_PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable


def run_doctor(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WANPROV, "doctor", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
