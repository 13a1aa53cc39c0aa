"""One unit, two writers: the core's service files (wanprov.service.units, which `wanprov up` writes) are,
byte for byte, what the comfyui role's templates render for the same instance and settings - hostile values,
credentials, a privileged port and extra write paths included."""

from __future__ import annotations

import json

import pytest
import yaml

from wanprov.service.units import (
    MODEL_FOLDERS,
    ServiceSettings,
    env_file,
    extra_model_paths,
    launch_file,
    system_unit,
)

pytest.importorskip("ansible.template")
from test_service_unit import HOSTILE, _instance, evaluate, render

CASES = {
    "defaults": {},
    "hostile": {
        "comfyui_service_environment": {"HF_HOME": HOSTILE, "PLAIN": "1", "API_TOKEN": "tok$en"},
        "comfyui_service_secret_environment": {"S3_PASSWORD": 'p"w`d\\'},
        "comfyui_service_write_paths": ["/srv/out put", "/srv/x%y"],
        "comfyui_extra_launch_flags": ["--preview-method", HOSTILE],
    },
    "privileged port": {"comfyui_port": 80},
}


def settings(repo_root, overrides) -> ServiceSettings:
    defaults = yaml.safe_load((repo_root / "roles/comfyui/defaults/main.yml").read_text())
    value = {**defaults, **overrides}
    return ServiceSettings(
        user="comfyui",
        group="comfyui",
        install_dir="/opt/comfyui/ComfyUI",
        data_dir=value["comfyui_data_dir"],
        comfyui_version=value["comfyui_version"],
        env_file=evaluate(repo_root, "comfyui_service_env_file", **overrides),
        environment=value["comfyui_service_environment"],
        secret_environment=value["comfyui_service_secret_environment"],
        write_paths=value["comfyui_service_write_paths"],
    )


@pytest.mark.parametrize("case", CASES)
def test_the_system_unit_is_the_roles(repo_root, case):
    overrides = CASES[case]
    instance = _instance(overrides.get("comfyui_port", 8188), overrides.get("comfyui_extra_launch_flags", []))
    assert system_unit(instance, settings(repo_root, overrides)) == render(
        repo_root, "comfyui.service.j2", **overrides
    )


@pytest.mark.parametrize("case", CASES)
def test_the_env_and_launch_files_are_the_roles(repo_root, case):
    overrides = CASES[case]
    instance = _instance(overrides.get("comfyui_port", 8188), overrides.get("comfyui_extra_launch_flags", []))
    core = settings(repo_root, overrides)
    assert env_file(core) == render(repo_root, "comfyui.env.j2", **overrides)
    role_launch = render(repo_root, "comfyui-launch.json.j2", **overrides)
    assert json.loads(launch_file(instance, core)) == json.loads(role_launch)
    assert launch_file(instance, core).rstrip("\n") == role_launch.rstrip("\n")


def test_the_models_map_is_the_roles(repo_root):
    defaults = yaml.safe_load((repo_root / "roles/comfyui/defaults/main.yml").read_text())
    assert defaults["comfyui_model_folders"] == MODEL_FOLDERS
    role = render(repo_root, "extra_model_paths.yaml.j2", comfyui_models_dir="/srv/models")
    assert extra_model_paths("/srv/models") == role
