"""Moving bytes into place, verified, over one stream: hub GET with Range resume, or a copy from a mirror.

Large files go over several connections instead (segmented.py); this is the path for small files, for
`--connections 1`, and for a server that ignores Range.

Bytes go to `<folder>/.wanprov-partial/<name>.<sha256[:16]>.part` and are hashed as they are written, so a
multi-GB file is read once. Only after size and sha256 match is the part fsynced and renamed to its final
name: a partial or corrupt file never appears under a name ComfyUI lists. The part survives a cut, a reset,
Ctrl-C or a kill; the next run re-hashes that prefix once and asks for the rest with `Range: bytes=N-`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wanprov.datafiles import fsync_dir
from wanprov.errors import IntegrityError, NetworkError, NoSpaceError, WanprovError, from_os_error
from wanprov.models.catalog import FileEntry
from wanprov.models.hub import (
    HubSettings,
    TransientError,
    advertised_sha256,
    backoff_delay,
    check_upstream,
    classify_status,
    request_headers,
)
from wanprov.models.writeback import drop_cached

# 4 MiB reads: large enough that Python's per-chunk cost is noise; measured here, 8 MiB read1() calls ran at
# half the rate (allocator churn on buffers that size), 1-4 MiB at 600-750 MB/s with sha256 and write inline.
CHUNK = 4 << 20
WRITEBACK_STEP = 64 << 20  # start the disk write of every 64 MiB as it is done, so the final fsync is short
PARTIAL_DIR = ".wanprov-partial"

ProgressFn = Callable[[int], None]


class Cancelled(Exception):
    """Ctrl-C in the main thread: workers stop at the next chunk and keep their part files."""


class Cancellation:
    """Set from the main thread on Ctrl-C; closes open responses so no worker stays blocked in a read."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._open: set[Any] = set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)

    def set(self) -> None:
        self._event.set()
        with self._lock:
            for response in list(self._open):
                _abort(response)

    def register(self, response: Any) -> None:
        with self._lock:
            self._open.add(response)
        if self._event.is_set():
            _abort(response)

    def unregister(self, response: Any) -> None:
        with self._lock:
            self._open.discard(response)


def _abort(response: Any) -> None:
    """Wake a thread blocked in recv(): shutdown() does, close() alone may not."""
    with contextlib.suppress(Exception):
        response.raw.shutdown()
    with contextlib.suppress(Exception):
        response.close()


def no_space(entry: FileEntry, part: Path, exc: OSError) -> NoSpaceError:
    return NoSpaceError(
        f"{part.parent}: the disk filled up while writing {entry.relpath} (entry {entry.id!r}): "
        f"{exc.strerror}",
        hint="free space and re-run: the bytes already written are kept and not fetched again",
    )


def partial_path(final: Path, sha256: str) -> Path:
    return final.parent / PARTIAL_DIR / f"{final.name}.{sha256[:16]}.part"


def hash_file(path: Path, progress: ProgressFn | None = None, limit: int | None = None) -> str:
    digest = hashlib.sha256()
    remaining = limit
    with path.open("rb") as handle:
        while remaining is None or remaining > 0:
            chunk = handle.read(CHUNK if remaining is None else min(CHUNK, remaining))
            if not chunk:
                break
            digest.update(chunk)
            if remaining is not None:
                remaining -= len(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest()


class PartFile:
    """The growing part file with its running sha256; resumes from what an earlier run left."""

    def __init__(
        self, part: Path, expected_size: int | None, progress: ProgressFn, expected_sha: str
    ) -> None:
        part.parent.mkdir(parents=True, exist_ok=True)
        self.path = part
        self.expected_sha = expected_sha
        self.expected_size = expected_size
        self.progress = progress
        self.digest = hashlib.sha256()
        self._written_back = 0
        self.handle = part.open("ab+", buffering=0)  # unbuffered: what was received is on disk if killed
        size = self.handle.seek(0, os.SEEK_END)
        if expected_size is not None and size > expected_size:
            size = self.restart()
        elif size:
            self.handle.seek(0)
            remaining = size
            while remaining:  # hashlib cannot persist its state: re-read the prefix once
                chunk = self.handle.read(min(CHUNK, remaining))
                self.digest.update(chunk)
                remaining -= len(chunk)
            progress(size)
        self.offset = self._written_back = size

    def restart(self) -> int:
        self.handle.seek(0)
        self.handle.truncate()
        self.digest = hashlib.sha256()
        self.offset = self._written_back = 0
        return 0

    def write(self, chunk: bytes | memoryview, entry: FileEntry) -> None:
        try:
            self.handle.write(chunk)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise no_space(entry, self.path, exc) from None
            raise
        self.digest.update(chunk)
        self.offset += len(chunk)
        self.progress(len(chunk))
        if self.offset - self._written_back >= 2 * WRITEBACK_STEP:
            self._start_writeback()

    def _start_writeback(self) -> None:
        """Overlap the disk write with the download instead of paying for it all in the final fsync.

        POSIX_FADV_DONTNEED starts asynchronous writeback of the range's dirty pages (Linux) and drops the
        clean ones; the last WRITEBACK_STEP stays cached so the kernel can still merge writes.
        """
        end = self.offset - WRITEBACK_STEP
        drop_cached(self.handle.fileno(), self._written_back, end - self._written_back)
        self._written_back = end

    def close(self) -> None:
        self.handle.close()

    def commit(self, final: Path, expected_sha: str, entry: FileEntry) -> str:
        """Check size and sha256, then fsync and rename into place; bad bytes are deleted."""
        actual = self.digest.hexdigest()
        size_ok = self.expected_size is None or self.offset == self.expected_size
        if actual != expected_sha or not size_ok:
            self.close()
            self.path.unlink(missing_ok=True)
            raise IntegrityError(
                f"{entry.relpath} (entry {entry.id!r}): sha256 mismatch: expected {expected_sha}, "
                f"got {actual} ({self.offset} bytes, expected {self.expected_size}); bad bytes deleted",
                hint="re-run to download again; if it repeats, the source or the catalog's sha256 is wrong",
            )
        os.fsync(self.handle.fileno())  # cheap by now: _start_writeback kept the dirty tail short
        self.close()
        self.path.replace(final)
        fsync_dir(final.parent)
        return actual


def download(
    entry: FileEntry,
    url: str,
    final: Path,
    size: int | None,
    sha256: str,
    settings: HubSettings,
    progress: ProgressFn,
    cancel: Cancellation,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Stream `url` into the part file, resuming and retrying; returns the verified sha256."""
    part = PartFile(partial_path(final, sha256), size, progress, sha256)
    try:
        failures = 0
        while size is None or part.offset < size:
            if cancel.is_set():
                raise Cancelled()
            before = part.offset
            try:
                complete = _stream_once(entry, url, part, size, settings, cancel)
            except TransientError as exc:
                # Progress made: this is a new failure, not a repeat; the count bounds stuck transfers.
                failures = 1 if part.offset > before else failures + 1
                if failures > settings.retries:
                    raise NetworkError(
                        f"{entry.relpath} (entry {entry.id!r}): gave up after {failures} tries "
                        f"at byte {part.offset}: {exc}",
                        hint="re-run: the download resumes from the bytes kept in .wanprov-partial/",
                    ) from exc
                sleep(backoff_delay(failures - 1, settings, exc.retry_after_s))
                continue
            if complete:
                break
        return part.commit(final, sha256, entry)
    finally:
        part.close()


def _session():  # one requests.Session per thread: connection reuse without sharing a pool across threads
    import requests

    local = _THREAD_LOCAL
    if not hasattr(local, "session"):
        local.session = requests.Session()
    return local.session


_THREAD_LOCAL = threading.local()


def _stream_once(
    entry: FileEntry,
    url: str,
    part: PartFile,
    size: int | None,
    settings: HubSettings,
    cancel: Cancellation,
) -> bool:
    """One GET from part.offset. True when the body ended complete; raises TransientError to retry."""
    import requests
    import urllib3

    headers = request_headers()
    if part.offset:
        headers["Range"] = f"bytes={part.offset}-"
    try:
        response = _session().get(url, headers=headers, stream=True, timeout=(10, settings.timeout_s))
    except requests.RequestException as exc:
        raise TransientError(f"{type(exc).__name__} connecting to {settings.endpoint}") from None
    cancel.register(response)
    with response:
        for answer in [*response.history, response]:  # the hub's 302 names the file it redirects to
            check_upstream(entry, part.expected_sha, size, advertised_sha256(answer.headers), None)
        if response.status_code == 416 and size is not None and part.offset == size:
            return True
        if response.status_code >= 400:
            raise classify_status(
                response.status_code,
                response.headers.get("X-Error-Code"),
                response.headers.get("Retry-After"),
                entry,
            )
        if part.offset and response.status_code == 200:
            part.restart()  # the server ignored Range: take the whole body from byte 0
        raw = response.raw
        try:
            while True:
                if cancel.is_set():
                    raise Cancelled()
                # read1: whatever has arrived (up to CHUNK), written at once, so a kill loses nothing received
                piece = raw.read1(CHUNK, decode_content=False)
                if not piece:
                    break
                part.write(piece, entry)
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError, AttributeError) as exc:
            if cancel.is_set():
                raise Cancelled() from None
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise from_os_error(exc, f"write {entry.relpath}") from None  # exit 9: retrying cannot help
            raise TransientError(f"{type(exc).__name__} during the body at byte {part.offset}") from None
        finally:
            cancel.unregister(response)
    if size is not None and part.offset < size:
        raise TransientError(f"body ended at byte {part.offset} of {size}")
    return True


def copy_local(
    entry: FileEntry,
    source: Path,
    final: Path,
    sha256: str,
    progress: ProgressFn,
    cancel: Cancellation,
) -> str:
    """Copy from a local/NFS mirror with the same part file, verification and rename as a download."""
    try:
        size = source.stat().st_size
    except OSError as exc:
        raise WanprovError(
            f"{source} (entry {entry.id!r}) is not readable in the --from folder: {exc.strerror}",
            hint="lay the mirror out like the models folder: DIR/<folder>/<name>",
        ) from exc
    if entry.size is not None and size != entry.size:
        raise IntegrityError(
            f"{source}: {size} bytes, catalog entry {entry.id!r} expects {entry.size}",
            hint="refresh the mirror from the hub",
        )
    part = PartFile(partial_path(final, sha256), size, progress, sha256)
    try:
        with source.open("rb") as handle:
            handle.seek(part.offset)
            while chunk := handle.read(CHUNK):
                if cancel.is_set():
                    raise Cancelled()
                part.write(chunk, entry)
        return part.commit(final, sha256, entry)
    finally:
        part.close()
