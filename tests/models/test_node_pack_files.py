"""Catalog entries that land in a node pack's own folder (RIFE VFI's ckpts/rife), fetched and verified there.

ComfyUI-Frame-Interpolation @ 26545cc reads RIFE checkpoints from <pack>/ckpts/rife (vfi_utils
get_ckpt_container_path, config.yaml ckpts_path ./ckpts) and downloads a missing one at first use; wanprov
places it there beforehand so a first run needs no internet."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from doubles.hub import write_file
from models.conftest import REPO, Hub
from wanprov.errors import ManifestError
from wanprov.models.catalog import load_catalog, parse_entry

PACK = "ComfyUI-Frame-Interpolation"
WHERE = Path("custom_nodes") / PACK / "ckpts" / "rife" / "rife49.pth"


@pytest.fixture
def rife(hub: Hub, tmp_path: Path) -> tuple[Path, bytes]:
    """A user manifest overriding the shipped rife49 entry with a generated file on the hub double."""
    content = write_file(hub.root, REPO, "rife/rife49.pth", 40_000)
    manifest = tmp_path / "manifest" / "rife.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "files": {
                    "rife49": {
                        "repo": REPO,
                        "revision": "main",
                        "path": "rife/rife49.pth",
                        "node_pack": PACK,
                        "folder": "ckpts/rife",
                        "size": len(content),
                        "sha256": hashlib.sha256(content).hexdigest(),
                    }
                },
                "profiles": {"rife-profile": {"files": {"rife": "rife49"}}},
            }
        )
    )
    return manifest, content


def test_fetch_places_it_where_the_pack_looks_and_verifies_it(wanprov, rife, tmp_path: Path) -> None:
    manifest, content = rife
    comfy = tmp_path / "ComfyUI"
    args = ("--profile", "rife-profile", "--manifest", str(manifest), "--comfyui-dir", str(comfy))
    first = wanprov("fetch-models", *args, "--format", "json")
    assert first.code == 0, first.out + first.err
    placed = json.loads(first.out)["files"][0]
    assert placed["path"] == str(comfy / WHERE) and placed["status"] == "downloaded"
    assert (comfy / WHERE).read_bytes() == content
    assert not (comfy / "models" / "ckpts").exists()
    again = wanprov("fetch-models", *args, "--format", "json")
    assert json.loads(again.out)["files"][0]["status"] == "present"
    verify = wanprov("models", "verify", *args, "--format", "json")
    assert verify.code == 0 and json.loads(verify.out)["files"][0]["status"] == "ok"


def test_models_dir_alone_does_not_know_custom_nodes(wanprov, rife, tmp_path: Path) -> None:
    manifest, content = rife
    base = ("fetch-models", "--profile", "rife-profile", "--manifest", str(manifest))
    refused = wanprov(*base, "--models-dir", str(tmp_path / "models"))
    assert refused.code == 2 and "--custom-nodes-dir" in refused.err and "rife49.pth" in refused.err
    nodes = tmp_path / "ComfyUI" / "custom_nodes"
    done = wanprov(*base, "--models-dir", str(tmp_path / "models"), "--custom-nodes-dir", str(nodes))
    assert done.code == 0, done.err
    assert (nodes / PACK / "ckpts" / "rife" / "rife49.pth").read_bytes() == content


def test_a_mirror_keeps_pack_files_under_custom_nodes(wanprov, rife, tmp_path: Path) -> None:
    """The fleet's controller cache: fetched into CACHE (models, CACHE/custom_nodes), copied from there."""
    manifest, content = rife
    cache = tmp_path / "cache"
    base = ("fetch-models", "--profile", "rife-profile", "--manifest", str(manifest))
    assert (
        wanprov(*base, "--models-dir", str(cache), "--custom-nodes-dir", str(cache / "custom_nodes")).code
        == 0
    )
    comfy = tmp_path / "ComfyUI"
    copied = wanprov(*base, "--comfyui-dir", str(comfy), "--from", str(cache), "--format", "json")
    assert copied.code == 0, copied.out
    assert json.loads(copied.out)["files"][0]["status"] == "copied"
    assert (comfy / WHERE).read_bytes() == content


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"folder": "ckpts/rife"}, "not a ComfyUI models folder"),
        ({"folder": "../rife", "node_pack": PACK}, "relative path inside"),
        ({"folder": "/abs", "node_pack": PACK}, "relative path inside"),
        ({"folder": "ckpts/rife", "node_pack": "../escape"}, "node pack's folder name"),
    ],
)
def test_node_pack_entries_are_validated(raw, message) -> None:
    entry = {"repo": "a/b", "revision": "main", "path": "rife49.pth", **raw}
    with pytest.raises(ManifestError, match=message):
        parse_entry("x", entry, Path("m.yaml"))


def test_the_shipped_rife_entry_names_a_pinned_pack(repo_root: Path) -> None:
    packs = yaml.safe_load((repo_root / "manifests" / "stack" / "node-packs.yaml").read_text())["packs"]
    entries = [e for e in load_catalog().files.values() if e.node_pack]
    assert [e.name for e in entries] == ["rife49.pth"]
    assert all(e.node_pack in packs for e in entries)
    assert entries[0].relpath == WHERE.as_posix()
