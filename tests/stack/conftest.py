"""Fixtures for the stack tests: local wheels, local git repos for ComfyUI and the node packs, a venv."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from stack_sources import BAD_PACK, PACK_REQUIREMENTS, SourceRepos

from doubles.comfyui_app import build_comfyui_repo
from doubles.git import commit_files, git, make_repo, node_pack_files
from doubles.wheels import TORCH_PINNED, build_wheelhouse


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture(scope="session")
def source_repos(tmp_path_factory: pytest.TempPathFactory, object_info_path: Path) -> SourceRepos:
    root = tmp_path_factory.mktemp("git-sources")
    comfyui_commit = build_comfyui_repo(root / "ComfyUI", object_info_path)
    packs = {}
    for name, requirements in PACK_REQUIREMENTS.items():
        commit = make_repo(root / name, node_pack_files(name, requirements))
        packs[name] = (f"file://{root / name}", commit)
    second = commit_files(root / "ComfyUI-GGUF", {"nodes.py": "# a later upstream commit\n"}, "later")
    git(root / "ComfyUI-GGUF", "checkout", "--quiet", "--detach", packs["ComfyUI-GGUF"][1])
    bad = make_repo(root / BAD_PACK, node_pack_files(BAD_PACK, "torch==2.5.1\n"))
    packs[BAD_PACK] = (f"file://{root / BAD_PACK}", bad)
    return SourceRepos(root, f"file://{root / 'ComfyUI'}", comfyui_commit, packs, second)


@pytest.fixture(scope="session")
def torch_venv_template(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Path:
    """A venv holding the pinned fake torch, built once (venv + ensurepip + pip install: seconds)."""
    venv = tmp_path_factory.mktemp("venv-template") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pins = [f"torch=={TORCH_PINNED}", "torchvision==0.24.1+cu128", "torchaudio==2.9.1+cu128"]
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", "--find-links",
         str(wheelhouse), *pins],
        check=True,
    )  # fmt: skip
    return venv


@pytest.fixture
def comfy_venv(tmp_path: Path, torch_venv_template: Path, source_repos: SourceRepos) -> tuple[Path, Path]:
    """A ComfyUI checkout (the double) and its own venv holding the pinned fake torch: (comfyui_dir, python).

    The venv is a copy of the session's template: everything in it runs as `python -m pip`, which does not
    care where the venv lives (only the console scripts' shebangs would, and nothing here uses them)."""
    comfyui_dir = tmp_path / "ComfyUI"
    git(tmp_path, "clone", "--quiet", source_repos.comfyui_url, str(comfyui_dir))
    venv = tmp_path / "venv"
    shutil.copytree(torch_venv_template, venv, symlinks=True)
    return comfyui_dir, venv / "bin" / "python"
