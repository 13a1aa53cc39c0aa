# Copyright: wanprov maintainers
# SPDX-License-Identifier: Apache-2.0
"""What every wanprov.gpu module shares: importing the wanprov core, and turning its typed errors into
fail_json. The modules run under the wanprov venv's Python (ansible_python_interpreter), so the core imports
directly; anywhere else they fail with the missing_required_lib message instead of a traceback."""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    from wanprov.errors import WanprovError  # the probe; each module imports the rest where it uses it
except ImportError:
    WANPROV_IMPORT_ERROR: str | None = traceback.format_exc()

    class WanprovError(Exception):  # type: ignore[no-redef]
        """Stands in so `except WanprovError` still parses where wanprov is missing."""

else:
    WANPROV_IMPORT_ERROR = None


def require_wanprov(module) -> None:
    """Fail with a clear message when this interpreter cannot import the wanprov core."""
    if WANPROV_IMPORT_ERROR is not None:
        module.fail_json(
            msg=missing_required_lib(
                "wanprov",
                reason="to run this module: set ansible_python_interpreter to the wanprov venv's Python "
                "(e.g. /opt/wanprov/venv/bin/python, which the wanprov_cli role installs)",
            ),
            exception=WANPROV_IMPORT_ERROR,
        )


def fail_from(module, error: WanprovError, **result) -> None:
    """A core error as a module failure: the message, the fix, and the CLI's error code and exit code."""
    module.fail_json(
        msg=error.message, hint=error.hint, error=error.code, exit_code=int(error.exit_code), **result
    )
