"""Other ways in: --from a local mirror, `models lock`, the disk preflight, the hub double as a process."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from models.conftest import FILES, REPO, Hub, write_manifest
from wanprov.errors import NoSpaceError
from wanprov.models.catalog import load_catalog
from wanprov.models.fetch import plan_fetch, preflight_disk, resolve_unknowns
from wanprov.models.hub import HubSettings
from wanprov.models.progress import NullProgress, RichProgress, terminal_progress

TOTAL = sum(size for *_, size in FILES)


def _fetch(wanprov, manifest: Path, models: Path, *extra: str):
    return wanprov(
        "fetch-models", "--profile", "test-profile", "--manifest", str(manifest),
        "--models-dir", str(models), "--format", "json", *extra,
    )  # fmt: skip


def test_from_a_local_mirror_copies_and_verifies(wanprov, hub: Hub, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert _fetch(wanprov, hub.manifest, cache).code == 0
    hub.server.requests.clear()
    result = _fetch(wanprov, hub.manifest, tmp_path / "models", "--from", str(cache))
    assert result.code == 0, result.err
    assert {f["status"] for f in json.loads(result.out)["files"]} == {"copied"}
    assert hub.server.requests == []
    assert (tmp_path / "models" / "unet" / "model-high.gguf").read_bytes() == hub.content["unet-high"]
    again = _fetch(wanprov, hub.manifest, tmp_path / "models", "--from", str(cache))
    assert {f["status"] for f in json.loads(again.out)["files"]} == {"present"}


def test_from_mirror_without_pins_uses_the_mirrors_record(wanprov, hub: Hub, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert _fetch(wanprov, hub.manifest, cache).code == 0  # the mirror carries .wanprov/verified.json
    unpinned = write_manifest(tmp_path / "unpinned.yaml", hub.content, pin=False)
    hub.server.requests.clear()
    result = _fetch(wanprov, unpinned, tmp_path / "models", "--from", str(cache))
    assert result.code == 0, result.err
    assert hub.server.requests == []


def test_from_mirror_with_bad_bytes_is_refused(wanprov, hub: Hub, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "vae").mkdir(parents=True)
    (cache / "vae" / "vae.safetensors").write_bytes(b"\0" * len(hub.content["vae"]))
    result = _fetch(wanprov, hub.manifest, tmp_path / "models", "--from", str(cache), "--only", "vae")
    assert result.code == 6
    assert not (tmp_path / "models" / "vae" / "vae.safetensors").exists()


def test_models_lock_pins_commit_and_sha_then_fetch_needs_no_head(wanprov, hub: Hub, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "mine.yaml", hub.content, pin=False)
    result = wanprov("models", "lock", "--manifest", str(manifest), "--profile", "test-profile")
    assert result.code == 0, result.err
    lock = yaml.safe_load((tmp_path / "mine.lock.yaml").read_text())
    assert lock["files"]["vae"]["sha256"] == hub.sha("vae")
    assert lock["files"]["vae"]["commit"] == hub.server.commit(REPO)
    hub.server.requests.clear()
    assert _fetch(wanprov, manifest, tmp_path / "models").code == 0
    assert hub.heads() == []
    assert all(f"/resolve/{hub.server.commit(REPO)}/" in r["path"] for r in hub.gets())  # pinned revision


def test_models_lock_refuses_a_catalog_sha_the_hub_contradicts(wanprov, hub: Hub, tmp_path: Path) -> None:
    bad = dict(hub.content, vae=b"not the real bytes")
    manifest = write_manifest(tmp_path / "mine.yaml", bad, pin=True)
    result = wanprov("models", "lock", "--manifest", str(manifest))
    assert result.code == 6
    assert "'vae'" in result.err and hub.sha("vae") in result.err
    assert not (tmp_path / "mine.lock.yaml").exists()


def test_not_enough_disk_is_refused_before_any_download(hub: Hub, tmp_path: Path) -> None:
    entries = load_catalog([hub.manifest]).profile("test-profile")
    plan = plan_fetch("test-profile", entries, tmp_path / "models", disk_usage=lambda _path: TOTAL)
    resolve_unknowns(plan, HubSettings.from_env())
    assert plan.to_download_bytes == TOTAL
    with pytest.raises(NoSpaceError) as caught:
        preflight_disk(plan)
    assert caught.value.exit_code == 9 and str(tmp_path / "models") in caught.value.message
    assert hub.gets() == []
    roomy = plan_fetch("test-profile", entries, tmp_path / "models", disk_usage=lambda _path: 1 << 40)
    preflight_disk(roomy)  # enough room: no error


def test_preflight_counts_only_what_is_left_of_a_part(hub: Hub, tmp_path: Path) -> None:
    entries = load_catalog([hub.manifest]).profile("test-profile")
    high = next(e for e in entries if e.id == "unet-high")
    part_dir = tmp_path / "models" / "unet" / ".wanprov-partial"
    part_dir.mkdir(parents=True)
    (part_dir / f"model-high.gguf.{high.sha256[:16]}.part").write_bytes(hub.content["unet-high"][:1000])
    plan = plan_fetch("test-profile", entries, tmp_path / "models", disk_usage=lambda _path: 0)
    assert plan.to_download_bytes == TOTAL - 1000


def test_hub_double_runs_as_a_process(tmp_path: Path, repo_root: Path) -> None:
    (tmp_path / "o" / "r").mkdir(parents=True)
    (tmp_path / "o" / "r" / "f.bin").write_bytes(b"x" * 100)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.doubles.hub", "--root", str(tmp_path)],
        cwd=repo_root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("HF_ENDPOINT=http://127.0.0.1:")
        url = line.split("=", 1)[1].strip() + "/o/r/resolve/main/f.bin"
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD")) as response:
            assert response.headers["X-Linked-Size"] == "100"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_progress_bars_only_on_a_terminal() -> None:
    assert isinstance(terminal_progress(100), NullProgress)  # pytest captures stderr: not a TTY
    bars = terminal_progress(100, enabled=True)
    assert isinstance(bars, RichProgress)
    bars.start_file("a", "a.gguf", 100)
    bars.advance("a", 100)
    bars.finish_file("a")
    bars.close()


def test_models_list_shows_profiles_and_roles(wanprov) -> None:
    result = wanprov("models", "list", "--format", "json")
    assert result.code == 0
    profiles = json.loads(result.out)["profiles"]
    assert "wan22-i2v-a14b-q5-lightning" in profiles
    q4 = profiles["wan22-i2v-a14b-q4km-lightning"]["files"]
    assert all(item["pinned"] or item["sha256"] for item in q4.values())
    text = wanprov("models", "list", "--profile", "flux1-schnell")
    assert "gated" in text.out and "diffusion_model" in text.out


def test_models_list_says_when_sizes_are_unknown(wanprov) -> None:
    # The Q5 HighNoise GGUF has no published size yet: the total must not read as the whole download.
    q5 = wanprov("models", "list", "--profile", "wan22-i2v-a14b-q5-lightning").out
    assert "of unknown size" in q5.splitlines()[0]
    q4 = wanprov("models", "list", "--profile", "wan22-i2v-a14b-q4km-lightning").out
    assert "unknown size" not in q4
