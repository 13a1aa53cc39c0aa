"""Moving bytes into place, verified, over one stream: hub GET with Range resume, or a copy from a mirror.

Large files go over several connections instead (segmented.py); this is the path for small files, for
`--connections 1`, and for a server that ignores Range.

Bytes go to the part file (partfile.py owns it: `<folder>/.wanprov-partial/<name>.<sha256[:16]>.part`,
never through a link) and are hashed as they are written, so a multi-GB file is read once. Only after size
and sha256 match is the part fsynced and renamed to its final name: a partial or corrupt file never appears
under a name ComfyUI lists. The part survives a cut, a reset, Ctrl-C or a kill; the next run re-hashes that
prefix once and asks for the rest with `Range: bytes=N-`. Each GET is watched (bounded_http.Watchdog): past
the file's deadline or below the lowest throughput it is cut and retried like a reset.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wanprov.bounded_http import WATCHDOG, Deadline, DeadlineExceeded, abort_response, within
from wanprov.errors import IntegrityError, NoSpaceError, WanprovError, from_os_error
from wanprov.models.catalog import FileEntry
from wanprov.models.hub import (
    Attempts,
    HubSettings,
    TransientError,
    advertised_sha256,
    check_upstream,
    classify_status,
    request_headers,
)
from wanprov.models.partfile import PartSlot, PartWriter

# 4 MiB reads: large enough that Python's per-chunk cost is noise; measured here, 8 MiB read1() calls ran at
# half the rate (allocator churn on buffers that size), 1-4 MiB at 600-750 MB/s with sha256 and write inline.
CHUNK = 4 << 20

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
                abort_response(response)

    def register(self, response: Any) -> None:
        with self._lock:
            self._open.add(response)
        if self._event.is_set():
            abort_response(response)

    def unregister(self, response: Any) -> None:
        with self._lock:
            self._open.discard(response)


def no_space(entry: FileEntry, part: Path, exc: OSError) -> NoSpaceError:
    return NoSpaceError(
        f"{part.parent}: the disk filled up while writing {entry.relpath} (entry {entry.id!r}): "
        f"{exc.strerror}",
        hint="free space and re-run: the bytes already written are kept and not fetched again",
    )


def _write(part: PartWriter, piece: bytes | memoryview, entry: FileEntry) -> None:
    try:
        part.write(piece)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise no_space(entry, part.slot.path, exc) from None  # exit 9: retrying cannot free space
        raise


def download(
    entry: FileEntry,
    url: str,
    slot: PartSlot,
    size: int | None,
    sha256: str,
    settings: HubSettings,
    progress: ProgressFn,
    cancel: Cancellation,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Stream `url` into the slot's part file, resuming and retrying; returns the verified sha256."""
    part = PartWriter(slot, size, progress)
    attempts = Attempts(
        settings,
        f"{entry.relpath} (entry {entry.id!r})",
        "re-run: the download resumes from the bytes kept in .wanprov-partial/",
    )
    try:
        while size is None or part.offset < size:
            if cancel.is_set():
                raise Cancelled()
            before = part.offset
            try:
                complete = _stream_once(entry, url, part, size, sha256, settings, cancel, attempts.deadline)
            except TransientError as exc:
                sleep(attempts.failed(exc, part.offset > before, f"at byte {part.offset}"))
                continue
            if complete:
                break
        return part.commit(sha256, f"{entry.relpath} (entry {entry.id!r})")
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
    part: PartWriter,
    size: int | None,
    sha256: str,
    settings: HubSettings,
    cancel: Cancellation,
    deadline: Deadline,
) -> bool:
    """One GET from part.offset. True when the body ended complete; raises TransientError to retry."""
    import requests
    import urllib3

    headers = request_headers()
    if part.offset:
        headers["Range"] = f"bytes={part.offset}-"
    left = max(deadline.remaining(), 0.001)
    session = _session()

    def get() -> Any:
        timeout = (min(10, left), min(settings.timeout_s, left))
        return session.get(url, headers=headers, stream=True, timeout=timeout)

    try:  # the answer's head, too, within the read timeout as a whole (a server may trickle it)
        response = within(deadline.clipped(settings.timeout_s), get, f"GET {entry.relpath}")
    except DeadlineExceeded as exc:
        _THREAD_LOCAL.__dict__.pop("session", None)  # the abandoned call may still use it
        raise TransientError(exc.message) from None
    except requests.RequestException as exc:
        raise TransientError(f"{type(exc).__name__} connecting to {settings.endpoint}") from None
    cancel.register(response)
    watch = WATCHDOG.watch(response, deadline.at, settings.min_rate_bps, settings.rate_window_s)
    try:
        with response:
            for answer in [*response.history, response]:  # the hub's 302 names the file it redirects to
                check_upstream(entry, sha256, size, advertised_sha256(answer.headers), None)
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
                    # read1: whatever has arrived (up to CHUNK), written at once: a kill loses nothing
                    piece = raw.read1(CHUNK, decode_content=False)
                    if not piece:
                        break
                    watch.count(len(piece))
                    _write(part, piece, entry)
            except (urllib3.exceptions.HTTPError, requests.RequestException, OSError, AttributeError) as exc:
                if cancel.is_set():
                    raise Cancelled() from None
                if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise from_os_error(exc, f"write {entry.relpath}") from None
                why = watch.reason or f"{type(exc).__name__} during the body"
                raise TransientError(f"{why} at byte {part.offset}") from None
    finally:
        WATCHDOG.release(watch)
        cancel.unregister(response)
    if size is not None and part.offset < size:
        raise TransientError(f"{watch.reason or 'body ended'} at byte {part.offset} of {size}")
    return True


def copy_local(
    entry: FileEntry,
    source: Path,
    slot: PartSlot,
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
    part = PartWriter(slot, size, progress)
    try:
        with source.open("rb") as handle:
            handle.seek(part.offset)
            while chunk := handle.read(CHUNK):
                if cancel.is_set():
                    raise Cancelled()
                _write(part, chunk, entry)
        return part.commit(sha256, f"{entry.relpath} (entry {entry.id!r})")
    finally:
        part.close()
