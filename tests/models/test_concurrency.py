"""Runs that are killed, interrupted or doubled: resume instead of restart, and no corruption."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from doubles.hub import Fault
from interactive_signals import sigint_default
from models.conftest import REPO, Hub

STALL_AT = 1_000_000


def _spawn(hub: Hub, models: Path, *extra: str) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "wanprov", "fetch-models", "--profile", "test-profile",
        "--manifest", str(hub.manifest), "--models-dir", str(models), *extra,
    ]  # fmt: skip
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ,
        preexec_fn=sigint_default,  # Ctrl-C reaches it even when this suite runs as a background job
    )  # fmt: skip


def _wait_for_part(models: Path, size: int, proc: subprocess.Popen) -> Path:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for part in models.glob("unet/.wanprov-partial/model-high.gguf.*.part"):
            if part.stat().st_size >= size:
                return part
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("the part file never reached the stall point")


def _resume_and_check(wanprov, hub: Hub, models: Path) -> None:
    hub.server.faults.clear()
    hub.server.release.set()  # free the stalled server thread
    hub.server.requests.clear()
    result = wanprov(
        "fetch-models", "--profile", "test-profile", "--manifest", str(hub.manifest),
        "--models-dir", str(models), "--only", "unet-high",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert (models / "unet" / "model-high.gguf").read_bytes() == hub.content["unet-high"]
    assert [r["range"] for r in hub.gets("model-high")] == [f"bytes={STALL_AT}-"]  # resumed, not restarted
    assert list(models.rglob("*.part")) == []


def test_killed_run_resumes_where_it_stopped(wanprov, hub: Hub, tmp_path: Path) -> None:
    hub.server.faults[f"{REPO}/HighNoise/model-high.gguf"] = Fault(stall_after=STALL_AT)
    models = tmp_path / "models"
    proc = _spawn(hub, models, "--only", "unet-high")
    part = _wait_for_part(models, STALL_AT, proc)
    proc.kill()
    proc.wait(timeout=10)
    assert not (models / "unet" / "model-high.gguf").exists()  # never a partial file under the final name
    assert part.stat().st_size == STALL_AT
    _resume_and_check(wanprov, hub, models)


def test_ctrl_c_exits_130_and_keeps_the_part(wanprov, hub: Hub, tmp_path: Path) -> None:
    hub.server.faults[f"{REPO}/HighNoise/model-high.gguf"] = Fault(stall_after=STALL_AT)
    models = tmp_path / "models"
    proc = _spawn(hub, models, "--only", "unet-high")
    part = _wait_for_part(models, STALL_AT, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert part.stat().st_size == STALL_AT
    _resume_and_check(wanprov, hub, models)


def test_two_runs_on_one_folder_at_once(hub: Hub, tmp_path: Path) -> None:
    models = tmp_path / "models"
    hub.server.faults[f"{REPO}/HighNoise/model-high.gguf"] = Fault(stall_after=STALL_AT)
    first = _spawn(hub, models, "--jobs", "2")
    _wait_for_part(models, STALL_AT, first)
    second = _spawn(hub, models, "--jobs", "2")  # starts while the first holds model-high's lock
    time.sleep(0.5)
    hub.server.faults.clear()
    hub.server.release.set()
    for proc in (first, second):
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    for file_id, folder, name in (
        ("unet-high", "unet", "model-high.gguf"),
        ("vae", "vae", "vae.safetensors"),
    ):
        assert (models / folder / name).read_bytes() == hub.content[file_id]
    # every file crossed the wire once (plus the resume of the stalled one), never twice in full
    for fragment in ("model-low", "vae.safetensors", "high_noise_model"):
        assert len(hub.gets(fragment)) == 1, fragment
    assert list(models.rglob("*.part")) == []
