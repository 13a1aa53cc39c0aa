"""Adopt a file another program wrote (a swarm engine's staging folder): verify, then rename it in place.

The bytes are untrusted whatever wrote them: the sha256 and the size are checked here, by wanprov, through
the part-file owner (partfile.PartSlot.adopt: no link followed, a regular file only, the hashed inode is the
one that lands), and only then is the file renamed into the models folder - no second copy of a multi-GB
file. A file that fails is deleted so the next source (the controller, the hub) starts clean.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from wanprov.errors import IntegrityError, WanprovError
from wanprov.models.catalog import FileEntry
from wanprov.models.partfile import PartSlot
from wanprov.models.transfer import ProgressFn


def adopt_staged(
    entry: FileEntry, staged: Path, slot: PartSlot, sha256: str, progress: ProgressFn
) -> str | None:
    """Verify `staged` against the catalog and rename it onto the slot's final name; None when it is not on
    the same filesystem (the caller then copies it: the same verified copy as `--from`)."""
    if not os.path.lexists(staged):
        raise WanprovError(
            f"{staged} (entry {entry.id!r}) is not in the staging folder",
            hint="the swarm did not deliver this file; fetch it from the controller or the hub",
        )
    try:
        return slot.adopt(staged, sha256, entry.size, progress)
    except IntegrityError as exc:
        with contextlib.suppress(OSError):
            staged.unlink()
        raise IntegrityError(
            f"{exc.message} (entry {entry.id!r}); staged copy deleted",
            hint="the engine delivered a wrong file; the next source is tried",
        ) from exc
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            return None
        raise
