"""A bare host for `wanprov up` (tests/up and benchmarks/up_rerun.py; no pytest here), made of the
doubles: a fake H100 (its nvidia-smi and driver), the Hub double serving tiny model files under the shipped
profiles' names, local git repositories for ComfyUI (the ComfyUI double) and one node pack, and a wheelhouse
of fake torch wheels. Everything under /tmp (0755), so the unprivileged service user and an ordinary user
can reach what they need."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from doubles.comfyui_app import build_comfyui_repo
from doubles.git import make_repo, node_pack_files
from doubles.gpu import install_fake_host
from doubles.gpu.specs import SPECS
from doubles.hub.server import HubServer, environment_for
from doubles.wheels import build_wheelhouse
from fleet.fleet_setup import FLEET_PROFILES, tiny_models_manifest

PACK = "ComfyUI-GGUF"
BASE_PYTHON = "/usr/bin/python3"  # what creates the ComfyUI venv (reachable by every user, unlike pyenv's)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Sources:
    base: Path
    env: dict[str, str]  # the fake GPU host and the Hub double
    args: list[str]  # the sources' options of `wanprov up` / `wanprov stack converge`
    comfyui_commit: str
    stopped: list[str] = field(default_factory=list)


def build_sources(object_info_path: Path) -> Iterator[Sources]:
    """The sources (no pytest here: benchmarks/up_rerun.py builds them too)."""
    base = Path(tempfile.mkdtemp(prefix="wanprov-up-", dir="/tmp"))
    base.chmod(0o755)
    hub = HubServer(base / "hub").start()
    try:
        models = base / "tiny-models.yaml"
        tiny_models_manifest(hub.root, models, FLEET_PROFILES)
        wheels = build_wheelhouse(base / "wheels")
        comfyui_commit = build_comfyui_repo(base / "src" / "ComfyUI", object_info_path)
        pack_commit = make_repo(base / "src" / PACK, node_pack_files(PACK, "gguf>=0.13.0\n"))
        manifest = base / "node-packs.yaml"
        pack = {"url": f"file://{base / 'src' / PACK}", "commit": pack_commit, "source": "test double"}
        manifest.write_text(yaml.safe_dump({"source": "tests", "allow_url_schemes": ["file"],
                                            "packs": {PACK: pack}}))  # fmt: skip
        # its tools run under BASE_PYTHON: every user can run them
        fake_gpu = install_fake_host(base / "gpu", SPECS["h100_single"], python=BASE_PYTHON)
        env = {**fake_gpu, **environment_for(hub)}
        for path in base.rglob("*"):  # readable by the service user and an ordinary user
            if not path.is_symlink():
                mode = path.stat().st_mode
                path.chmod(mode | 0o044 | (0o011 if path.is_dir() or mode & 0o100 else 0))
        args = [
            "--comfyui-git-url", f"file://{base / 'src' / 'ComfyUI'}", "--comfyui-version", comfyui_commit,
            "--allow-url-scheme", "file", "--torch-variant", "cu128", "--torch-version", "2.9.1+cu128",
            "--torchvision-version", "0.24.1+cu128", "--torchaudio-version", "2.9.1+cu128",
            "--pip-extra-args", f"--no-index --find-links {wheels}", "--node-manifest", str(manifest),
            "--manifest", str(models), "--python", BASE_PYTHON,
        ]  # fmt: skip
        yield Sources(base, env, args, comfyui_commit)
    finally:
        hub.stop()
        for launch in base.rglob("comfyui-launch.json"):
            subprocess.run([sys.executable, "-m", "wanprov.service.supervise", "stop", str(launch)],
                           capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


def host_dirs(root: Path) -> list[str]:
    return [
        "--comfyui-dir", str(root / "opt/comfyui/ComfyUI"), "--venv-dir", str(root / "opt/comfyui/venv"),
        "--data-dir", str(root / "var/lib/comfyui"), "--unit-dir", str(root / "etc/systemd/system"),
    ]  # fmt: skip


def wanprov_env(sources: Sources, **extra: str) -> dict[str, str]:
    return {**os.environ, **sources.env, **extra}
