# Copyright: wanprov maintainers
# SPDX-License-Identifier: Apache-2.0
"""What every wanprov.gpu module shares: importing the wanprov core, turning its typed errors into
fail_json, and guarding every result. The modules run under the wanprov venv's Python
(ansible_python_interpreter), so the core imports directly; anywhere else they fail with the
missing_required_lib message instead of a traceback.

guard(module) (require_wanprov calls it) makes every exit_json/fail_json pass through the core's one
cleaner (wanprov.redact.clean: URL credentials redacted, control characters escaped, in msg, url, error,
files, the plan, the diff...), and turns any exception the module did not expect into fail_json naming it,
never a MODULE FAILURE traceback."""

from __future__ import annotations

import contextlib
import sys
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


def _clean(value):
    try:
        from wanprov.redact import clean
    except ImportError:  # no core here (path_state may run on a bare host): nothing of it to redact
        return value
    return clean(value)


def _credentials(value) -> list:
    try:
        from wanprov.redact import credentials_in
    except ImportError:
        return []
    if isinstance(value, str):
        return credentials_in(value)
    if isinstance(value, dict):
        return [found for item in value.values() for found in _credentials(item)]
    if isinstance(value, (list, tuple)):
        return [found for item in value for found in _credentials(item)]
    return []


def guard(module) -> None:
    """Route the module's every result through the core's cleaner, and an unexpected exception to
    fail_json (msg `unexpected error <type>: ...`, the traceback under `exception`)."""
    if getattr(module, "_wanprov_guarded", False):
        return
    exit_json, fail_json = module.exit_json, module.fail_json

    def clean_exit(**result):
        exit_json(**_clean(result))

    def clean_fail(msg, **result):
        result = _clean({"msg": msg, **result})
        fail_json(**result)

    def unexpected(kind, value, tb):
        if issubclass(kind, (KeyboardInterrupt, SystemExit)):
            sys.__excepthook__(kind, value, tb)
            return
        detail = str(value)[:300] or "(no message)"
        with contextlib.suppress(SystemExit):  # fail_json exits; the interpreter ends anyway
            clean_fail(
                f"unexpected error {kind.__name__}: {detail}",
                exception="".join(traceback.format_exception(kind, value, tb)),
            )

    # Ansible adds the arguments themselves (`invocation`) after any cleaning: credentials in them (a URL's
    # user:password) become no_log values, which Ansible masks everywhere it prints.
    for secret in _credentials(module.params):
        module.no_log_values.add(secret)
    module.exit_json, module.fail_json = clean_exit, clean_fail
    module._wanprov_guarded = True
    sys.excepthook = unexpected


def require_wanprov(module) -> None:
    """Fail with a clear message when this interpreter cannot import the wanprov core (and guard)."""
    guard(module)
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
    """A core error as a module failure: the message, the fix, and the CLI's error code and exit code. An
    error that carries the partial report of a use case (`error.report`: the steps before the failing one
    may have changed the host) adds it, `changed` saying whether they did."""
    partial = getattr(error, "report", None)
    if partial is not None and hasattr(partial, "to_result"):
        result = {**partial.to_result(), "changed": bool(partial.changed and not module.check_mode), **result}
    module.fail_json(
        msg=error.message, hint=error.hint, error=error.code, exit_code=int(error.exit_code), **result
    )
