"""playbooks/remove.yml on the default layout - the models folder inside the ComfyUI folder - run locally
on a tree under a temp folder (no service, no user): everything of ComfyUI goes but models/, then models/ too
when asked. tests/fleet/test_remove.py covers services, users and a models folder elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # two ansible-playbook runs (a few seconds each)


def _tree(root: Path) -> None:
    comfy = root / "opt/comfyui/ComfyUI"
    for path in ("main.py", ".git/HEAD", "custom_nodes/ComfyUI-GGUF/nodes.py", "models/unet/big.gguf"):
        (comfy / path).parent.mkdir(parents=True, exist_ok=True)
        (comfy / path).write_text(path)
    (root / "opt/comfyui/venv/bin").mkdir(parents=True)
    (root / "opt/wanprov/venv/bin").mkdir(parents=True)
    for path in ("gpu0/output/clip.mp4", "gpu0/user/comfyui.db", "input/face.png", "extra_model_paths.yaml"):
        (root / "var/lib/comfyui" / path).parent.mkdir(parents=True, exist_ok=True)
        (root / "var/lib/comfyui" / path).write_text(path)
    (root / "etc/systemd/system").mkdir(parents=True)


def _remove(root: Path, **extra: object) -> subprocess.CompletedProcess[str]:
    variables = {
        "comfyui_install_dir": f"{root}/opt/comfyui/ComfyUI",
        "comfyui_venv_dir": f"{root}/opt/comfyui/venv",
        "comfyui_data_dir": f"{root}/var/lib/comfyui",
        "comfyui_systemd_unit_dir": f"{root}/etc/systemd/system",
        "comfyui_service_manager": "process",
        "comfyui_create_user": False,
        "wanprov_cli_venv": f"{root}/opt/wanprov/venv",
        "models_host_cache_dir": f"{root}/var/cache/wanprov/models",
        **extra,
    }
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,  # not whatever python3 PATH finds first
    }
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         str(REPO_ROOT / "playbooks/remove.yml"), "--extra-vars", json.dumps(variables)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_default_layout_keeps_models_inside_the_comfyui_folder(tmp_path: Path) -> None:
    _tree(tmp_path)
    result = _remove(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    comfy = tmp_path / "opt/comfyui/ComfyUI"
    assert sorted(p.name for p in comfy.iterdir()) == ["models"]
    assert (comfy / "models/unet/big.gguf").read_text() == "models/unet/big.gguf"
    assert not (tmp_path / "opt/comfyui/venv").exists()
    assert not (tmp_path / "opt/wanprov").exists()
    data = tmp_path / "var/lib/comfyui"
    assert sorted(str(p.relative_to(data)) for p in data.rglob("*") if p.is_file()) == [
        "gpu0/output/clip.mp4",
        "input/face.png",
    ]
    assert f"{comfy}/models" in result.stdout  # said what it kept

    again = _remove(tmp_path, remove_models=True, remove_user_files=True)
    assert again.returncode == 0, again.stdout + again.stderr
    assert not (tmp_path / "opt/comfyui").exists()  # /opt itself is not ours
    assert not data.exists()
