"""The comfyui role's instances (one ComfyUI per GPU), evaluated in-process by Ansible's own templar from the
role's defaults and vars: ports, devices, flags per GPU, folders, and which units a shrink leaves stale."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from test_service_unit import evaluate

trust_as_template = pytest.importorskip("ansible.template").trust_as_template

DATA = "/var/lib/comfyui"
# A doctor summary of a mixed workstation: GPU 0 large (no flags), GPU 1 small (--lowvram), GPU 2 failed.


def _gpu(index: int, name: str, tier: str, profile: str, flags: list[str], verdict: str = "ready") -> dict:
    return {"index": index, "name": name, "vram_tier": tier, "recommended_profile": profile,
            "launch_flags": flags, "verdict": verdict}  # fmt: skip


SUMMARY = {
    "launch_flags": [],
    "gpus": [
        _gpu(0, "RTX 4090", "large", "q5", []),
        _gpu(1, "RTX 3060", "small", "q3", ["--lowvram"]),
        _gpu(2, "RTX 5090", "large", "q5", [], "fail"),
    ],
    "usable_gpus": [0, 1],
}


def _instances(repo_root, **overrides: Any) -> list[dict[str, Any]]:
    return evaluate(repo_root, "__comfyui_instances", **{"__comfyui_summary": SUMMARY, **overrides})


def _flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_all_means_the_doctors_usable_gpus_each_with_its_own_port_device_flags_and_folders(repo_root):
    instances = _instances(repo_root, comfyui_port=8188)
    assert [i["name"] for i in instances] == ["gpu0", "gpu1"]
    for index, instance in enumerate(instances):
        argv = instance["argv"]
        assert _flag(argv, "--cuda-device") == str(index)
        assert (
            _flag(argv, "--port") == str(8188 + index)
            and instance["url"] == f"http://127.0.0.1:{8188 + index}"
        )
        for flag, sub in (
            ("--output-directory", "output"),
            ("--temp-directory", "temp"),
            ("--user-directory", "user"),
        ):
            assert _flag(argv, flag) == f"{DATA}/gpu{index}/{sub}"
        assert _flag(argv, "--input-directory") == f"{DATA}/input"  # shared
        assert instance["env"]["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
        assert instance["service"] == f"comfyui-gpu{index}"
        assert instance["unit"] == f"/etc/systemd/system/comfyui-gpu{index}.service"
    # Each GPU's own tier flags: the small card gets --lowvram, the large one does not.
    assert "--lowvram" not in instances[0]["argv"] and "--lowvram" in instances[1]["argv"]
    assert (instances[0]["tier"], instances[0]["profile"]) == ("large", "q5")
    assert (instances[1]["tier"], instances[1]["profile"]) == ("small", "q3")


def test_a_list_and_a_port_map(repo_root):
    instances = _instances(repo_root, comfyui_gpus=[1], comfyui_ports={1: 9001})
    assert [(i["gpu"], i["port"]) for i in instances] == [(1, 9001)]
    # JSON extra vars give the map string keys
    assert _instances(repo_root, comfyui_gpus=[1], comfyui_ports={"1": 9002})[0]["port"] == 9002


def test_explicit_launch_flags_apply_to_every_instance(repo_root):
    instances = _instances(
        repo_root, comfyui_launch_flags=["--highvram"], __comfyui_tier_flags=["--highvram"]
    )
    assert all("--highvram" in i["argv"] and "--lowvram" not in i["argv"] for i in instances)


def test_a_cpu_host_runs_one_instance_without_a_device(repo_root):
    (instance,) = _instances(
        repo_root, __comfyui_summary={"gpus": [], "usable_gpus": []}, __comfyui_tier_flags=["--cpu"]
    )
    assert instance["name"] == "cpu" and instance["gpu"] is None and "--cuda-device" not in instance["argv"]
    assert "CUDA_DEVICE_ORDER" not in instance["env"] and instance["service"] == "comfyui-cpu"


def test_credentials_stay_out_of_the_instance_environment(repo_root):
    (instance, _) = _instances(
        repo_root, comfyui_service_environment={"HF_TOKEN": "hf_x", "HF_HOME": "/srv/hf"}
    )
    assert instance["env"] == {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "HF_HOME": "/srv/hf"}


def test_the_units_left_stale_by_a_shrink_and_their_launch_files(repo_root):
    found = {"files": [{"path": f"/etc/systemd/system/{name}"} for name in
                       ("comfyui-gpu0.service", "comfyui-gpu1.service", "comfyui.service")]}  # fmt: skip
    variables = {
        "__comfyui_unit_files": found,
        "__comfyui_settled_instances": _instances(repo_root, comfyui_gpus=[0]),
    }
    stale = evaluate(repo_root, "__comfyui_stale_launch", **variables)
    assert stale == {
        "/etc/systemd/system/comfyui-gpu1.service": f"{DATA}/gpu1/comfyui-launch.json",
        "/etc/systemd/system/comfyui.service": f"{DATA}/comfyui-launch.json",  # the single unit of before
    }


def _gpus_accepted(repo_root, comfyui_gpus: Any) -> bool:
    """Every condition of the role's comfyui_gpus check, with the task's own vars."""
    tasks = yaml.safe_load((repo_root / "roles/comfyui/tasks/service.yml").read_text())
    task = next(t for t in tasks if t["name"].startswith("Check comfyui_gpus"))
    variables = {"__comfyui_summary": SUMMARY, "comfyui_gpus": comfyui_gpus}
    variables["__comfyui_settled_instances"] = _instances(repo_root, **variables)
    variables.update({name: trust_as_template(value) for name, value in task["vars"].items()})
    conditions = task["ansible.builtin.assert"]["that"]
    return all(evaluate(repo_root, condition, **variables) for condition in conditions)


@pytest.mark.parametrize(
    ("comfyui_gpus", "accepted"),
    [
        ("all", True),
        ([1, 0], True),
        ([2], False),  # the doctor failed GPU 2
        ([5], False),  # no GPU 5 on the host
        ([0, 0], False),
        ([], False),
        ("0,1", False),  # a string, not a list
        ([0, "1"], False),
    ],
)
def test_comfyui_gpus_is_checked_against_the_doctors_gpus(repo_root, comfyui_gpus, accepted):
    assert _gpus_accepted(repo_root, comfyui_gpus) is accepted
