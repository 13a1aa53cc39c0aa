#!/usr/bin/python
# Copyright: wanprov maintainers
# SPDX-License-Identifier: Apache-2.0
"""wanprov.gpu.models: a thin adapter over wanprov.models (catalog, lock, fetch plan, fetch)."""

# ruff: noqa: E402 - Ansible modules carry DOCUMENTATION/EXAMPLES/RETURN before their imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: models
short_description: Fetch a profile's model files, verified, into ComfyUI's folders (wanprov fetch-models)
description:
  - Plans a model profile against the models folder (what is there and verified, what is to download, copy
    or hash) and fetches what is missing, resumable and in parallel, each file checked against its sha256.
  - In check mode it computes the same plan and downloads and writes nothing (as C(wanprov fetch-models
    --dry-run), it asks the hub once per file with a short timeout, and plans from the catalog and lock when
    the hub is unreachable).
  - With C(--diff) it shows the files present before and after.
  - Runs on the host under the wanprov venv's Python (set C(ansible_python_interpreter) for the task).
version_added: 0.1.0
author:
  - wanprov maintainers (!UNKNOWN)
requirements:
  - wanprov (the core, importable by the interpreter the module runs under)
extends_documentation_fragment:
  - wanprov.gpu.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
options:
  profile:
    description: The model profile (C(wanprov models list)).
    type: str
    required: true
  models_dir:
    description: ComfyUI's models folder itself.
    type: path
    required: true
  custom_nodes_dir:
    description:
      - ComfyUI's C(custom_nodes) folder, for the files a node pack reads from its own folder (RIFE VFI's
        C(ckpts/rife/rife49.pth)); a profile with such a file and no I(custom_nodes_dir) is refused.
    type: path
  manifests:
    description: Your own catalog or profile YAML files on the host (same format as the shipped catalog).
    type: list
    elements: path
    default: []
  lock:
    description: The lock file to read (default the one beside each manifest).
    type: path
  only:
    description: Only entries whose id, name or folder/name match one of these globs.
    type: list
    elements: str
    default: []
  from_dir:
    description: Copy from a local or NFS mirror laid out like the models folder instead of the Hub.
    type: path
  jobs:
    description: Files fetched in parallel.
    type: int
    default: 4
  hf_token:
    description: A Hugging Face token for gated repositories (never logged, never returned).
    type: str
  hf_endpoint:
    description: A Hub mirror (C(HF_ENDPOINT)).
    type: str
notes:
  - The C(wanprov fetch-models) command calls the same core.
seealso:
  - module: wanprov.gpu.doctor
"""

EXAMPLES = r"""
- name: Fetch the profile the doctor recommends
  wanprov.gpu.models:
    profile: "{{ doctor.summary.recommended_profile }}"
    models_dir: /opt/comfyui/ComfyUI/models
    hf_token: "{{ vault_hf_token | default(omit) }}"
  vars:
    ansible_python_interpreter: /opt/wanprov/venv/bin/python

- name: Copy from the controller's cache already on the host
  wanprov.gpu.models:
    profile: wan22-i2v-a14b-q4km-lightning
    models_dir: /opt/comfyui/ComfyUI/models
    from_dir: /var/cache/wanprov/models
  vars:
    ansible_python_interpreter: /opt/wanprov/venv/bin/python
"""

RETURN = r"""
schema:
  description: The plan's schema and version.
  returned: always
  type: str
  sample: wanprov.fetch/1
profile:
  description: The profile fetched.
  returned: always
  type: str
models_dir:
  description: The models folder.
  returned: always
  type: str
source:
  description: C(hub) or the mirror folder.
  returned: always
  type: str
files:
  description: Per file its C(status) (present, pending, downloaded, copied, failed), C(action) and pins.
  returned: always
  type: list
  elements: dict
to_download_bytes:
  description: Bytes still to transfer.
  returned: always
  type: int
free_bytes:
  description: Free bytes where the models go.
  returned: always
  type: int
ok:
  description: Every file is present and verified.
  returned: always
  type: bool
"""

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wanprov.gpu.plugins.module_utils.core import WanprovError, fail_from, require_wanprov

ARGUMENT_SPEC = {
    "profile": {"type": "str", "required": True},
    "models_dir": {"type": "path", "required": True},
    "custom_nodes_dir": {"type": "path"},
    "manifests": {"type": "list", "elements": "path", "default": []},
    "lock": {"type": "path"},
    "only": {"type": "list", "elements": "str", "default": []},
    "from_dir": {"type": "path"},
    "jobs": {"type": "int", "default": 4},
    "hf_token": {"type": "str", "no_log": True},
    "hf_endpoint": {"type": "str"},
}


def fetch_request(params, check_mode):
    from wanprov.models.profile import FetchProfileRequest

    path = lambda name: Path(params[name]) if params[name] else None  # noqa: E731
    return FetchProfileRequest(
        profile=params["profile"], models_dir=path("models_dir"), custom_nodes_dir=path("custom_nodes_dir"),
        manifests=[Path(m) for m in params["manifests"]], lock=path("lock"), only=params["only"],
        from_dir=path("from_dir"), jobs=params["jobs"], dry_run=check_mode,
    )  # fmt: skip


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    require_wanprov(module)
    import os

    from wanprov.models.profile import fetch_profile

    params = module.params
    # The core reads the token and the endpoint where huggingface_hub does: the environment, at call time.
    if params["hf_token"]:
        os.environ["HF_TOKEN"] = params["hf_token"]
    if params["hf_endpoint"]:
        os.environ["HF_ENDPOINT"] = params["hf_endpoint"]
    try:
        report = fetch_profile(fetch_request(params, module.check_mode))
    except WanprovError as error:
        fail_from(module, error)
    plan, changed = report.plan, report.changed
    result = plan.to_dict()
    if plan.errors:
        worst = max(plan.errors, key=lambda e: int(e.exit_code))
        fail_from(module, worst, changed=changed, **result)
    if module._diff and changed:
        header = f"{plan.models_dir} (verified files)"
        result["diff"] = {"before_header": header, "after_header": header,
                          "before": "".join(f"{p}\n" for p in report.present_before),
                          "after": "".join(f"{s.entry.relpath}\n" for s in plan.files)}  # fmt: skip
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
