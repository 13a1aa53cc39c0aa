# Copyright: wanprov maintainers
# SPDX-License-Identifier: Apache-2.0
"""The attributes every wanprov.gpu module documents (check mode, diff mode), worded once, as
community.general's attributes fragment does; each module states its own support."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
  diff_mode:
    description: >-
      Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff
      mode.
"""
