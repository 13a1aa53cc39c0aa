"""The instances' service files as the comfyui role has them written (wanprov.gpu.instances: the core's
wanprov.service.units, the one writer, which `wanprov up` uses too), for the role's settings: hostile values
stay inside their directive, credentials stay out of the world-readable unit, and the hardening keeps the GPU
reachable."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ansible_template = pytest.importorskip("ansible.template")
from ansible.parsing.dataloader import DataLoader  # noqa: E402

HOSTILE = 'x"y%h\\z\nExecStartPre=/bin/touch /tmp/pwned'


def _role(repo_root: Path) -> Path:
    return repo_root / "roles" / "comfyui"


def _variables(repo_root: Path, **overrides: Any) -> dict[str, Any]:
    role = _role(repo_root)
    variables = yaml.safe_load((role / "defaults" / "main.yml").read_text())
    variables.update(yaml.safe_load((role / "vars" / "main.yml").read_text()))
    variables = {
        k: ansible_template.trust_as_template(v) if isinstance(v, str) else v for k, v in variables.items()
    }
    variables.update(
        ansible_managed="Ansible managed",
        comfyui_user="comfyui",
        comfyui_group="comfyui",
        comfyui_install_dir="/opt/comfyui/ComfyUI",
        __comfyui_venv_python=sys.executable,
        # GPU 0's instance as the stack plan lists it (comfyui_stack.plan.instances[0]).
        __comfyui_instance=_instance(
            overrides.get("comfyui_port", 8188), overrides.get("comfyui_extra_launch_flags", [])
        ),
    )
    variables.update(overrides)
    return variables


def _instance(port: int, extra_flags: list[str]) -> dict[str, Any]:
    from wanprov.stack.host_plan import StackRequest, TorchRequest, plan_stack

    torch = TorchRequest(variant="cu128", torch="2.9.1", torchvision="0.24.1", torchaudio="2.9.1")
    request = StackRequest(
        install_dir=Path("/opt/comfyui/ComfyUI"), venv_dir=Path(sys.executable).parent.parent,
        data_dir=Path("/var/lib/comfyui"), port=port, torch=torch, launch_flags_auto=False, gpus=[0],
        extra_launch_flags=extra_flags,
    )  # fmt: skip
    return plan_stack(request).instances[0].to_dict()


def render(repo_root: Path, name: str, **overrides: Any) -> str:
    """The file `name` (the role's former template names) for GPU 0's instance and the role's settings."""
    from wanprov.service import units

    value = _variables(repo_root, **overrides)
    settings = units.ServiceSettings(
        user="comfyui", group="comfyui", install_dir="/opt/comfyui/ComfyUI",
        data_dir=value["comfyui_data_dir"], comfyui_version=value["comfyui_version"],
        env_file=evaluate(repo_root, "comfyui_service_env_file", **overrides),
        environment=value["comfyui_service_environment"],
        secret_environment=value["comfyui_service_secret_environment"],
        write_paths=value["comfyui_service_write_paths"],
    )  # fmt: skip
    instance = value["__comfyui_instance"]
    return {
        "comfyui.service.j2": lambda: units.system_unit(instance, settings),
        "comfyui.env.j2": lambda: units.env_file(settings),
        "comfyui-launch.json.j2": lambda: units.launch_file(instance, settings),
    }[name]()


def evaluate(repo_root: Path, expression: str, **overrides: Any) -> Any:
    templar = ansible_template.Templar(loader=DataLoader(), variables=_variables(repo_root, **overrides))
    return templar.evaluate_expression(ansible_template.trust_as_template(expression))


def directives(unit: str) -> list[str]:
    return [line for line in unit.splitlines() if line and not line.startswith(("#", "["))]


def verify(tmp_path: Path, unit: str) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    path = tmp_path / "comfyui.service"
    path.write_text(unit)
    proc = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0 and "comfyui.service" not in proc.stderr, proc.stderr


def test_hostile_values_stay_inside_their_directive(repo_root, tmp_path):
    unit = render(
        repo_root,
        "comfyui.service.j2",
        comfyui_service_environment={"HOSTILE": HOSTILE, "CUDA_VISIBLE_DEVICES": 0},
        comfyui_extra_launch_flags=["--x", "$HOME " + HOSTILE],
        comfyui_service_write_paths=["/srv/a%b c"],
    )
    keys = [line.split("=", 1)[0] for line in directives(unit)]
    assert "ExecStartPre" not in keys and keys.count("ExecStart") == 1
    assert 'Environment="HOSTILE=x\\"y%%h\\\\z\\nExecStartPre=/bin/touch /tmp/pwned"' in unit
    assert 'Environment="CUDA_VISIBLE_DEVICES=0"' in unit
    # in ExecStart= `$` expands a variable: doubled; `%` is a specifier: doubled
    assert '"$$HOME x\\"y%%h\\\\z\\nExecStartPre=/bin/touch /tmp/pwned"' in unit
    assert 'ReadWritePaths=/var/lib/comfyui "/srv/a%%b c"' in unit
    assert f"ExecStart={sys.executable} /opt/comfyui/ComfyUI/main.py --x " in unit  # plain words: as is
    verify(tmp_path, unit)


def test_credentials_go_to_the_root_only_file_not_the_unit(repo_root):
    environment = {"HF_TOKEN": "hf_abc", "MY_API_KEY": "k1", "db_password": "p", "HF_HOME": "/srv/hf"}
    secrets = {"EXTRA": 'a"$b`c\\'}
    unit = render(
        repo_root,
        "comfyui.service.j2",
        comfyui_service_environment=environment,
        comfyui_service_secret_environment=secrets,
    )
    for value in ("hf_abc", "k1", '"db_password=', 'a"$b'):
        assert value not in unit
    assert 'Environment="HF_HOME=/srv/hf"' in unit
    assert "EnvironmentFile=-/etc/systemd/system/comfyui.service.d/secrets.env" in unit
    env_file = render(
        repo_root,
        "comfyui.env.j2",
        comfyui_service_environment=environment,
        comfyui_service_secret_environment=secrets,
    )
    assert directives(env_file) == [
        'EXTRA="a\\"\\$b\\`c\\\\"',  # systemd's env-file escapes inside double quotes: \" \$ \` \\
        'HF_TOKEN="hf_abc"',
        'MY_API_KEY="k1"',
        'db_password="p"',
    ]


def test_env_file_and_launch_file_content_never_shows(repo_root, tmp_path):
    """The role hands the credentials to the module as no_log; --diff shows the unit, never the 0600 files."""
    from wanprov.service.install import InstancesRequest, ServiceRequest, converge_instances
    from wanprov.service.units import ServiceSettings
    from wanprov.stack.host_plan import Instance

    source = (repo_root / "plugins/modules/instances.py").read_text()
    assert '"secret_environment": {"type": "dict", "default": {}, "no_log": True}' in source
    task = yaml.safe_load((_role(repo_root) / "tasks" / "service.yml").read_text())[0]
    assert task["wanprov.gpu.instances"]["secret_environment"] == "{{ __comfyui_env_secret }}"
    record = dict(_instance(8188, []), unit=str(tmp_path / "units/comfyui-gpu0.service"),
                  dir=str(tmp_path / "gpu0"), launch_file=str(tmp_path / "gpu0/comfyui-launch.json"),
                  dirs=[])  # fmt: skip
    settings = ServiceSettings("comfyui", "comfyui", "/opt/comfyui/ComfyUI", str(tmp_path), "abc",
                               env_file=str(tmp_path / "units/comfyui.service.d/secrets.env"),
                               secret_environment={"HF_TOKEN": "hf_secret"})  # fmt: skip
    request = ServiceRequest("process", "comfyui", "comfyui", tmp_path / "units")
    report = converge_instances(
        InstancesRequest([Instance.from_dict(record)], request, settings, dry_run=True)
    )
    shown = {d["after_header"].rsplit("/", 1)[-1]: d["after"] for d in report.diffs}
    assert "ExecStart=" in shown["comfyui-gpu0.service"]
    for name in ("secrets.env", "comfyui-launch.json"):
        assert "hf_secret" not in shown[name] and "not shown" in shown[name], name
    assert not list(tmp_path.rglob("*.service"))  # a dry run writes nothing


def test_hardening_keeps_the_gpu_reachable(repo_root, tmp_path):
    unit = render(repo_root, "comfyui.service.j2")
    keys = dict(line.split("=", 1) for line in directives(unit))
    for key, value in {
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        "RestrictNamespaces": "true",
        "SystemCallFilter": "@system-service",
        "SystemCallErrorNumber": "EPERM",
        "SystemCallArchitectures": "native",
        "ProtectKernelLogs": "true",
        "ProtectHostname": "true",
        "UMask": "0027",
        "NoNewPrivileges": "true",
    }.items():
        assert keys.get(key) == value, key
    # each of these would close /dev/nvidia* (ProtectClock implies DeviceAllow=char-rtc) or break the JIT
    for key in ("PrivateDevices", "DevicePolicy", "DeviceAllow", "ProtectClock", "MemoryDenyWriteExecute"):
        assert key not in keys, key
    verify(tmp_path, unit)


def test_a_privileged_port_gets_only_the_bind_capability(repo_root):
    keys = dict(
        line.split("=", 1) for line in directives(render(repo_root, "comfyui.service.j2", comfyui_port=80))
    )
    assert keys["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    assert keys["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"


def _task(repo_root: Path, name: str) -> dict[str, Any]:
    tasks = yaml.safe_load((_role(repo_root) / "tasks" / "validate.yml").read_text())
    return next(t for t in tasks if t["name"] == name)


def test_environment_names_are_checked(repo_root):
    task = _task(repo_root, "Check the service environment's variable names")
    expression = task["vars"]["__comfyui_env_bad_names"]
    templar = ansible_template.Templar(
        loader=DataLoader(),
        variables=_variables(
            repo_root,
            comfyui_service_environment={"GOOD_1": "x", "1BAD": "x"},
            comfyui_service_secret_environment={"A=B": "x", "_ok": "y"},
        ),
    )
    bad = templar.template(ansible_template.trust_as_template(expression))
    assert bad == ["1BAD", "A=B"]
