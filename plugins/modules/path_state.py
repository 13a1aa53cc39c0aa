#!/usr/bin/python
# Copyright: wanprov maintainers
# SPDX-License-Identifier: Apache-2.0
"""wanprov.gpu.path_state: the state of a service account and many paths, and folders made to match."""

# ruff: noqa: E402 - Ansible modules carry DOCUMENTATION/EXAMPLES/RETURN before their imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: path_state
short_description: Read the state of a service account and of paths, and make folders match
description:
  - One call reports the state of many paths (an ansible.builtin.stat per path costs a round trip each) and
    of a service account, and makes the given folders exist with their owner, group and mode (an
    ansible.builtin.file per folder costs a round trip each).
  - Paths are not followed (lstat); a symbolic link or special file is reported with type C(other).
  - With O(home), says whether the account exists and already has that home, shell and primary group
    (RV(account)), so a role can stop what runs as the user before its account changes.
extends_documentation_fragment:
  - wanprov.gpu.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Each folder that differs, as its type, owner, group and mode before and after.
options:
  user:
    description: A user account to look up.
    type: str
    required: true
  group:
    description: A group to look up (and the primary group O(home) compares).
    type: str
    required: true
  paths:
    description: Absolute paths to read; a missing path is left out of the result.
    type: list
    elements: path
    default: []
  folders:
    description: Folders to make exist with exactly this owner, group and mode (octal string).
    type: list
    elements: dict
    default: []
  home:
    description: The home the account should have; with it the result says RV(account).
    type: path
  shell:
    description: The login shell the account should have (with O(home)).
    type: str
    default: /usr/sbin/nologin
version_added: 0.1.0
author:
  - wanprov maintainers (!UNKNOWN)
requirements:
  - wanprov (the module runs under the wanprov venv's Python)
"""

EXAMPLES = r"""
- name: Read the service account and make the data folders
  wanprov.gpu.path_state:
    user: comfyui
    group: comfyui
    home: /var/lib/comfyui
    paths: [/opt/comfyui/venv/bin/python]
    folders:
      - {path: /var/lib/comfyui, owner: comfyui, group: comfyui, mode: "0750"}
  vars:
    ansible_python_interpreter: /opt/wanprov/venv/bin/python
  register: __comfyui_state
"""

RETURN = r"""
paths:
  description: Path -> its state; a path that does not exist is absent.
  returned: always
  type: dict
  sample:
    /opt/comfyui: {type: directory, owner: comfyui, group: comfyui, mode: "0755"}
    /etc/systemd/system/comfyui.service: {type: file, owner: root, group: root, mode: "0644", sha1: "3f78..."}
user:
  description: The user's primary group, home and shell; null when the user does not exist.
  returned: always
  type: dict
  sample: {group: comfyui, home: /srv/comfyui, shell: /usr/sbin/nologin}
group:
  description: Whether the group exists.
  returned: always
  type: bool
account:
  description: With O(home) - C(absent), C(same) (home, shell and group as given) or C(differs); else null.
  returned: always
  type: str
changes:
  description: The folders made or changed (check mode - that would be).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wanprov.gpu.plugins.module_utils.core import WanprovError, fail_from, require_wanprov


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "user": {"type": "str", "required": True},
            "group": {"type": "str", "required": True},
            "paths": {"type": "list", "elements": "path", "default": []},
            "folders": {"type": "list", "elements": "dict", "default": []},
            "home": {"type": "path"},
            "shell": {"type": "str", "default": "/usr/sbin/nologin"},
        },
        supports_check_mode=True,
    )
    require_wanprov(module)
    from wanprov.service.paths import PathsRequest, converge_paths, folders_of

    params = module.params
    try:
        report = converge_paths(
            PathsRequest(
                user=params["user"], group=params["group"], paths=params["paths"],
                folders=folders_of(params["folders"]), home=params["home"], shell=params["shell"],
                dry_run=module.check_mode,
            )
        )  # fmt: skip
    except WanprovError as error:
        fail_from(module, error)
    result = {"changed": bool(report.changes), **report.to_dict()}
    if module._diff and report.diffs:
        result["diff"] = report.diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
