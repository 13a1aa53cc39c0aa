"""Start the disk write of a byte range as soon as it is written, so the final fsync finds little to do.

Left to itself, Linux starts writing dirty pages back only once they pass vm.dirty_background_ratio (GBs on a
large host) or are 30 s old, so a download ends with GBs of dirty pages for fsync to write: measured here,
the disk sat idle for the first ~2 s of a 4 GiB download, then fsync waited for ~2 GB. sync_file_range(2)
with SYNC_FILE_RANGE_WRITE queues the range's writeback at once without waiting for it and without dropping
the pages, so bytes that the sha256 still has to read back stay in the page cache (clean). Python's os
module has no binding; glibc's symbol is called through ctypes, loaded on first use. Where it is missing
(another libc, another OS) this is a no-op and the kernel's own writeback plus the final fsync still
make the file durable: it changes when bytes reach the disk, never whether.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start writeback of dirty pages not already under writeback

_lock = threading.Lock()
_loaded = False
_call: Callable[[int, int, int, int], int] | None = None


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    global _loaded, _call
    with _lock:
        if not _loaded:
            _loaded = True
            _call = _load()
    return _call


def _load() -> Callable[[int, int, int, int], int] | None:
    if not hasattr(os, "posix_fadvise"):  # not Linux-like: nothing to gain, nothing to load
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)  # the process's own libc: no search, no load of another
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Queue the disk write of [offset, offset + length) of `fd`; returns without waiting for it.

    Best effort: an error (EINVAL on a filesystem without it, ESPIPE) changes nothing that fsync does not
    still guarantee, so it is ignored."""
    if length <= 0:
        return
    function = _sync_file_range()
    if function is not None:
        function(fd, offset, length, SYNC_FILE_RANGE_WRITE)  # releases the GIL (ctypes.CDLL)


def drop_cached(fd: int, offset: int, length: int) -> None:
    """Let the kernel drop [offset, offset + length) from the page cache: hashed, it is not read again.

    POSIX_FADV_DONTNEED also starts writeback of pages still dirty (Linux), and drops the clean ones."""
    if length > 0 and hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)
