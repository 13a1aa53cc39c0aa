"""fetch-models in a models folder someone else may write: planted links, FIFOs and folders at every name it
touches, a partial folder of another user, a part file truncated under the hash read-back (exit 15).

The attacker is the ComfyUI service user: it may write the models folder, and root runs fetch-models."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from models.conftest import HIGH_SIZE, SEGMENT, Hub
from models.test_segmented import fetch
from wanprov.exit_codes import ExitCode

VICTIM = b"root's precious file\n"


def _names(hub: Hub, models: Path) -> dict[str, Path]:
    partial = models / "vae" / ".wanprov-partial"
    part = partial / f"vae.safetensors.{hub.sha('vae')[:16]}.part"
    return {
        "part": part,
        "state": Path(f"{part}.ranges.json"),
        "lock": Path(f"{part}.lock"),
        "final": models / "vae" / "vae.safetensors",
    }


def _plant(path: Path, kind: str, victim: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "symlink":
        path.symlink_to(victim)
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
        (path / "inside").write_text("x")


@pytest.mark.timeout(60)  # before: a FIFO at the part name blocked the fetch for ever
@pytest.mark.parametrize("kind", ["symlink", "fifo", "folder"])
@pytest.mark.parametrize("name", ["part", "state", "lock", "final"])
def test_a_planted_name_is_refused_and_nothing_is_written_through_it(
    wanprov, hub: Hub, tmp_path: Path, name: str, kind: str
) -> None:
    models = tmp_path / "models"
    victim = tmp_path / "victim"
    victim.write_bytes(VICTIM)
    planted = _names(hub, models)[name]
    _plant(planted, kind, victim)
    result = fetch(wanprov, hub, models, "--only", "vae", "--format", "json")
    assert result.code == ExitCode.UNSAFE_PATH, result.out
    error = json.loads(result.out)["files"][0]["error"]
    assert error["error"] == "unsafe_path" and str(planted) in error["message"]
    assert victim.read_bytes() == VICTIM  # not truncated, not overwritten
    assert planted.is_symlink() or planted.exists()  # left for the operator to look at
    final = models / "vae" / "vae.safetensors"
    assert name == "final" or not final.exists()
    assert not hub.gets()  # refused before any byte moved


@pytest.mark.timeout(60)
def test_a_planted_link_at_the_segmented_state_is_refused(wanprov, cdn_hub: Hub, tmp_path: Path) -> None:
    models = tmp_path / "models"
    victim = tmp_path / "victim"
    victim.write_bytes(VICTIM)
    part = models / "unet" / ".wanprov-partial" / f"model-high.gguf.{cdn_hub.sha('unet-high')[:16]}.part"
    part.parent.mkdir(parents=True)
    Path(f"{part}.ranges.json").symlink_to(victim)
    result = fetch(wanprov, cdn_hub, models, "--only", "unet-high", "--format", "json")
    assert result.code == ExitCode.UNSAFE_PATH, result.out
    assert victim.read_bytes() == VICTIM
    assert not (models / "unet" / "model-high.gguf").exists()


def test_a_linked_folder_below_the_models_folder_is_refused(wanprov, hub: Hub, tmp_path: Path) -> None:
    models = tmp_path / "models"
    elsewhere = tmp_path / "etc"
    elsewhere.mkdir()
    models.mkdir()
    (models / "vae").symlink_to(elsewhere)  # the service user swaps the folder for a link to root's folder
    result = fetch(wanprov, hub, models, "--only", "vae")
    assert result.code == ExitCode.UNSAFE_PATH, result.err
    assert "symbolic link where a folder belongs" in result.err
    assert list(elsewhere.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the folder to another user")
def test_a_partial_folder_of_another_user_is_refused(wanprov, hub: Hub, tmp_path: Path) -> None:
    partial = _names(hub, tmp_path / "models")["part"].parent
    partial.mkdir(parents=True)
    os.chown(partial, 65534, 65534)  # made by the service user before root's first run
    result = fetch(wanprov, hub, tmp_path / "models", "--only", "vae")
    assert result.code == ExitCode.UNSAFE_PATH, result.err
    assert "belongs to uid 65534" in result.err
    assert list(partial.iterdir()) == []


def test_a_group_writable_partial_folder_of_ours_is_closed_then_used(
    wanprov, hub: Hub, tmp_path: Path
) -> None:
    partial = _names(hub, tmp_path / "models")["part"].parent
    partial.mkdir(parents=True)
    partial.chmod(0o777)
    assert fetch(wanprov, hub, tmp_path / "models", "--only", "vae").code == 0
    assert partial.stat().st_mode & 0o022 == 0


def test_a_link_at_the_record_lock_is_refused(wanprov, hub: Hub, tmp_path: Path) -> None:
    models = tmp_path / "models"
    victim = tmp_path / "victim"
    victim.write_bytes(VICTIM)
    (models / ".wanprov").mkdir(parents=True)
    (models / ".wanprov" / "verified.json.lock").symlink_to(victim)  # before: exit 3, an OSError
    result = fetch(wanprov, hub, models, "--only", "vae")
    assert result.code == ExitCode.UNSAFE_PATH, result.err
    assert victim.read_bytes() == VICTIM


_TRUNCATE_DURING_READ_BACK = textwrap.dedent(
    """
    import hashlib, os, sys
    from pathlib import Path

    part = Path(sys.argv[1])
    for name in ("wanprov.models.partfile", "wanprov.models.segments"):  # wherever the read-back lives
        try:
            module = __import__(name, fromlist=["HASH_READ"])
        except ImportError:
            continue
        if hasattr(module, "HASH_READ"):
            module.HASH_READ = 256 << 10  # several read-backs for the kept prefix
    real = hashlib.sha256
    fired = []

    class Cutting:
        # The first read-back of the kept prefix: another process truncates the part right then.
        def __init__(self, *args):
            self._digest = real(*args)

        def update(self, data):
            if not fired and len(data) >= 128 << 10 and part.exists():
                fired.append(1)
                os.truncate(part, 0)
            self._digest.update(data)

        def hexdigest(self):
            return self._digest.hexdigest()

    hashlib.sha256 = Cutting
    sys.argv = ["wanprov", *sys.argv[2:]]
    from wanprov.commands.output import run_guarded
    from wanprov.commands.root import cli

    sys.exit(run_guarded(cli))
    """
)


@pytest.mark.timeout(120)
def test_a_part_truncated_during_the_hash_read_back_is_exit_15_not_sigbus(
    cdn_hub: Hub, tmp_path: Path
) -> None:
    """Before: the read-back went through an mmap, and the truncated pages killed the fetch with SIGBUS."""
    models = tmp_path / "models"
    sha = cdn_hub.sha("unet-high")
    part = models / "unet" / ".wanprov-partial" / f"model-high.gguf.{sha[:16]}.part"
    part.parent.mkdir(parents=True)
    kept = 2_000_000
    part.write_bytes(cdn_hub.content["unet-high"][:kept] + b"\0" * (HIGH_SIZE - kept))
    state = {"schema": "wanprov.part-ranges/1", "sha256": sha, "size": HIGH_SIZE, "ranges": [[0, kept]]}
    Path(f"{part}.ranges.json").write_text(json.dumps(state))
    script = tmp_path / "cut.py"
    script.write_text(_TRUNCATE_DURING_READ_BACK)
    env = {**os.environ, "WANPROV_SEGMENT_BYTES": str(SEGMENT)}
    proc = subprocess.run(
        [sys.executable, str(script), str(part), "fetch-models", "--profile", "test-profile",
         "--only", "unet-high", "--manifest", str(cdn_hub.manifest), "--models-dir", str(models),
         "--connections", "4", "--format", "json"],
        capture_output=True, text=True, timeout=100, env=env,
    )  # fmt: skip
    assert proc.returncode != -signal.SIGBUS, "killed by SIGBUS"
    assert proc.returncode == ExitCode.UNSAFE_PATH, (proc.returncode, proc.stdout, proc.stderr)
    error = json.loads(proc.stdout)["files"][0]["error"]
    assert error["error"] == "part_changed" and "changed under the running fetch" in error["message"]
    assert not part.exists() and not Path(f"{part}.ranges.json").exists()  # discarded: nobody's bytes
    assert not (models / "unet" / "model-high.gguf").exists()
