"""A host's disk as its description says, whatever this machine has free: a tmpfs of that size mounted, in
the command's own mount namespace (`unshare -m`, gone with the command), where the command measures free
space. The code under test reads it through its real path (statvfs via shutil.disk_usage); a tmpfs holds
no memory until written, so a 500 GiB "disk" costs nothing.

Needs root (CAP_SYS_ADMIN for the namespace and the mount), as the CI and the fleet tests run; without it
the command runs on this machine's own disk (`available()` says which)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

GIB = 1 << 30
_MOUNT_THEN_RUN = 'mount -t tmpfs -o "size=$1" wanprov-fake-disk "$2" && shift 2 && exec "$@"'


def available() -> bool:
    return os.geteuid() == 0 and shutil.which("unshare") is not None


def on_disk(argv: Sequence[str], where: Path, size_gib: float) -> list[str]:
    """`argv` run with a filesystem of `size_gib` mounted at `where` (created if missing), when available."""
    if not available():
        return list(argv)
    where.mkdir(parents=True, exist_ok=True)
    size = max(int(size_gib * GIB), 1 << 20)
    return ["unshare", "-m", "sh", "-c", _MOUNT_THEN_RUN, "fake-disk", str(size), str(where), *argv]
