"""Run the real `wanprov doctor` CLI in a subprocess (as users and Ansible do).

On a fake host the doctor measures free disk on the host's own disk (its spec's `disk_gib`, doubles/disk.py),
not on this machine's: the verdicts do not change with what the build machine has free."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from doubles import disk
from doubles.gpu import TARGET_PYTHON  # the target interpreter, deliberately *not* wanprov's

WANPROV = [sys.executable, "-m", "wanprov"]
__all__ = ["TARGET_PYTHON", "WANPROV", "run_doctor"]


def _measured_at(args: list[str], cwd: Path) -> Path:
    """Where the doctor measures free disk: --models-dir, else COMFYUI_DIR/models, else its working folder."""
    for option, below in (("--models-dir", ""), ("--comfyui-dir", "models")):
        if option in args:
            return Path(args[args.index(option) + 1]) / below
    return cwd


def run_doctor(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = [*WANPROV, "doctor", *args]
    host = (env or {}).get("WANPROV_FAKE_GPU_HOST")
    with tempfile.TemporaryDirectory(prefix="wanprov-doctor-cwd-") as cwd:
        if host and "--facts" not in args:
            size = json.loads(Path(host).read_text())["spec"]["disk_gib"]
            argv = disk.on_disk(argv, _measured_at(args, Path(cwd)), size)
        return subprocess.run(
            argv,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
