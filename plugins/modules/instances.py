#!/usr/bin/python
# Copyright: wanprov maintainers
# SPDX-License-Identifier: Apache-2.0
"""wanprov.gpu.instances: the stack plan's ComfyUI instances as services (files written by the core)."""

# ruff: noqa: E402 - Ansible modules carry DOCUMENTATION/EXAMPLES/RETURN before their imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: instances
short_description: Write, start and stop the stack plan's ComfyUI instances
description:
  - With O(state=started), for the instances of the stack plan (RV(wanprov.gpu.stack#module:plan.instances)),
    the core's one writer makes each instance's folders, the models map (O(models_dir)), the root-only
    environment file, each instance's hardened systemd unit and launch file, stops and removes the
    instances whose unit is here but not in the plan, then starts each instance (restarts it when its
    files, or something every instance shares, changed) and waits until it answers C(GET /system_stats).
  - What it writes is what C(wanprov up) writes, byte for byte.
  - With O(state=stopped), stops every instance whose unit is in O(unit_dir) (their launch files in
    O(data_dir)), e.g. before the service user's account changes or the stack is removed.
extends_documentation_fragment:
  - wanprov.gpu.attributes
attributes:
  check_mode:
    support: full
    details: Says what would be written, removed, started or stopped; touches nothing.
  diff_mode:
    support: full
    details: The units, the models map and the folders; the environment and launch files hold credentials, so
      their content is never shown.
options:
  state:
    description: C(started) converges and starts the instances; C(stopped) stops every instance found.
    type: str
    choices: [started, stopped]
    default: started
  instances:
    description: The stack plan's instances, as C(wanprov.gpu.stack) returns them (C(plan.instances)).
    type: list
    elements: dict
    default: []
  manager:
    description: C(systemd); C(process) is a TEST-ONLY supervisor for machines where systemd is not PID 1.
    type: str
    choices: [systemd, process]
    default: systemd
  user:
    description: The service user (owns the data folders; runs the instances).
    type: str
    default: comfyui
  group:
    description: The service user's group.
    type: str
    default: comfyui
  install_dir:
    description: The ComfyUI checkout (the working directory).
    type: path
    default: /opt/comfyui/ComfyUI
  data_dir:
    description: The instances' data folder (input, and one folder per instance).
    type: path
    default: /var/lib/comfyui
  models_dir:
    description: Models outside the checkout; the models map points ComfyUI there. Unset - a map left by an
      earlier run is removed.
    type: path
  model_folders:
    description: ComfyUI's model folder -> the subfolders of O(models_dir) it lists.
    type: dict
  unit_dir:
    description: Where the units are written.
    type: path
    default: /etc/systemd/system
  service_name:
    description: Each instance's service is C(<service_name>-gpuN) (C(-cpu) without a GPU).
    type: str
    default: comfyui
  env_file:
    description: The root-only environment file every unit reads (credentials).
    type: path
  environment:
    description: The instances' environment; names that look like credentials go to O(env_file) only.
    type: dict
    default: {}
  secret_environment:
    description: Environment kept out of the world-readable units (in O(env_file) and the launch files).
    type: dict
    default: {}
  write_paths:
    description: Folders the service may write besides O(data_dir) (ReadWritePaths=).
    type: list
    elements: path
    default: []
  comfyui_version:
    description: The ComfyUI commit (the units' description).
    type: str
    default: ""
  enabled:
    description: Start the instances at boot (O(state=stopped) - C(false) disables them too).
    type: bool
  restart:
    description: Something every instance shares changed (ComfyUI, node packs, torch) - restart each one.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait for each instance to answer; it fails at once when the service exits.
    type: float
    default: 120
  wait_interval:
    description: Seconds between polls.
    type: float
    default: 2
version_added: 0.1.0
author:
  - wanprov maintainers (!UNKNOWN)
requirements:
  - wanprov (the module runs under the wanprov venv's Python)
"""

EXAMPLES = r"""
- name: Write and start each instance of the stack plan
  wanprov.gpu.instances:
    instances: "{{ comfyui_stack.plan.instances }}"
    models_dir: /srv/models
    restart: "{{ comfyui_stack is changed }}"
  vars:
    ansible_python_interpreter: /opt/wanprov/venv/bin/python

- name: Stop every instance
  wanprov.gpu.instances:
    state: stopped
    enabled: false
  vars:
    ansible_python_interpreter: /opt/wanprov/venv/bin/python
"""

RETURN = r"""
changes:
  description: The paths written or removed and the services started or stopped (check mode - would be).
  returned: always
  type: list
  elements: str
started:
  description: The services started or restarted by this run.
  returned: always
  type: list
  elements: str
stopped:
  description: The services stopped (O(state=stopped)), or the stale instances' units stopped and removed.
  returned: always
  type: list
  elements: str
"""

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wanprov.gpu.plugins.module_utils.core import WanprovError, fail_from, require_wanprov

ARGUMENT_SPEC = {
    "state": {"type": "str", "choices": ["started", "stopped"], "default": "started"},
    "instances": {"type": "list", "elements": "dict", "default": []},
    "manager": {"type": "str", "choices": ["systemd", "process"], "default": "systemd"},
    "user": {"type": "str", "default": "comfyui"},
    "group": {"type": "str", "default": "comfyui"},
    "install_dir": {"type": "path", "default": "/opt/comfyui/ComfyUI"},
    "data_dir": {"type": "path", "default": "/var/lib/comfyui"},
    "models_dir": {"type": "path"},
    "model_folders": {"type": "dict"},
    "unit_dir": {"type": "path", "default": "/etc/systemd/system"},
    "service_name": {"type": "str", "default": "comfyui"},
    "env_file": {"type": "path"},
    "environment": {"type": "dict", "default": {}},
    "secret_environment": {"type": "dict", "default": {}, "no_log": True},
    "write_paths": {"type": "list", "elements": "path", "default": []},
    "comfyui_version": {"type": "str", "default": ""},
    "enabled": {"type": "bool"},
    "restart": {"type": "bool", "default": False},
    "wait_timeout": {"type": "float", "default": 120},
    "wait_interval": {"type": "float", "default": 2},
}


def instances_request(params, check_mode):
    """The module's parameters as the core's typed request."""
    from wanprov.service.install import InstancesRequest, ServiceRequest
    from wanprov.service.units import MODEL_FOLDERS, ServiceSettings
    from wanprov.stack.host_plan import Instance

    service = ServiceRequest(
        manager="system" if params["manager"] == "systemd" else params["manager"], user=params["user"],
        group=params["group"], unit_dir=Path(params["unit_dir"]), service_name=params["service_name"],
        wait_timeout_s=params["wait_timeout"], wait_interval_s=params["wait_interval"],
        enabled=params["enabled"] is not False,
    )  # fmt: skip
    settings = ServiceSettings(
        user=params["user"], group=params["group"], install_dir=params["install_dir"],
        data_dir=params["data_dir"], comfyui_version=params["comfyui_version"],
        env_file=params["env_file"] or f"{params['unit_dir']}/{params['service_name']}.service.d/secrets.env",
        environment=params["environment"], secret_environment=params["secret_environment"],
        write_paths=params["write_paths"],
    )  # fmt: skip
    return InstancesRequest(
        instances=[Instance.from_dict(record) for record in params["instances"]], service=service,
        settings=settings, models_dir=Path(params["models_dir"]) if params["models_dir"] else None,
        model_folders=params["model_folders"] or MODEL_FOLDERS, restart_all=params["restart"],
        dry_run=check_mode,
    )  # fmt: skip


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    require_wanprov(module)
    from wanprov.service.install import converge_instances, stop_instances

    params = module.params
    try:
        wanted = instances_request(params, module.check_mode)
        if params["state"] == "stopped":
            disable = params["enabled"] is False
            stopped = stop_instances(
                wanted.service, Path(params["data_dir"]), disable=disable, dry_run=module.check_mode
            )
            module.exit_json(changed=bool(stopped), changes=stopped, started=[], stopped=stopped)
        report = converge_instances(wanted)
    except WanprovError as error:
        fail_from(module, error)
    result = {"changed": bool(report.changes), "changes": report.changes, "started": report.started,
              "stopped": report.stopped}  # fmt: skip
    if module._diff and report.diffs:
        result["diff"] = report.diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
