"""The comfyui role's side of the instances (the stack plan lists them: tests/stack/test_host_plan.py):
which units a shrink of comfyui_gpus leaves stale, and each one's launch file, evaluated in-process by
Ansible's own templar from the role's defaults and vars."""

from __future__ import annotations

import pytest
import yaml
from test_service_unit import evaluate

trust_as_template = pytest.importorskip("ansible.template").trust_as_template

DATA = "/var/lib/comfyui"


def test_the_units_left_stale_by_a_shrink_and_their_launch_files(repo_root):
    found = {"files": [{"path": f"/etc/systemd/system/{name}"} for name in
                       ("comfyui-gpu0.service", "comfyui-gpu1.service", "comfyui.service")]}  # fmt: skip
    wanted = [{"unit": "/etc/systemd/system/comfyui-gpu0.service"}]
    stale = evaluate(
        repo_root,
        "__comfyui_stale_launch",
        __comfyui_unit_files=found,
        comfyui_stack={"plan": {"instances": wanted}},
    )
    assert stale == {
        "/etc/systemd/system/comfyui-gpu1.service": f"{DATA}/gpu1/comfyui-launch.json",
        "/etc/systemd/system/comfyui.service": f"{DATA}/comfyui-launch.json",  # the single unit of before
    }


def test_later_plays_see_the_plans_instances_without_argv_or_env(repo_root):
    """What playbooks/stack.yml hands to later plays (wanprov_comfyui.instances): the plan's own records, less
    the command line and environment (the units hold those)."""
    play = yaml.safe_load((repo_root / "playbooks/stack.yml").read_text())[0]
    expression = play["post_tasks"][0]["ansible.builtin.set_fact"]["wanprov_comfyui"]["instances"]
    record = {"name": "gpu0", "gpu": 0, "port": 8188, "url": "http://127.0.0.1:8188", "workflows_dir": "/w",
              "watch_args": ["--unit", "comfyui-gpu0"]}  # fmt: skip
    plan = {"instances": [{**record, "argv": ["python", "main.py"], "env": {"X": "1"}}]}
    inner = expression.strip().removeprefix("{{").removesuffix("}}")
    keys = play["vars"]["wanprov_instance_keys"]  # the play's own list, not the role's internals
    public = evaluate(repo_root, inner, comfyui_stack={"plan": plan}, wanprov_instance_keys=keys)
    assert public == [record]
