"""Typed errors: each carries a stable exit code, a message (what and where) and a hint (how to fix).

The core raises these; only the CLI layer turns them into output and exit codes.
"""

from __future__ import annotations

import errno

from wanprov.exit_codes import ExitCode


class WanprovError(Exception):
    """Base class. `hint` is the fix a user can act on; never put secrets in either field."""

    exit_code: ExitCode = ExitCode.COULD_NOT_RUN
    code: str = "could_not_run"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_dict(self) -> dict[str, object]:
        return {
            "error": self.code,
            "message": self.message,
            "hint": self.hint,
            "exit_code": int(self.exit_code),
        }


class UsageError(WanprovError):
    exit_code = ExitCode.USAGE
    code = "usage"


class ManifestError(WanprovError):
    exit_code = ExitCode.BAD_MANIFEST
    code = "bad_manifest"


class NetworkError(WanprovError):
    exit_code = ExitCode.NETWORK
    code = "network"


class IntegrityError(WanprovError):
    exit_code = ExitCode.INTEGRITY
    code = "integrity"


class AuthError(WanprovError):
    exit_code = ExitCode.AUTH
    code = "auth"


class NotFoundError(WanprovError):
    exit_code = ExitCode.NOT_FOUND
    code = "not_found"


class NoSpaceError(WanprovError):
    exit_code = ExitCode.NO_SPACE
    code = "no_space"


class Interrupted(WanprovError):
    """Ctrl-C: reported (as a JSON document under --format json too) with exit 130."""

    exit_code = ExitCode.INTERRUPTED
    code = "interrupted"


class OfflineError(WanprovError):
    """HF_HUB_OFFLINE is set and the work needs the hub: nothing was tried, so not a network failure."""

    code = "offline"


def from_os_error(exc: OSError, doing: str = "use") -> WanprovError:
    """An OSError as a typed error naming the file: a full disk (or quota) is exit 9, anything else exit 3.

    `doing` is what failed, as a verb phrase: "write --output", "fetch vae/x.safetensors"."""
    if doing == "use":
        doing, where = f"use {exc.filename or 'a file'}", ""
    else:  # the file the OS names, when it is not the one in `doing` (a temp file beside it)
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) not in doing else ""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return NoSpaceError(f"no space left to {doing}{where}: {reason}", hint="free space and run again")
    return WanprovError(
        f"cannot {doing}{where}: {reason}", hint="check the path exists and this user may read/write it"
    )
