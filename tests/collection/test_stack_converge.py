"""wanprov.gpu.stack end to end on a bare venv: check mode changes nothing; a run checks out ComfyUI, writes
the protection files, installs the pinned torch, checks the flags and installs a pinned node pack; a second
run (check mode and real) reports no change.

Local stand-ins, as in tests/stack: a git repo for ComfyUI (tests/doubles/comfyui_app) and for one pack, and
fake wheels (tests/doubles/wheels) served with --no-index, so nothing reaches GitHub or an index."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from doubles.comfyui_app import build_comfyui_repo
from doubles.git import make_repo, node_pack_files
from doubles.wheels import build_wheelhouse

pytestmark = pytest.mark.slow  # a venv and real pip installs from the local wheelhouse

PACK = "ComfyUI-GGUF"
PINS = {"torch": "2.9.1+cu128", "torchvision": "0.24.1+cu128", "torchaudio": "2.9.1+cu128"}


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, object_info_path: Path) -> dict[str, object]:
    root = tmp_path_factory.mktemp("stack-host")
    wheels = build_wheelhouse(root / "wheels")
    comfyui_commit = build_comfyui_repo(root / "src" / "ComfyUI", object_info_path)
    pack_commit = make_repo(root / "src" / PACK, node_pack_files(PACK, "gguf>=0.13.0\n"))
    manifest = root / "node-packs.yaml"
    pack = {"url": f"file://{root / 'src' / PACK}", "commit": pack_commit, "source": "test double"}
    manifest.write_text(yaml.safe_dump({"source": "tests", "packs": {PACK: pack}}))
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    args = {
        "comfyui_dir": str(root / "opt" / "ComfyUI"),
        "venv_dir": str(root / "venv"),
        "data_dir": str(root / "data"),
        "comfyui_git_url": f"file://{root / 'src' / 'ComfyUI'}",
        "comfyui_version": comfyui_commit,
        "torch_variant": "cu128",
        "torch_version": "2.9.1",
        "torchvision_version": "0.24.1",
        "torchaudio_version": "2.9.1",
        "launch_flags": ["--highvram"],
        "pip_extra_args": f"--no-index --find-links {wheels}",
        "node_manifest": str(manifest),
    }
    return {"root": root, "args": args, "comfyui_commit": comfyui_commit, "pack_commit": pack_commit}


def test_check_mode_on_a_bare_venv_changes_nothing(run_module, tree, host):
    root = host["root"]
    before = {name: tree(root / name) for name in ("opt", "venv", "data")}
    rc, result = run_module("stack", host["args"], check=True, diff=True)
    assert rc == 0, result
    assert {name: tree(root / name) for name in ("opt", "venv", "data")} == before
    assert result["changed"] is True
    assert result["checkout"]["action"] == "clone"
    assert result["torch"]["action"] == "install"
    assert result["torch"]["installed"] == dict.fromkeys(PINS)
    assert len(result["protection"]) == 2
    headers = [d["after_header"] for d in result["diff"]]
    assert f"{root}/opt/ComfyUI (commit)" in headers and f"{root}/venv/bin/python (torch)" in headers


def test_converge_then_nothing_left(run_module, host):
    root = host["root"]
    rc, result = run_module("stack", host["args"])
    assert rc == 0, result
    assert result["changed"] is True
    assert result["checkout"]["action"] == "clone"
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root / "opt" / "ComfyUI", capture_output=True, text=True, check=True
    ).stdout.strip()
    assert head == host["comfyui_commit"]
    assert result["torch"] == {"pinned": PINS, "installed": PINS, "action": "install"}
    assert result["flags"]["rejected"] == [] and "--highvram" in result["flags"]["accepted"]
    packs = result["nodes"]["packs"]
    assert [(p["name"], p["commit"]) for p in packs] == [(PACK, host["pack_commit"])]
    assert result["nodes"]["torch"]["installed"] == PINS
    assert (root / "opt" / "ComfyUI" / "custom_nodes" / PACK / "__init__.py").is_file()
    assert (root / "venv" / "pip.conf").read_text() == result["plan"]["files"][f"{root}/venv/pip.conf"]

    rc, again = run_module("stack", host["args"], check=True, diff=True)
    assert rc == 0, again
    assert again["changed"] is False, again.get("diff")
    assert again["checkout"]["action"] == "none" and again["torch"]["action"] == "none"
    assert [p["actions"] for p in again["nodes"]["packs"]] == [[]]
    rc, real = run_module("stack", host["args"])
    assert (rc, real["changed"]) == (0, False)
