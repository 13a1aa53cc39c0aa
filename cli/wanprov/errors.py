"""Typed errors: each carries a stable exit code, a message (what and where) and a hint (how to fix).

The core raises these; only the CLI layer turns them into output and exit codes.
"""

from __future__ import annotations

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
