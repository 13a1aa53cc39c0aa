"""Fixtures for the stack tests: local wheels, local git repos for ComfyUI and the node packs, a venv."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from doubles.comfyui_app import build_comfyui_repo
from doubles.git import commit_files, git, make_repo, node_pack_files
from doubles.wheels import TORCH_PINNED, build_wheelhouse
from wanprov.stack.manifest import load_node_packs

# Requirements each stand-in pack declares (names of real packages, served as local fake wheels).
PACK_REQUIREMENTS = {
    "ComfyUI-GGUF": "gguf>=0.13.0\n",
    "ComfyUI-TeaCache": "",
    "ComfyUI-VideoHelperSuite": "opencv-python-headless\nimageio-ffmpeg\n",
    "ComfyUI-Frame-Interpolation": "",
    "ComfyUI-WanVideoWrapper": "gguf\n",
    "ComfyUI-KJNodes": "",
}
BAD_PACK = "ComfyUI-Bad-Torch-Pin"


@dataclass
class SourceRepos:
    root: Path
    comfyui_url: str
    comfyui_commit: str
    packs: dict[str, tuple[str, str]]  # name -> (url, commit)
    gguf_second_commit: str

    def manifest(self, dest: Path, *, bad: bool = False, branch_for: str | None = None) -> Path:
        """A node-packs manifest like the shipped one, with the URLs and commits of the local repos."""
        shipped = load_node_packs()
        packs = {}
        for name, pack in shipped.items():
            url, commit = self.packs[name]
            packs[name] = {
                "url": url,
                "commit": "main" if name == branch_for else commit,
                "source": f"test double of {pack.source}",
                "requirements": pack.requirements,
                "optional": pack.optional,
            }
        if bad:
            url, commit = self.packs[BAD_PACK]
            packs[BAD_PACK] = {"url": url, "commit": commit, "source": "test double", "optional": False}
        dest.write_text(yaml.safe_dump({"source": "tests", "packs": packs}, sort_keys=False))
        return dest


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture(scope="session")
def source_repos(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> SourceRepos:
    root = tmp_path_factory.mktemp("git-sources")
    comfyui_commit = build_comfyui_repo(root / "ComfyUI", shared_dir / "comfyui" / "object_info.json")
    packs = {}
    for name, requirements in PACK_REQUIREMENTS.items():
        commit = make_repo(root / name, node_pack_files(name, requirements))
        packs[name] = (f"file://{root / name}", commit)
    second = commit_files(root / "ComfyUI-GGUF", {"nodes.py": "# a later upstream commit\n"}, "later")
    git(root / "ComfyUI-GGUF", "checkout", "--quiet", "--detach", packs["ComfyUI-GGUF"][1])
    bad = make_repo(root / BAD_PACK, node_pack_files(BAD_PACK, "torch==2.5.1\n"))
    packs[BAD_PACK] = (f"file://{root / BAD_PACK}", bad)
    return SourceRepos(root, f"file://{root / 'ComfyUI'}", comfyui_commit, packs, second)


@pytest.fixture
def comfy_venv(tmp_path: Path, wheelhouse: Path, source_repos: SourceRepos) -> tuple[Path, Path]:
    """A ComfyUI checkout (the double) and a venv holding the pinned fake torch: (comfyui_dir, python)."""
    comfyui_dir = tmp_path / "ComfyUI"
    git(tmp_path, "clone", "--quiet", source_repos.comfyui_url, str(comfyui_dir))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pins = [f"torch=={TORCH_PINNED}", "torchvision==0.24.1+cu128", "torchaudio==2.9.1+cu128"]
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheelhouse), *pins],
        check=True,
    )
    return comfyui_dir, python
