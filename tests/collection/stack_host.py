"""A bare stack host made of the local doubles: a ComfyUI git repo, one node pack repo, a wheelhouse and an
empty venv, plus the `wanprov.gpu.stack` arguments that converge it. Shared by the stack module's end-to-end
test and benchmarks/stack_module.py (no pytest import here)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from doubles.comfyui_app import build_comfyui_repo
from doubles.git import make_repo, node_pack_files
from doubles.wheels import build_wheelhouse

PACK = "ComfyUI-GGUF"
PINS = {"torch": "2.9.1+cu128", "torchvision": "0.24.1+cu128", "torchaudio": "2.9.1+cu128"}


@dataclass
class StackHost:
    root: Path
    wheels: Path
    manifest: Path
    comfyui_commit: str
    pack_commit: str
    args: dict[str, Any]  # the stack module's arguments

    @property
    def python(self) -> Path:
        return self.root / "venv" / "bin" / "python"

    @property
    def comfyui_dir(self) -> Path:
        return Path(self.args["comfyui_dir"])


def build_stack_host(root: Path, object_info: Path) -> StackHost:
    wheels = build_wheelhouse(root / "wheels")
    comfyui_commit = build_comfyui_repo(root / "src" / "ComfyUI", object_info)
    pack_commit = make_repo(root / "src" / PACK, node_pack_files(PACK, "gguf>=0.13.0\n"))
    manifest = root / "node-packs.yaml"
    pack = {"url": f"file://{root / 'src' / PACK}", "commit": pack_commit, "source": "test double"}
    document = {"source": "tests", "allow_url_schemes": ["file"], "packs": {PACK: pack}}
    manifest.write_text(yaml.safe_dump(document))
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    args = {
        "comfyui_dir": str(root / "opt" / "ComfyUI"),
        "venv_dir": str(root / "venv"),
        "data_dir": str(root / "data"),
        "comfyui_git_url": f"file://{root / 'src' / 'ComfyUI'}",
        "git_url_schemes": ["file"],  # local repositories: the documented opt-in
        "comfyui_version": comfyui_commit,
        "torch_variant": "cu128",
        "torch_version": "2.9.1",
        "torchvision_version": "0.24.1",
        "torchaudio_version": "2.9.1",
        "launch_flags": ["--highvram"],
        "gpus": [0],  # explicit: the module asks no doctor (this machine has no GPU)
        "pip_extra_args": f"--no-index --find-links {wheels}",
        "node_manifest": str(manifest),
    }
    return StackHost(root, wheels, manifest, comfyui_commit, pack_commit, args)
