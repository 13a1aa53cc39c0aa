"""One writer of the service files: the comfyui role has the core write them (wanprov.gpu.instances), as
`wanprov up` does, so the role keeps no template of them, and its settings are the core's defaults."""

from __future__ import annotations

import yaml

from wanprov.service.units import MODEL_FOLDERS


def test_the_roles_model_folders_are_the_cores(repo_root):
    defaults = yaml.safe_load((repo_root / "roles/comfyui/defaults/main.yml").read_text())
    assert defaults["comfyui_model_folders"] == MODEL_FOLDERS


def test_the_role_hands_every_service_setting_to_the_module(repo_root):
    task = yaml.safe_load((repo_root / "roles/comfyui/tasks/service.yml").read_text())[0]
    arguments = task["wanprov.gpu.instances"]
    for variable in ("comfyui_service_env_file", "comfyui_model_folders", "comfyui_service_write_paths",
                     "comfyui_systemd_unit_dir", "comfyui_service_manager", "comfyui_version"):  # fmt: skip
        assert any(variable in str(value) for value in arguments.values()), variable
