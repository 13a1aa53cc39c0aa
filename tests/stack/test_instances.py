"""The instances the host has but the plan no longer wants (the core finds them by the plan's naming), and
what the comfyui role publishes of the plan's instances for later plays (evaluated in-process by Ansible's own
templar from the role's defaults and vars)."""

from __future__ import annotations

import pytest
import yaml
from test_service_unit import evaluate

trust_as_template = pytest.importorskip("ansible.template").trust_as_template

DATA = "/var/lib/comfyui"


def test_the_units_left_stale_by_a_shrink_and_their_launch_files(tmp_path):
    from pathlib import Path

    from wanprov.stack.host_plan import instance_folder, unit_instances

    for name in ("comfyui-gpu0.service", "comfyui-gpu1.service", "comfyui.service", "comfyui-cpu.service",
                 "comfyui-web.service", "other.service"):  # fmt: skip
        (tmp_path / name).write_text("")
    found = unit_instances(tmp_path, "comfyui")
    assert {unit.name: name for unit, name in found.items()} == {
        "comfyui-gpu0.service": "gpu0", "comfyui-gpu1.service": "gpu1", "comfyui-cpu.service": "cpu",
        "comfyui.service": "",  # the single unit of before instances
    }  # fmt: skip
    assert instance_folder(Path(DATA), "gpu1") == Path(f"{DATA}/gpu1")
    assert instance_folder(Path(DATA), "") == Path(DATA)


def test_later_plays_see_the_plans_instances_without_argv_or_env(repo_root):
    """What the comfyui role publishes for later plays (wanprov_comfyui.instances): the plan's own records,
    less the command line and environment (the units hold those)."""
    tasks = yaml.safe_load((repo_root / "roles/comfyui/tasks/stack.yml").read_text())
    task = next(t for t in tasks if "wanprov_comfyui" in t.get("ansible.builtin.set_fact", {}))
    expression = task["ansible.builtin.set_fact"]["wanprov_comfyui"]["instances"]
    record = {"name": "gpu0", "gpu": 0, "port": 8188, "url": "http://127.0.0.1:8188", "workflows_dir": "/w",
              "watch_args": ["--unit", "comfyui-gpu0"]}  # fmt: skip
    plan = {"instances": [{**record, "argv": ["python", "main.py"], "env": {"X": "1"}}]}
    inner = expression.strip().removeprefix("{{").removesuffix("}}")
    public = evaluate(repo_root, inner, comfyui_stack={"plan": plan})
    assert public == [record]
