"""`wanprov install-nodes` against local git repos and a real venv holding the pinned (fake) torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from doubles.git import git
from doubles.wheels import TORCH_PINNED
from wanprov.commands.stack import install_nodes
from wanprov.stack.pip import installed_versions

pytestmark = pytest.mark.slow  # each test installs packs with pip into a copy of a venv


def run(args: list[str]):
    return CliRunner().invoke(install_nodes, args, standalone_mode=False, catch_exceptions=True)


def base_args(comfyui_dir, python, manifest, wheelhouse) -> list[str]:
    return ["--comfyui-dir", str(comfyui_dir), "--python", str(python), "--manifest", str(manifest),
            "--pip-arg=--no-index", f"--pip-arg=--find-links={wheelhouse}"]  # fmt: skip


def test_converge_then_nothing_to_do_then_drift_reported(tmp_path, comfy_venv, source_repos, wheelhouse):
    comfyui_dir, python = comfy_venv
    args = base_args(comfyui_dir, python, source_repos.manifest(tmp_path / "packs.yaml"), wheelhouse)

    dry = run([*args, "--dry-run", "--format", "json"])
    assert dry.return_value == 4, dry.output
    assert {p["state"] for p in json.loads(dry.stdout)["packs"]} == {"missing"}
    assert not (comfyui_dir / "custom_nodes" / "ComfyUI-GGUF").exists()  # dry run touched nothing

    first = run([*args, "--format", "json"])
    assert first.return_value == 0, (first.output, first.exception)
    report = json.loads(first.stdout)
    assert report["changed"] is True and report["torch"]["installed"]["torch"] == TORCH_PINNED
    gguf = comfyui_dir / "custom_nodes" / "ComfyUI-GGUF"
    assert git(gguf, "rev-parse", "HEAD") == source_repos.packs["ComfyUI-GGUF"][1]
    assert installed_versions(python, ["gguf", "imageio-ffmpeg"]) == {
        "gguf": "0.17.1",
        "imageio-ffmpeg": "0.6.0",
    }
    assert not (comfyui_dir / "custom_nodes" / "ComfyUI-KJNodes").exists()  # optional, not asked for
    pip_conf = (python.parent.parent / "pip.conf").read_text()
    assert "constraint = " in pip_conf

    again = run([*args, "--dry-run", "--format", "json"])
    assert again.return_value == 0, again.output
    assert all(p["actions"] == [] for p in json.loads(again.stdout)["packs"])
    assert json.loads(again.stdout)["core_requirements"]["actions"] == []

    git(gguf, "checkout", "--quiet", "--detach", source_repos.gguf_second_commit)
    drift = run([*args, "--dry-run", "--format", "json"])
    assert drift.return_value == 4
    moved = next(p for p in json.loads(drift.stdout)["packs"] if p["name"] == "ComfyUI-GGUF")
    assert moved["state"] == "wrong_commit" and moved["current_commit"] == source_repos.gguf_second_commit
    assert run(args).return_value == 0
    assert git(gguf, "rev-parse", "HEAD") == source_repos.packs["ComfyUI-GGUF"][1]


def test_pack_asking_for_another_torch_fails_and_torch_stays(tmp_path, comfy_venv, source_repos, wheelhouse):
    comfyui_dir, python = comfy_venv
    args = base_args(comfyui_dir, python, source_repos.manifest(tmp_path / "p.yaml", bad=True), wheelhouse)
    result = run([*args, "--format", "json"])
    assert result.return_value is None and result.exception is not None
    assert result.exception.code == "install_failed"
    assert "ComfyUI-Bad-Torch-Pin" in result.exception.message and "torch" in result.exception.message
    assert installed_versions(python, ["torch"])["torch"] == TORCH_PINNED

    # pip.conf protects later installs by anyone (ComfyUI-Manager, a user) in this venv too.
    plain = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-index", "--find-links", str(wheelhouse), "torch==2.5.1"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert plain.returncode != 0
    assert installed_versions(python, ["torch"])["torch"] == TORCH_PINNED


def test_branch_pinned_pack_is_refused(tmp_path, comfy_venv, source_repos, wheelhouse):
    comfyui_dir, python = comfy_venv
    manifest = source_repos.manifest(tmp_path / "p.yaml", branch_for="ComfyUI-TeaCache")
    result = run(base_args(comfyui_dir, python, manifest, wheelhouse))
    assert result.exception is not None and result.exception.code == "refused"
    assert "ComfyUI-TeaCache" in result.exception.message
    assert not (comfyui_dir / "custom_nodes").exists()  # refused before touching anything

    allowed = run(
        [*base_args(comfyui_dir, python, manifest, wheelhouse), "--allow-unpinned", "--format", "json"]
    )
    assert allowed.return_value == 0, (allowed.output, allowed.exception)
    tea = next(p for p in json.loads(allowed.stdout)["packs"] if p["name"] == "ComfyUI-TeaCache")
    assert tea["requested_ref"] == "main" and len(tea["commit"]) == 40


def test_dirty_checkout_refused_without_force(tmp_path, comfy_venv, source_repos, wheelhouse):
    comfyui_dir, python = comfy_venv
    args = [*base_args(comfyui_dir, python, source_repos.manifest(tmp_path / "p.yaml"), wheelhouse),
            "--only", "ComfyUI-GGUF"]  # fmt: skip
    assert run(args).return_value == 0
    init = comfyui_dir / "custom_nodes" / "ComfyUI-GGUF" / "__init__.py"
    init.write_text("# local edit\n")
    refused = run(args)
    assert refused.exception is not None and refused.exception.code == "refused"
    assert init.read_text() == "# local edit\n"
    assert run([*args, "--force"]).return_value == 0
    assert "NODE_CLASS_MAPPINGS" in init.read_text()

    pack = init.parent
    git(pack, "remote", "set-url", "origin", "file:///somewhere/else")
    drift = run([*args, "--dry-run", "--format", "json"])
    assert drift.return_value == 4
    assert json.loads(drift.stdout)["packs"][0]["state"] == "url_changed"
    assert run(args).return_value == 0
    assert git(pack, "config", "--get", "remote.origin.url") == source_repos.packs["ComfyUI-GGUF"][0]


@pytest.mark.parametrize("missing", ["main.py", "python"])
def test_bad_paths_are_clear(tmp_path, comfy_venv, source_repos, wheelhouse, missing):
    comfyui_dir, python = comfy_venv
    if missing == "main.py":
        comfyui_dir = tmp_path
    else:
        python = tmp_path / "nope" / "python"
    result = run(base_args(comfyui_dir, python, source_repos.manifest(tmp_path / "p.yaml"), wheelhouse))
    assert result.exception is not None and result.exception.code == "bad_manifest"


def test_venv_without_torch_is_refused_before_anything(tmp_path, comfy_venv, source_repos, wheelhouse):
    comfyui_dir, _ = comfy_venv
    bare = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    python = bare / "bin" / "python"
    result = run(base_args(comfyui_dir, python, source_repos.manifest(tmp_path / "p.yaml"), wheelhouse))
    assert result.exception is not None and result.exception.code == "bad_manifest"
    assert "no torch" in result.exception.message and "wanprov doctor" in (result.exception.hint or "")
    assert not (comfyui_dir / "custom_nodes").exists()


def _cv2(python) -> str:
    code = "import cv2, importlib.metadata as m; print(cv2.__version__, m.version('opencv-python-headless'))"
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip()


def test_one_opencv_although_packs_ask_for_both(tmp_path, comfy_venv, source_repos, wheelhouse):
    """VHS asks for opencv-python, KJNodes for opencv-python-headless: both write `cv2`. Only the headless
    one is installed, and a venv that already has the other is brought back to one."""
    comfyui_dir, python = comfy_venv
    args = base_args(comfyui_dir, python, source_repos.manifest(tmp_path / "packs.yaml"), wheelhouse)
    first = run([*args, "--with-optional", "all", "--format", "json"])
    assert first.return_value == 0, (first.output, first.exception)
    assert installed_versions(python, ["opencv-python", "opencv-python-headless"]) == {
        "opencv-python": None,
        "opencv-python-headless": "4.12.0.88",
    }
    assert _cv2(python) == "4.12.0.88 4.12.0.88"

    # pip.conf names the constraints: a later `pip install opencv-python` in the venv is refused there
    refused = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-index", "--find-links", str(wheelhouse), "opencv-python"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode != 0, refused.stdout
    # one installed around the guard (an older converge did this) is found and removed
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheelhouse),
         "opencv-python"],
        check=True, env={**os.environ, "PIP_CONFIG_FILE": os.devnull},
    )  # fmt: skip
    dry = run([*args, "--with-optional", "all", "--dry-run", "--format", "json"])
    assert dry.return_value == 4 and json.loads(dry.stdout)["opencv"]["removed"] == ["opencv-python"]
    fixed = run([*args, "--with-optional", "all", "--format", "json"])
    assert fixed.return_value == 0, (fixed.output, fixed.exception)
    assert json.loads(fixed.stdout)["opencv"]["removed"] == ["opencv-python"]
    assert installed_versions(python, ["opencv-python"]) == {"opencv-python": None}
    assert _cv2(python) == "4.12.0.88 4.12.0.88"  # its cv2 files, removed with opencv-python, are back


@pytest.mark.parametrize(
    ("index", "pins", "ok"),
    [
        ("pypi", "2.9.1 0.24.1 2.9.1", True),  # label-less index, label-less pins
        ("pytorch", "2.9.1 0.24.1 2.9.1", True),  # PyTorch index, the same pins (PEP 440 local labels)
        ("pypi", "2.9.1+cu128 0.24.1+cu128 2.9.1+cu128", False),  # a labelled pin the mirror cannot meet
    ],
)
def test_torch_pins_with_or_without_local_labels(tmp_path, source_repos, index, pins, ok):
    from doubles.wheels import build_wheelhouse

    house = build_wheelhouse(tmp_path / "house", index)
    comfyui_dir = tmp_path / "ComfyUI"
    git(tmp_path, "clone", "--quiet", source_repos.comfyui_url, str(comfyui_dir))
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True)
    python = tmp_path / "venv" / "bin" / "python"
    family = [w.name.split("-")[0] for w in house.glob("torch*.whl")]
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-index", "--find-links", str(house), *family],
        check=True,
    )
    constraints = tmp_path / "constraints.txt"
    torch, vision, audio = pins.split()
    constraints.write_text(f"torch=={torch}\ntorchvision=={vision}\ntorchaudio=={audio}\n")
    args = base_args(comfyui_dir, python, source_repos.manifest(tmp_path / "packs.yaml"), house)
    result = run([*args, "--constraints", str(constraints), "--format", "json"])
    if ok:
        assert result.return_value == 0, (result.output, result.exception)
        assert json.loads(result.stdout)["torch"]["installed"]["torchaudio"].startswith("2.9.1")
    else:
        assert "no longer has the pinned torch" in str(result.exception)
