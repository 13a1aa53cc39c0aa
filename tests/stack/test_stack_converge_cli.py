"""`wanprov stack converge` on a bare host made of the local doubles (tests/collection/stack_host.py): a dry
run exits 4 and writes nothing; a run creates the venv, checks out ComfyUI, writes the protection files,
installs the pinned torch and the node pack; a second dry run exits 0 and a second run changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from collection.stack_host import PACK, PINS, build_stack_host
from wanprov.commands.stack import converge_command

pytestmark = pytest.mark.slow  # a venv and real pip installs from the local wheelhouse


def cli_args(host, venv: Path) -> list[str]:
    args = host.args
    return [
        "--comfyui-dir", args["comfyui_dir"], "--venv-dir", str(venv), "--data-dir", args["data_dir"],
        "--comfyui-git-url", args["comfyui_git_url"], "--comfyui-version", args["comfyui_version"],
        "--allow-url-scheme", "file", "--torch-variant", "cu128", "--torch-version", "2.9.1",
        "--torchvision-version", "0.24.1", "--torchaudio-version", "2.9.1", "--launch-flag=--highvram",
        "--gpus", "0", "--pip-extra-args", args["pip_extra_args"], "--node-manifest", args["node_manifest"],
        "--python", str(host.python), "--format", "json",
    ]  # fmt: skip


def run(args: list[str]):
    result = CliRunner().invoke(converge_command, args, standalone_mode=False, catch_exceptions=False)
    return result.return_value, json.loads(result.stdout)


def test_converge_from_a_bare_host_then_nothing_left(tmp_path, object_info_path):
    host = build_stack_host(tmp_path, object_info_path)
    venv = tmp_path / "comfy-venv"  # none yet: converge creates it with --python
    args = cli_args(host, venv)

    rc, dry = run([*args, "--dry-run"])
    assert rc == 4, dry
    assert (dry["pending"], dry["changed"], dry["venv"]) == (True, False, "create")
    assert dry["checkout"]["action"] == "clone" and dry["torch"]["action"] == "unknown"
    assert not venv.exists() and not (tmp_path / "opt").exists() and not (tmp_path / "data").exists()

    rc, first = run(args)
    assert rc == 0, first
    assert (first["changed"], first["venv"], first["checkout"]["action"]) == (True, "create", "clone")
    assert first["torch"]["installed"] == PINS
    assert [p["name"] for p in first["nodes"]["packs"]] == [PACK]
    assert (venv / "pip.conf").read_text() == first["plan"]["files"][str(venv / "pip.conf")]
    assert (Path(host.args["comfyui_dir"]) / "custom_nodes" / PACK).is_dir()

    rc, again = run([*args, "--dry-run"])
    assert rc == 0, again["changes"]
    assert again["pending"] is False and again["torch"]["action"] == "none"
    rc, real = run(args)
    assert (rc, real["changed"], real["changes"]) == (0, False, [])
