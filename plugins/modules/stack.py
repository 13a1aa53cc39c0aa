#!/usr/bin/python
# Copyright: wanprov maintainers
# SPDX-License-Identifier: Apache-2.0
"""wanprov.gpu.stack: an adapter over the core's stack converge (wanprov.stack.converge)."""

# ruff: noqa: E402 - Ansible modules carry DOCUMENTATION/EXAMPLES/RETURN before their imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: stack
short_description: Converge a host's ComfyUI stack from wanprov's one plan (torch, protection, packs, flags)
description:
  - Computes the host's stack plan with the wanprov core (C(wanprov.stack.host_plan)) - the torch wheels and
    their index (explicit settings, else the doctor's choice for this host's driver and GPU), the pip
    arguments, the torch constraints file and the venv's C(pip.conf), and the ComfyUI instances, one per GPU
    (its port, C(--cuda-device), its GPU's tier flags, its folders and database, command line, service and
    local URL).
  - Then converges what it is asked to, in order, each step only where it differs - the ComfyUI checkout at a
    pinned commit (I(comfyui_version)); the torch protection files (the core is their only writer); the
    pinned torch wheels in the venv; every instance's launch flags, checked against the installed ComfyUI's
    C(main.py --help); the pinned node packs and their requirements under the torch constraints (as
    C(wanprov install-nodes)).
  - In check mode it computes the same plan and every step's pending work, and writes nothing.
  - With C(--diff) it shows the protection files before and after, and the torch and node-pack plan.
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
  comfyui_dir:
    description: The ComfyUI checkout (holds C(main.py)).
    type: path
    required: true
  venv_dir:
    description: The ComfyUI venv; the constraints file and C(pip.conf) live in it.
    type: path
    required: true
  data_dir:
    description:
      - The services' data folder - the shared C(input/) and C(extra_model_paths.yaml), and one folder per
        instance (C(gpuN/) or C(cpu/)) with its C(output/), C(temp/) and C(user/).
    type: path
    required: true
  models_dir:
    description: Models outside the checkout; when set the launch flags name C(extra_model_paths.yaml).
    type: path
  listen:
    description: The address ComfyUI listens on.
    type: str
    default: 127.0.0.1
  port:
    description: GPU N's instance listens on I(port) + N, unless I(ports) maps N to a port.
    type: int
    default: 8188
  ports:
    description: GPU index -> port, for the instances that do not follow I(port) + N.
    type: dict
    default: {}
  gpus:
    description:
      - The GPUs that get an instance - C(all) (the doctor's C(usable_gpus)) or a list of distinct GPU indices
        (nvidia-smi's), none of them failed by the doctor.
      - With C(--cpu) in the launch flags, one instance runs without a GPU.
    type: raw
    default: all
  service_name:
    description: Each instance's service is I(service_name)C(-gpuN) (C(-cpu) without a GPU).
    type: str
    default: comfyui
  unit_dir:
    description: Where the instances' systemd units live (the plan names each C(unit)).
    type: path
    default: /etc/systemd/system
  service_manager:
    description: How the instances run - C(systemd), or C(process) (the test-only supervisor).
    type: str
    choices: [systemd, process]
    default: systemd
  comfyui_git_url:
    description: Where the ComfyUI checkout comes from (https, or a transport in I(git_url_schemes)).
    type: str
  git_url_schemes:
    description:
      - Transports allowed besides https for I(comfyui_git_url) and the URLs in I(node_pack_overrides)
        (local mirrors, tests). A URL starting with C(-), or with another transport (C(ext::)), is refused.
    type: list
    elements: str
    choices: [file, ssh, http]
    default: []
  comfyui_version:
    description:
      - The ComfyUI commit (40 hex) to check out; omit to leave the checkout alone.
      - A branch or tag is refused unless I(allow_unpinned=true).
    type: str
  allow_unpinned:
    description: Accept a branch or tag for ComfyUI (resolved to its commit now; it moves later).
    type: bool
    default: false
  summary:
    description:
      - The doctor's C(summary) block (C(wanprov doctor --format json), or the M(wanprov.gpu.doctor) module's
        C(summary)); its C(torch), C(launch_flags), C(gpus) (per-GPU tier flags, names, tiers, profiles) and
        C(usable_gpus) are used when not given explicitly.
      - Omitted and needed, the module asks the doctor itself (no torch probe, no NVENC encode).
    type: dict
  torch_variant:
    description: The CUDA variant of the torch wheels (C(cu126), C(cu128), C(cu130)); empty for the doctor's.
    type: str
    default: ""
  torch_version:
    description: The torch version (set with I(torch_variant), I(torchvision_version), I(torchaudio_version)).
    type: str
    default: ""
  torchvision_version:
    description: The torchvision version.
    type: str
    default: ""
  torchaudio_version:
    description: The torchaudio version (ComfyUI needs it; the three are pinned together).
    type: str
    default: ""
  torch_index_url:
    description: The PyTorch index (or a mirror); empty for the chosen variant's index.
    type: str
    default: ""
  launch_flags:
    description: VRAM-tier launch flags; empty with I(launch_flags_auto) takes the doctor's.
    type: list
    elements: str
    default: []
  launch_flags_auto:
    description: Take the doctor's launch flags when I(launch_flags) is empty.
    type: bool
    default: true
  cpu:
    description: One instance on the CPU (C(cpu)), no GPU needed; adds C(--cpu) to the shared flags.
    type: bool
    default: false
  extra_launch_flags:
    description: Flags added after the tier flags (e.g. C(--use-sage-attention)).
    type: list
    elements: str
    default: []
  pip_index_url:
    description: The index for everything but torch; empty for pip's default.
    type: str
    default: ""
  pip_extra_args:
    description: Extra pip arguments for every install (e.g. C(--no-index --find-links /srv/wheels)).
    type: str
    default: ""
  protect:
    description: Write the torch constraints file and the venv's C(pip.conf) (only where they differ).
    type: bool
    default: true
  install_torch:
    description: Install the pinned torch wheels into the venv when the installed ones differ.
    type: bool
    default: true
  check_flags:
    description: Refuse launch flags the installed ComfyUI does not accept (needs the checkout).
    type: bool
    default: true
  nodes:
    description: Converge the pinned node packs and ComfyUI's and the packs' requirements.
    type: bool
    default: true
  node_manifest:
    description: A node pack manifest on the host; omitted, the one shipped with wanprov.
    type: path
  node_packs_optional:
    description: Optional packs to add by name, or C(all).
    type: list
    elements: str
    default: []
  node_pack_overrides:
    description:
      - Per-pack C(url) and/or C(commit) (mirrors, other pins), keyed by pack name.
      - For example C(ComfyUI-GGUF) mapped to a dict with C(url) set to a mirror's clone URL.
    type: dict
    default: {}
  node_packs_allow_unpinned:
    description: Accept a branch or tag for a pack.
    type: bool
    default: false
  force:
    description: Discard local edits to tracked files in the ComfyUI and pack checkouts instead of refusing.
    type: bool
    default: false
  core_requirements:
    description: Install ComfyUI's own C(requirements.txt) under the constraints.
    type: bool
    default: true
  input_images:
    description:
      - Copy the images the shipped templates name (C(example.png)) from the checkout's C(input/) into the
        instances' input folder (I(data_dir)C(/input)), never over an existing file. POST /prompt refuses a
        LoadImage name that folder does not hold.
    type: bool
    default: true
notes:
  - The C(wanprov stack converge) and C(wanprov up) commands call the same core (C(wanprov.stack.converge)).
seealso:
  - module: wanprov.gpu.doctor
"""

EXAMPLES = r"""
- name: Converge the stack with the doctor's torch and launch flags
  wanprov.gpu.stack:
    comfyui_dir: /opt/comfyui/ComfyUI
    venv_dir: /opt/comfyui/venv
    data_dir: /var/lib/comfyui
    comfyui_git_url: https://github.com/Comfy-Org/ComfyUI.git
    comfyui_version: a125cd84b054a57729b5eecab930ca9408719832
    node_packs_optional: [ComfyUI-KJNodes]
  vars:
    ansible_python_interpreter: /opt/wanprov/venv/bin/python
  register: stack

- name: Only the plan (torch pins, index, launch flags), e.g. to write a unit from it
  wanprov.gpu.stack:
    comfyui_dir: /opt/comfyui/ComfyUI
    venv_dir: /opt/comfyui/venv
    data_dir: /var/lib/comfyui
    torch_variant: cu128
    torch_version: 2.9.1
    torchvision_version: 0.24.1
    torchaudio_version: 2.9.1
    launch_flags: [--highvram]
    protect: false
    install_torch: false
    check_flags: false
    nodes: false
  vars:
    ansible_python_interpreter: /opt/wanprov/venv/bin/python
  register: stack_plan
"""

RETURN = r"""
schema:
  description: The result's schema and version.
  returned: always
  type: str
  sample: wanprov.stack/2
plan:
  description: The core's stack plan (C(wanprov.stack.host_plan.plan_stack)).
  returned: always
  type: dict
  contains:
    torch:
      description: The chosen wheels, their index and where the choice came from (C(explicit) or C(doctor)).
      type: dict
      sample: {variant: cu128, torch: 2.9.1, torchvision: 0.24.1, torchaudio: 2.9.1,
               index_url: "https://download.pytorch.org/whl/cu128", source: doctor}
    torch_pins:
      description:
        - torch, torchvision and torchaudio (pinned together) -> the version as given.
        - A pin without a local label accepts any (PEP 440), so C(2.9.1) matches C(2.9.1+cu128).
      type: dict
      sample: {torch: 2.9.1, torchvision: 0.24.1, torchaudio: 2.9.1}
    pip_args:
      description: pip arguments for every install but torch's.
      type: list
      elements: str
    torch_pip_args:
      description: pip arguments for the torch install (its index first).
      type: list
      elements: str
    instances:
      description:
        - One per GPU of I(gpus) (or one C(cpu) instance with C(--cpu)), in order.
        - Each has C(name) (C(gpuN) or C(cpu)), C(gpu) (index or null), C(gpu_name), C(pci_bus_id), C(tier),
          C(profile) (the doctor's, for that GPU), C(port), C(url) (where the host itself reaches it; a
          wildcard listen address on loopback), C(flags) (tier, extra, shared paths, then its own port,
          folders, database and device), C(argv) (venv python, main.py, flags), C(env) (C(CUDA_DEVICE_ORDER)
          for a GPU), C(service), C(unit), C(dir), C(dirs), C(user_dir), C(launch_file), C(pidfile),
          C(logfile), C(watch_args) (how C(wanprov stack wait) watches it) and C(nvenc) (whether a
          one-frame h264_nvenc encode worked on its own GPU, the doctor's C(summary.gpus[].nvenc), null
          when unknown).
      type: list
      elements: dict
      sample: [{name: gpu0, gpu: 0, port: 8188, url: "http://127.0.0.1:8188", service: comfyui-gpu0,
                tier: large, profile: wan22-q5, user_dir: /var/lib/comfyui/gpu0/user}]
    cpu_only:
      description: The one instance runs on the CPU (C(--cpu)).
      type: bool
    exposed:
      description: Whether ComfyUI listens beyond loopback (it has no authentication).
      type: bool
    python:
      description: The venv's interpreter.
      type: str
    constraints:
      description: The torch constraints file.
      type: str
    files:
      description: Path -> the text of each torch protection file.
      type: dict
checkout:
  description: The ComfyUI checkout, when I(comfyui_version) is given.
  returned: when comfyui_version is given
  type: dict
  sample: {path: /opt/comfyui/ComfyUI, commit: a125cd84b054a57729b5eecab930ca9408719832,
           current_commit: null, action: clone}
protection:
  description: The protection files written (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
torch:
  description: The pinned and installed torch versions and the action (C(none), C(install), C(unknown)).
  returned: always
  type: dict
  sample: {pinned: {torch: 2.9.1}, installed: {torch: null}, action: install}
flags:
  description: The launch flag check (C(source), C(accepted), C(rejected)); null when not run.
  returned: always
  type: dict
nodes:
  description: The C(wanprov install-nodes) report (packs, core requirements, torch); null when not run.
  returned: always
  type: dict
input_images:
  description: Each template image (C(name), C(source), C(dest), C(action) C(copy) or C(present)).
  returned: always
  type: list
  elements: dict
changes:
  description: What changed (in check mode, what would), one line per step; C(--diff) shows each in full.
  returned: always
  type: list
  elements: str
  sample: ["/opt/comfyui/venv/wanprov-constraints.txt", "node packs"]
"""

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wanprov.gpu.plugins.module_utils.core import WanprovError, fail_from, require_wanprov

ARGUMENT_SPEC = {
    "comfyui_dir": {"type": "path", "required": True},
    "venv_dir": {"type": "path", "required": True},
    "data_dir": {"type": "path", "required": True},
    "models_dir": {"type": "path"},
    "listen": {"type": "str", "default": "127.0.0.1"},
    "port": {"type": "int", "default": 8188},
    "ports": {"type": "dict", "default": {}},
    "gpus": {"type": "raw", "default": "all"},
    "service_name": {"type": "str", "default": "comfyui"},
    "unit_dir": {"type": "path", "default": "/etc/systemd/system"},
    "service_manager": {"type": "str", "choices": ["systemd", "process"], "default": "systemd"},
    "comfyui_git_url": {"type": "str"},
    "git_url_schemes": {"type": "list", "elements": "str", "choices": ["file", "ssh", "http"], "default": []},
    "comfyui_version": {"type": "str"},
    "allow_unpinned": {"type": "bool", "default": False},
    "cpu": {"type": "bool", "default": False},
    "summary": {"type": "dict"},
    "launch_flags_auto": {"type": "bool", "default": True},
    "node_manifest": {"type": "path"},
    "node_pack_overrides": {"type": "dict", "default": {}},
    "node_packs_allow_unpinned": {"type": "bool", "default": False},
    "force": {"type": "bool", "default": False},
    **{name: {"type": "str", "default": ""} for name in (
        "torch_variant", "torch_version", "torchvision_version", "torchaudio_version", "torch_index_url",
        "pip_index_url", "pip_extra_args")},
    **{name: {"type": "bool", "default": True} for name in (
        "protect", "install_torch", "check_flags", "nodes", "core_requirements", "input_images")},
    **{name: {"type": "list", "elements": "str", "default": []} for name in (
        "launch_flags", "extra_launch_flags", "node_packs_optional")},
}  # fmt: skip


def converge_request(params, check_mode):
    """The module's parameters as the core's typed request."""
    from wanprov.stack.converge import CheckoutRequest, ConvergeRequest, NodesRequest
    from wanprov.stack.host_plan import StackRequest, TorchRequest

    path = lambda name: Path(params[name]) if params[name] else None  # noqa: E731
    stack = StackRequest(
        install_dir=path("comfyui_dir"), venv_dir=path("venv_dir"), data_dir=path("data_dir"),
        models_dir=path("models_dir"), listen=params["listen"], port=params["port"], ports=params["ports"],
        gpus=params["gpus"], service_name=params["service_name"], unit_dir=path("unit_dir"),
        service_manager=params["service_manager"], cpu=params["cpu"],
        torch=TorchRequest(
            variant=params["torch_variant"], torch=params["torch_version"],
            torchvision=params["torchvision_version"], torchaudio=params["torchaudio_version"],
            index_url=params["torch_index_url"],
        ),
        launch_flags=params["launch_flags"], launch_flags_auto=params["launch_flags_auto"],
        extra_launch_flags=params["extra_launch_flags"], pip_index_url=params["pip_index_url"],
        pip_extra_args=params["pip_extra_args"],
    )  # fmt: skip
    nodes = NodesRequest(
        manifest=path("node_manifest"), optional=params["node_packs_optional"],
        overrides=params["node_pack_overrides"], allow_unpinned=params["node_packs_allow_unpinned"],
        core_requirements=params["core_requirements"],
    )  # fmt: skip
    return ConvergeRequest(
        stack=stack, summary=params["summary"],
        checkout=CheckoutRequest(params["comfyui_git_url"] or "", version, params["allow_unpinned"])
        if (version := params["comfyui_version"]) else None,
        git_url_schemes=params["git_url_schemes"], protect=params["protect"],
        install_torch=params["install_torch"], check_flags=params["check_flags"],
        input_images=params["input_images"], nodes=nodes if params["nodes"] else None,
        force=params["force"], dry_run=check_mode,
    )  # fmt: skip


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    require_wanprov(module)
    from wanprov.stack.converge import converge

    try:
        report = converge(converge_request(module.params, module.check_mode))
    except WanprovError as error:
        fail_from(module, error)  # with what the steps before the failing one changed (error.report)
    module.exit_json(**report.to_result(with_diff=module._diff))


if __name__ == "__main__":
    main()
