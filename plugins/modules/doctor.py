#!/usr/bin/python
# Copyright: wanprov maintainers
# SPDX-License-Identifier: Apache-2.0
"""wanprov.gpu.doctor: a thin adapter over wanprov.facts (probes) and wanprov.doctor (rules, summary)."""

# ruff: noqa: E402 - Ansible modules carry DOCUMENTATION/EXAMPLES/RETURN before their imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: doctor
short_description: Probe a GPU host and judge whether it is ready for ComfyUI and Wan 2.2 (wanprov doctor)
description:
  - Probes the host (GPU and driver through NVML or C(nvidia-smi), the target interpreter's torch, a one-frame
    NVENC encode, disk, ComfyUI) or loads a recorded facts file, and judges it with wanprov's rules.
  - Returns the facts, every finding with its fix, the verdict and the C(summary) the other modules read (the
    torch wheel for this driver and GPU, the VRAM tier, its launch flags and model profile).
  - Read-only; never reports C(changed). Check mode runs the same probes.
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
    support: none
    details: Read-only, so there is nothing to show.
options:
  comfyui_dir:
    description: A ComfyUI checkout; its venv's torch is probed and its version, nodes and flags read.
    type: path
  models_dir:
    description: Where models go (free disk is measured there). Default I(comfyui_dir)/models.
    type: path
  python:
    description: The interpreter whose torch is probed. Default the ComfyUI venv's, else the module's own.
    type: path
  profile:
    description:
      - A model profile to check against the GPU's VRAM tier and to size the free disk for (what is
        still to fetch into I(models_dir), plus headroom).
      - Default each GPU's recommended profile.
    type: str
  manifests:
    description: Your own model catalogs (as C(wanprov fetch-models --manifest)), where I(profile) is found.
    type: list
    elements: path
    default: []
  torch:
    description: Probe torch (C(false) is fast, no C(import torch)).
    type: bool
    default: true
  nvenc:
    description: Run the one-frame NVENC encodes.
    type: bool
    default: true
  facts:
    description: Judge this recorded facts file (C(wanprov doctor --save-facts)) instead of probing.
    type: path
  strict:
    description: WARN findings fail the verdict too.
    type: bool
    default: false
  cpu:
    description:
      - The host runs ComfyUI on the CPU (C(--cpu)) - the GPU, driver, VRAM and encoder checks inform
        instead of blocking, so a host without a GPU passes.
    type: bool
    default: false
  fail_on_findings:
    description: Fail the task when the verdict fails (C(false) reports the findings and succeeds).
    type: bool
    default: true
notes:
  - The C(wanprov doctor) command calls the same core.
seealso:
  - module: wanprov.gpu.stack
"""

EXAMPLES = r"""
- name: Judge the host and keep its summary for the stack
  wanprov.gpu.doctor:
    comfyui_dir: /opt/comfyui/ComfyUI
    nvenc: false
  vars:
    ansible_python_interpreter: /opt/wanprov/venv/bin/python
  register: doctor

- name: Report findings without failing the host
  wanprov.gpu.doctor:
    torch: false
    fail_on_findings: false
  vars:
    ansible_python_interpreter: /opt/wanprov/venv/bin/python
"""

RETURN = r"""
schema:
  description: The report's schema and version.
  returned: always
  type: str
  sample: wanprov.doctor/1
ok:
  description: The verdict (no FAIL finding; under I(strict) no WARN either).
  returned: always
  type: bool
counts:
  description: Findings per severity.
  returned: always
  type: dict
  sample: {pass: 12, info: 2, warn: 1, fail: 0}
findings:
  description: Every finding (C(check), C(severity), C(message), C(fix)).
  returned: always
  type: list
  elements: dict
summary:
  description: What the other modules and roles read (C(torch), C(launch_flags), C(vram_tier), ...).
  returned: always
  type: dict
  sample:
    vram_tier: 24gb
    recommended_profile: wan22-i2v-a14b-q5-lightning
    launch_flags: []
    torch: {variant: cu128, torch: 2.9.1, torchvision: 0.24.1, torchaudio: 2.9.1,
            index_url: "https://download.pytorch.org/whl/cu128"}
facts:
  description: The probed (or loaded) facts, schema C(wanprov.facts/1).
  returned: always
  type: dict
strict:
  description: Whether WARN findings counted as failures.
  returned: always
  type: bool
blocking:
  description: >-
    The findings that make the verdict fail (FAIL; under I(strict) WARN too), each with the line a person
    reads, worded by the core (C(check: message | fix: ...)).
  returned: always
  type: list
  elements: dict
  sample:
    - check: torch_arch_coverage
      severity: fail
      line: "torch_arch_coverage: torch 2.5.1+cu124 has no sm_120 kernels | fix: install the cu128 wheels"
"""

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wanprov.gpu.plugins.module_utils.core import WanprovError, fail_from, require_wanprov

PROBE_OPTIONS = ("comfyui_dir", "models_dir", "python")


def _facts(module):
    params = module.params
    if params["facts"]:
        from wanprov.facts import snapshot

        probing = [name for name in PROBE_OPTIONS if params[name]]
        probing += [name for name in ("torch", "nvenc") if not params[name]]
        if probing:
            module.fail_json(
                msg=f"facts judges a recorded host: {', '.join(probing)} cannot be combined with it"
            )
        return snapshot.load(Path(params["facts"]))
    from wanprov.facts import ProbeOptions, collect

    return collect(
        ProbeOptions(
            comfyui_dir=params["comfyui_dir"],
            models_dir=params["models_dir"],
            python=params["python"],
            torch=params["torch"],
            nvenc=params["nvenc"],
        )
    )


def main():
    module = AnsibleModule(
        argument_spec={
            "comfyui_dir": {"type": "path"},
            "models_dir": {"type": "path"},
            "python": {"type": "path"},
            "profile": {"type": "str"},
            "manifests": {"type": "list", "elements": "path", "default": []},
            "torch": {"type": "bool", "default": True},
            "nvenc": {"type": "bool", "default": True},
            "facts": {"type": "path"},
            "strict": {"type": "bool", "default": False},
            "cpu": {"type": "bool", "default": False},
            "fail_on_findings": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    require_wanprov(module)
    from wanprov.doctor import evaluate

    try:
        params = module.params
        report = evaluate(
            _facts(module),
            strict=params["strict"],
            profile=params["profile"],
            manifests=params["manifests"],
            cpu=params["cpu"],
        )
    except WanprovError as error:
        fail_from(module, error)
    result = report.to_dict()
    blocking = report.blocking
    result["blocking"] = [{"check": f.check, "severity": f.severity, "line": f.line()} for f in blocking]
    if not report.ok and module.params["fail_on_findings"]:
        module.fail_json(msg="wanprov doctor: " + "; ".join(f.line() for f in blocking), **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
