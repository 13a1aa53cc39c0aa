"""scripts/fleet-demo's teardown of a fleet left running by `--keep`: from pid files alone, in a process
that did not start it. (A full `fleet-demo` run is a whole three-host converge, ~1-2 minutes on 2 cores:
test_site.py already converges the same fleet, so the demo itself is not run here.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from doubles.fleet import Fleet, HostSpec
from fleet.fleet_setup import stop_by_pidfiles

pytestmark = [pytest.mark.fleet]

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "fleet-demo"


def test_stop_by_pidfiles_ends_sshd_and_service_and_removes_the_folder(tmp_path):
    base = tmp_path / "demo"
    fleet = Fleet.start(base / "fleet", [HostSpec("gpu-a")])
    sshd = fleet.hosts["gpu-a"].process
    data_dir = fleet.hosts["gpu-a"].root / "var" / "lib" / "comfyui" / "gpu0"  # GPU 0's instance
    data_dir.mkdir(parents=True)
    # Stands in for the ComfyUI service the role's supervisor starts (its own session, a pid file).
    service = subprocess.Popen(["sleep", "300"], start_new_session=True)
    (data_dir / "comfyui.pid").write_text(f"{service.pid}\n")
    try:
        stop_by_pidfiles(base)
        assert service.wait(timeout=10) != 0  # ended by a signal
        assert sshd is not None and sshd.wait(timeout=10) is not None
        assert not base.exists()
    finally:
        service.kill()
        fleet.stop()


def test_stop_refuses_a_folder_that_is_no_demo(tmp_path):
    done = subprocess.run(
        [sys.executable, str(DEMO), "--stop", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "not a fleet-demo folder" in done.stderr
    assert tmp_path.exists()
