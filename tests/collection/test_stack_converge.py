"""wanprov.gpu.stack end to end on a bare venv: check mode changes nothing; a run checks out ComfyUI, writes
the protection files, installs the pinned torch, checks the flags and installs a pinned node pack; a second
run (check mode and real) reports no change.

Local stand-ins, as in tests/stack: a git repo for ComfyUI (tests/doubles/comfyui_app) and for one pack, and
fake wheels (tests/doubles/wheels) served with --no-index, so nothing reaches GitHub or an index."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from collection.stack_host import PACK, PINS, StackHost, build_stack_host

pytestmark = pytest.mark.slow  # a venv and real pip installs from the local wheelhouse


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, object_info_path: Path) -> StackHost:
    return build_stack_host(tmp_path_factory.mktemp("stack-host"), object_info_path)


def test_check_mode_on_a_bare_venv_changes_nothing(run_module, tree, host):
    root = host.root
    before = {name: tree(root / name) for name in ("opt", "venv", "data")}
    rc, result = run_module("stack", host.args, check=True, diff=True)
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
    root = host.root
    rc, result = run_module("stack", host.args)
    assert rc == 0, result
    assert result["changed"] is True
    assert result["checkout"]["action"] == "clone"
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root / "opt" / "ComfyUI", capture_output=True, text=True, check=True
    ).stdout.strip()
    assert head == host.comfyui_commit
    pinned = {name: version.split("+")[0] for name, version in PINS.items()}  # as given: no local label
    assert result["torch"] == {"pinned": pinned, "installed": PINS, "action": "install"}
    assert result["flags"]["rejected"] == [] and "--highvram" in result["flags"]["accepted"]
    packs = result["nodes"]["packs"]
    assert [(p["name"], p["commit"]) for p in packs] == [(PACK, host.pack_commit)]
    assert result["nodes"]["torch"]["installed"] == PINS
    assert (root / "opt" / "ComfyUI" / "custom_nodes" / PACK / "__init__.py").is_file()
    assert (root / "venv" / "pip.conf").read_text() == result["plan"]["files"][f"{root}/venv/pip.conf"]
    # the image the templates name, from the checkout into the instances' input folder (--input-directory)
    image = root / "data" / "input" / "example.png"
    assert [(i["name"], i["action"]) for i in result["input_images"]] == [("example.png", "copy")]
    assert image.read_bytes() == (root / "opt" / "ComfyUI" / "input" / "example.png").read_bytes()
    argv = result["plan"]["instances"][0]["argv"]
    assert argv[argv.index("--input-directory") + 1] == str(image.parent)

    rc, again = run_module("stack", host.args, check=True, diff=True)
    assert rc == 0, again
    assert again["changed"] is False, again.get("diff")
    assert again["checkout"]["action"] == "none" and again["torch"]["action"] == "none"
    assert [p["actions"] for p in again["nodes"]["packs"]] == [[]]
    assert [i["action"] for i in again["input_images"]] == ["present"]
    rc, real = run_module("stack", host.args)
    assert (rc, real["changed"]) == (0, False)
