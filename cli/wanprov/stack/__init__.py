"""The ComfyUI stack core: pinned node packs (manifest -> plan -> apply) with torch protected by constraints.

Knows nothing of click or Ansible: `wanprov install-nodes` and the `comfyui` Ansible role both call it.
"""
