"""Adopt a file another program wrote (a swarm engine's staging folder): verify, then rename it in place.

The bytes are untrusted whatever wrote them: the sha256 and the size are checked here, by wanprov, and only
then is the file renamed into the models folder - no second copy of a multi-GB file. A file that fails is
deleted so the next source (the controller, the hub) starts clean.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from wanprov.datafiles import fsync_dir
from wanprov.errors import IntegrityError, WanprovError
from wanprov.models.catalog import FileEntry
from wanprov.models.transfer import ProgressFn, hash_file


def adopt_staged(
    entry: FileEntry, staged: Path, final: Path, sha256: str, progress: ProgressFn
) -> str | None:
    """Verify `staged` against the catalog and rename it onto `final`; None when not on the same filesystem.

    None tells the caller to copy instead (the same verified copy as `--from`).
    """
    try:
        size = staged.stat().st_size
    except OSError as exc:
        raise WanprovError(
            f"{staged} (entry {entry.id!r}) is not in the staging folder: {exc.strerror}",
            hint="the swarm did not deliver this file; fetch it from the controller or the hub",
        ) from exc
    if entry.size is not None and size != entry.size:
        staged.unlink(missing_ok=True)
        raise IntegrityError(
            f"{staged}: {size} bytes, catalog entry {entry.id!r} expects {entry.size}; staged copy deleted",
            hint="the engine delivered a wrong file; the next source is tried",
        )
    actual = hash_file(staged, progress)
    if actual != sha256:
        staged.unlink(missing_ok=True)
        raise IntegrityError(
            f"{staged} (entry {entry.id!r}): sha256 mismatch: expected {sha256}, got {actual}; "
            "staged copy deleted",
            hint="the engine delivered wrong bytes; the next source is tried",
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    with staged.open("rb") as handle:
        os.fsync(handle.fileno())
    try:
        staged.replace(final)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            return None
        raise
    fsync_dir(final.parent)
    return actual
