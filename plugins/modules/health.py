#!/usr/bin/python
# Copyright: wanprov maintainers
# SPDX-License-Identifier: Apache-2.0
"""wanprov.gpu.health: a thin adapter over wanprov.health.instance (one ComfyUI instance's health)."""

# ruff: noqa: E402 - Ansible modules carry DOCUMENTATION/EXAMPLES/RETURN before their imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: health
short_description: Check a ComfyUI instance answers and its workflows validate on it (wanprov health check)
description:
  - Waits for the instance to answer C(GET /system_stats), and stops waiting at once, with the tail of its
    log, when its service has exited or restarted (C(exit_code) 11; 5 when it runs but does not answer).
  - Validates each rendered API workflow (C(*.api.json)) in I(workflows_dir) against the instance's live
    C(/object_info) and lists every file each one names (node, loader input, folders, C(present) or
    C(missing) in the server's own list). A LoadImage image the server does not list is always an error,
    and with I(require_files) so is a missing model file, as the server's C(POST /prompt) would refuse
    the workflow.
  - With I(smoke), on an instance with a GPU whose VRAM I(tier) is not C(none) and whose workflows are
    valid, runs one shipped template at a tiny size end to end and reads its output back (container,
    codec, frames, size, fps, every frame decoded, pixels alive).
  - Read-only apart from the smoke's one output file; never reports C(changed). Check mode runs every check
    but the smoke.
  - Runs on the host under the wanprov venv's Python (set C(ansible_python_interpreter) for the task).
version_added: 0.1.0
author:
  - wanprov maintainers (!UNKNOWN)
requirements:
  - wanprov (the core, importable by the interpreter the module runs under)
options:
  url:
    description: The instance's base URL (C(http://127.0.0.1:8188)).
    type: str
    required: true
  workflows_dir:
    description: The instance's rendered workflows, C(<user dir>/default/workflows).
    type: path
    required: true
  unit:
    description: The instance's systemd unit (its journal is the log). Or I(pidfile) with I(log).
    type: str
  pidfile:
    description: The C(process) supervisor's pid file of the instance.
    type: path
  log:
    description: The C(process) supervisor's log file of the instance.
    type: path
  host:
    description: The host's name in the result (the inventory's).
    type: str
    default: ""
  gpu:
    description: The instance's GPU (nvidia-smi index); omitted for a C(--cpu) instance.
    type: int
  tier:
    description: The GPU's VRAM tier; C(none) (or omitted) runs no smoke.
    type: str
  require_files:
    description: A file the live server does not list is an error (once the models are in place).
    type: bool
    default: false
  comfyui_dir:
    description: Also look each file up in this ComfyUI folder's model folders.
    type: path
  timeout:
    description: Seconds, wall time, to answer and serve /system_stats and /object_info.
    type: float
    default: 60
  interval:
    description: Seconds between polls while waiting.
    type: float
    default: 2
  smoke:
    description: Run I(smoke_template) at a tiny size (never in check mode).
    type: bool
    default: false
  smoke_template:
    description: The template of the smoke run; its family must match I(profile).
    type: str
    default: wan22-i2v-gguf-lightning
  profile:
    description: The model profile of the smoke run; omitted, the tier's.
    type: str
  smoke_timeout:
    description: Seconds, wall time, for the smoke's upload, queueing and result.
    type: float
    default: 900
  fail_on_unhealthy:
    description: Fail the task when the instance is not healthy (C(false) returns the result and succeeds).
    type: bool
    default: true
notes:
  - Check mode is supported (everything but the smoke). Diff mode has nothing to show.
  - The C(wanprov health check) command calls the same core.
seealso:
  - module: wanprov.gpu.workflows
"""

EXAMPLES = r"""
- name: Check GPU 0's instance, every model file required
  wanprov.gpu.health:
    url: http://127.0.0.1:8188
    workflows_dir: /var/lib/comfyui/gpu0/user/default/workflows
    unit: comfyui-gpu0
    gpu: 0
    require_files: true
  vars:
    ansible_python_interpreter: /opt/wanprov/venv/bin/python
  register: health
"""

RETURN = r"""
schema:
  description: The result's schema and version.
  returned: always
  type: str
  sample: wanprov.instance-health/2
ok:
  description: The instance answered, every workflow validates (and the smoke, when run, wrote its output).
  returned: always
  type: bool
error:
  description: Why it is not healthy (the service log's tail when it died), or null.
  returned: always
  type: str
exit_code:
  description: What C(wanprov health check) exits with (0, 1, 5, 11, 12, 13; docs/exit-codes.md).
  returned: always
  type: int
workflows_validated:
  description: The workflows that validate.
  returned: always
  type: int
workflows_total:
  description: The workflows checked.
  returned: always
  type: int
files_required:
  description: Whether a file the server does not list counted as an error.
  returned: always
  type: bool
workflows:
  description: Each workflow checked, its problems and every file it names (C(files_checked)).
  returned: always
  type: list
  elements: dict
  sample:
    - file: /var/lib/comfyui/gpu0/user/default/workflows/wan22-i2v-gguf-lightning.api.json
      ok: true
      problems: []
      files_checked:
        - {node_id: "1", class_type: UnetLoaderGGUF, input: unet_name,
           name: Wan2.2-I2V-A14B-HighNoise-Q5_K_S.gguf, folders: [models/unet, models/diffusion_models],
           status: present, required: true}
comfyui_version:
  description: What the instance's C(/system_stats) reports.
  returned: when it answered
  type: str
smoke:
  description:
    - The smoke run's report (schema C(wanprov.workflow-smoke/2)), or null when it did not run.
    - Its C(media) (the facts read back from each output), C(stages) (seconds per stage, from ComfyUI's
      progress events), C(memory) (peak RAM/VRAM) and C(output) (the absolute path on the host).
  returned: always
  type: dict
"""

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wanprov.gpu.plugins.module_utils.core import WanprovError, fail_from, require_wanprov


def main():
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "workflows_dir": {"type": "path", "required": True},
            "unit": {"type": "str"},
            "pidfile": {"type": "path"},
            "log": {"type": "path"},
            "host": {"type": "str", "default": ""},
            "gpu": {"type": "int"},
            "tier": {"type": "str"},
            "require_files": {"type": "bool", "default": False},
            "comfyui_dir": {"type": "path"},
            "timeout": {"type": "float", "default": 60},
            "interval": {"type": "float", "default": 2},
            "smoke": {"type": "bool", "default": False},
            "smoke_template": {"type": "str", "default": "wan22-i2v-gguf-lightning"},
            "profile": {"type": "str"},
            "smoke_timeout": {"type": "float", "default": 900},
            "fail_on_unhealthy": {"type": "bool", "default": True},
        },
        mutually_exclusive=[("unit", "pidfile"), ("unit", "log")],
        required_together=[("pidfile", "log")],
        required_one_of=[("unit", "pidfile")],
        supports_check_mode=True,
    )
    require_wanprov(module)
    from wanprov.health.instance import HealthRequest, SmokeRequest, check_instance
    from wanprov.stack.service_wait import watch_for

    params = module.params
    # The smoke writes one output file on the instance: never in check mode.
    smoke = params["smoke"] and not module.check_mode
    try:
        request = HealthRequest(
            url=params["url"],
            workflows_dir=Path(params["workflows_dir"]),
            watch=watch_for(
                params["unit"],
                Path(params["pidfile"]) if params["pidfile"] else None,
                Path(params["log"]) if params["log"] else None,
            ),
            host=params["host"],
            gpu=params["gpu"],
            tier=params["tier"],
            require_files=params["require_files"],
            comfyui_dir=Path(params["comfyui_dir"]) if params["comfyui_dir"] else None,
            wait_timeout_s=params["timeout"],
            interval_s=params["interval"],
            smoke=SmokeRequest(params["smoke_template"], params["profile"], params["smoke_timeout"])
            if smoke
            else None,
        )
        result = check_instance(request).to_dict()
    except WanprovError as error:
        fail_from(module, error)
    if not result["ok"] and params["fail_on_unhealthy"]:
        module.fail_json(msg=f"{result['url']}: {result['error']}", **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
