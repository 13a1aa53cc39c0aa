"""Exit codes shared by every wanprov command (documented in docs/exit-codes.md).

Scripts and Ansible read these, so they are stable: never renumber, only add.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    CHECK_FAILED = 1  # a verdict with FAIL findings (or WARN under --strict)
    USAGE = 2  # bad flags or arguments (click's own code for usage errors)
    COULD_NOT_RUN = 3  # the command itself could not do its job (unreadable input, internal error)
    PENDING = 4  # --dry-run / --check: work is pending
    NETWORK = 5  # transfer failed after bounded retries (5xx, resets, timeouts)
    INTEGRITY = 6  # bytes do not match the pinned sha256 / size
    AUTH = 7  # 401/403: gated repo or bad token
    NOT_FOUND = 8  # 404: repo, revision or file missing upstream / in a catalog
    NO_SPACE = 9  # disk preflight: not enough free space
    BAD_MANIFEST = 10  # a manifest, lock or workflow file is invalid
    SERVICE_DOWN = 11  # the waited-on service exited or restarted before answering (log tail printed)
    EXECUTION_FAILED = 12  # ComfyUI accepted the workflow, then a node failed while it ran
    TIMED_OUT = 13  # no result within --timeout (the run was interrupted)
    OUTPUT_UNVERIFIED = 14  # the run finished, but its output is missing or not the media it asked for
    UNSAFE_PATH = 15  # a link, FIFO or folder where a file is written, or a part file changed under the run
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
