#!/usr/bin/python
# Copyright: wanprov maintainers
# SPDX-License-Identifier: Apache-2.0
"""wanprov.gpu.path_state: a read-only probe of a service account and many paths (no core needed)."""

# ruff: noqa: E402 - Ansible modules carry DOCUMENTATION/EXAMPLES/RETURN before their imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: path_state
short_description: Read the owner, group, mode and sha1 of paths, and whether a user and a group exist
description:
  - One call reports the state of many paths (an ansible.builtin.stat per path costs a round trip each), so a
    role can run a module only for what differs and stay honest in check mode.
  - Read-only; never reports C(changed).
  - Paths are not followed (lstat); a symbolic link or special file is reported with type C(other).
options:
  user:
    description: A user account to look up.
    type: str
    required: true
  group:
    description: A group to look up.
    type: str
    required: true
  paths:
    description: Absolute paths to read; a missing path is left out of the result.
    type: list
    elements: path
    default: []
version_added: 0.1.0
author:
  - wanprov maintainers (!UNKNOWN)
notes:
  - Check mode is supported (the module only reads); diff mode has nothing to show.
  - Needs only the Python standard library, so it runs under any interpreter (no wanprov import).
"""

EXAMPLES = r"""
- name: Read the state of the service user and the role's folders and files
  wanprov.gpu.path_state:
    user: comfyui
    group: comfyui
    paths:
      - /opt/comfyui
      - /etc/systemd/system/comfyui.service
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
"""

import grp
import hashlib
import os
import pwd
import stat
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wanprov.gpu.plugins.module_utils.core import guard


def _name(lookup, ident) -> str:
    """The account name for a uid/gid, or the number itself when it has no name."""
    try:
        return lookup(ident)[0]
    except KeyError:
        return str(ident)


def path_state(path: str) -> dict | None:
    """The state of one path, or None when it does not exist."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISDIR(st.st_mode):
        kind = "directory"
    elif stat.S_ISREG(st.st_mode):
        kind = "file"
    else:
        kind = "other"
    entry = {
        "type": kind,
        "owner": _name(pwd.getpwuid, st.st_uid),
        "group": _name(grp.getgrgid, st.st_gid),
        "mode": f"{stat.S_IMODE(st.st_mode):04o}",
    }
    if kind == "file":
        digest = hashlib.sha1()
        with Path(path).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        entry["sha1"] = digest.hexdigest()
    return entry


def account_state(user: str) -> dict | None:
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        return None
    return {"group": _name(grp.getgrgid, account.pw_gid), "home": account.pw_dir, "shell": account.pw_shell}


def group_exists(group: str) -> bool:
    try:
        grp.getgrnam(group)
    except KeyError:
        return False
    return True


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "user": {"type": "str", "required": True},
            "group": {"type": "str", "required": True},
            "paths": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    guard(module)
    found = {}
    for path in module.params["paths"]:
        if "\x00" in path:
            module.fail_json(msg=f"paths: {path!r} holds a NUL byte; no file can have that name")
        try:
            entry = path_state(path)
        except OSError as exc:  # a file that vanishes or cannot be read while it is hashed
            module.fail_json(msg=f"cannot read {path}: {exc.strerror}")
        if entry is not None:
            found[path] = entry
    module.exit_json(
        changed=False,
        paths=found,
        user=account_state(module.params["user"]),
        group=group_exists(module.params["group"]),
    )


if __name__ == "__main__":
    main()
