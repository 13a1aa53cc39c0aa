"""The README's quickstart is a contract: its one command, run as written in a fresh clone, sets up wanprov
and runs the main job. Here (the GPU double of a machine without an NVIDIA GPU) that is NOT READY, exit 1,
as the README says. Slow: a real venv and `pip install` (from the package index pip is configured with)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from doc_blocks import REPO_ROOT, command_blocks, fresh_clone

from doubles.gpu import install_fake_host

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_readme_quickstart_sets_up_and_judges_this_host(tmp_path: Path) -> None:
    (block,) = [b for b in command_blocks() if b.marker_arg == "tests/docs/test_quickstart.py"]
    assert block.path == REPO_ROOT / "README.md"
    (command, _expected), *more = block.commands()
    assert more == [] and "wanprov doctor" in command
    clone = fresh_clone(tmp_path / "wanprov")
    gpu = install_fake_host(tmp_path / "gpu", "no_gpu")
    env = {**os.environ, **gpu, "HOME": str(tmp_path)}
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.run(
        ["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True, timeout=540, check=False
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("NOT READY: ")
    assert "FAIL  gpu_detected" in proc.stdout
    readme = (REPO_ROOT / "README.md").read_text()
    assert "A machine\nwithout an NVIDIA GPU answers `NOT READY`, exit 1" in readme
