#!/usr/bin/python
# Copyright: wanprov maintainers
# SPDX-License-Identifier: Apache-2.0
"""wanprov.gpu.workflows: a thin adapter over wanprov.workflows.install (render the set, write the rest)."""

# ruff: noqa: E402 - Ansible modules carry DOCUMENTATION/EXAMPLES/RETURN before their imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: workflows
short_description: Install wanprov's workflows, tuned for this host, into ComfyUI (wanprov workflow install)
description:
  - Renders each template in both formats (C(NAME.api.json) and the editor's C(NAME.json)) for the host's VRAM
    tier, profile and NVENC, validated against the pinned node schemas, then writes only the files whose
    content, mode or owner differ, atomically.
  - The whole set is rendered before anything is written, so a bad template or setting changes nothing.
  - In check mode it renders and compares, and writes nothing. With C(--diff) it lists the files to write.
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
  dest:
    description: The folder to install into (ComfyUI's C(<user dir>/default/workflows)); made 0755 if missing.
    type: path
    required: true
  templates:
    description: The templates to install (C(wanprov workflow list)); empty installs every shipped template.
    type: list
    elements: str
    default: []
  preset:
    description: A resolution preset; omitted, the tier's.
    type: str
  profile:
    description: The model profile the workflows load; omitted, the tier's.
    type: str
  tier:
    description: The VRAM tier; omitted, the one measured in I(facts).
    type: str
  nvenc:
    description: Whether NVENC encodes work on this host; omitted, what I(facts) found.
    type: bool
  facts:
    description: A facts file (C(wanprov doctor --save-facts)) giving the tier and NVENC.
    type: path
  gpu:
    description:
      - The GPU (nvidia-smi index) of I(facts) whose tier and NVENC apply (each GPU has its own encode
        verdict); omitted, the first GPU's.
    type: int
  set:
    description: Template parameter overrides as C(KEY=VALUE) (as C(wanprov workflow install --set)).
    type: list
    elements: str
    default: []
  owner:
    description: Owner of the folder and files; omitted, left as is.
    type: str
  mode:
    description: The files' mode (octal string).
    type: str
    default: "0644"
  object_info:
    description: Node schemas (C(GET /object_info) JSON) to validate against; omitted, the vendored ones.
    type: path
notes:
  - The C(wanprov workflow install) command calls the same core.
seealso:
  - module: wanprov.gpu.doctor
"""

EXAMPLES = r"""
- name: Install the Wan 2.2 I2V workflow for this host
  wanprov.gpu.workflows:
    dest: /var/lib/comfyui/user/default/workflows
    templates: [wan22-i2v-gguf-lightning]
    tier: "{{ doctor.summary.vram_tier }}"
    profile: "{{ doctor.summary.recommended_profile }}"
    owner: comfyui
  vars:
    ansible_python_interpreter: /opt/wanprov/venv/bin/python
"""

RETURN = r"""
schema:
  description: The result's schema and version.
  returned: always
  type: str
  sample: wanprov.workflow-install/1
dest:
  description: The folder.
  returned: always
  type: str
files:
  description: Each file and its status (C(unchanged), C(written), or C(pending) in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{name: wan22-i2v-gguf-lightning.api.json, status: written}]
dir:
  description: The folder itself (created, or mode or owner fixed) - C(unchanged), C(written) or C(pending).
  returned: always
  type: str
notes:
  description: What the renderer chose and why (tier, nvenc, omitted nodes).
  returned: always
  type: list
  elements: str
"""

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wanprov.gpu.plugins.module_utils.core import WanprovError, fail_from, require_wanprov

ARGUMENT_SPEC = {
    "dest": {"type": "path", "required": True},
    "templates": {"type": "list", "elements": "str", "default": []},
    "preset": {"type": "str"},
    "profile": {"type": "str"},
    "tier": {"type": "str"},
    "nvenc": {"type": "bool"},
    "facts": {"type": "path"},
    "gpu": {"type": "int"},
    "set": {"type": "list", "elements": "str", "default": []},
    "owner": {"type": "str"},
    "mode": {"type": "str", "default": "0644"},
    "object_info": {"type": "path"},
}


def _file_diff(path, text):
    """The file as it is (empty when missing) and as it will be; a mode or owner fix alone shows no lines."""
    try:
        before = path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        before = ""
    return {"before_header": str(path), "after_header": str(path), "before": before, "after": text}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    require_wanprov(module)
    from wanprov.workflows.install import InstallWorkflowsRequest, RenderRequest, install_workflows
    from wanprov.workflows.params import parse_set

    params = module.params
    try:
        render = RenderRequest(
            preset=params["preset"], profile=params["profile"], tier=params["tier"], nvenc=params["nvenc"],
            overrides=parse_set(params["set"]), facts_file=Path(params["facts"]) if params["facts"] else None,
            gpu=params["gpu"],
        )  # fmt: skip
        request = InstallWorkflowsRequest(
            dest=Path(params["dest"]), templates=params["templates"], render=render, mode=params["mode"],
            owner=params["owner"], object_info=params["object_info"], dry_run=module.check_mode,
        )  # fmt: skip
        report = install_workflows(request)
    except WanprovError as error:
        fail_from(module, error)
    result = report.result
    document = result.to_dict()
    document.pop("changed")
    if module._diff and result.changed:
        document["diff"] = [
            _file_diff(result.dest / f.name, report.files[f.name])
            for f in result.files
            if f.status != "unchanged"
        ]
    module.exit_json(changed=result.changed, notes=report.notes, **document)


if __name__ == "__main__":
    main()
