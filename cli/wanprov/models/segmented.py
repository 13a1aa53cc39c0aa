"""One file over several connections: byte ranges written at their offsets, hashed in order, resumable.

Over a WAN one HTTP stream is capped by latency and the congestion window, not by the host's link, so a
large file is fetched as ranges on several connections at once. The Hub's redirect is resolved once (a HEAD:
the CDN or Xet bridge location, X-Linked-Etag, X-Linked-Size) and the ranges go straight to that location;
when it expires (403/410) it is resolved again and the transfer goes on. A location that answers 200 to a
Range request makes the file fall back to one stream (transfer.py).

The part file (partfile.py owns it) has the full size from the start; `<part>.ranges.json` (segments.py)
says what is on disk. The sha256 follows the contiguous prefix (PrefixHasher), so the final check costs
nothing extra; only a verified file is fsynced and renamed into place. Each range GET is watched
(bounded_http.Watchdog): past the file's deadline or below the lowest throughput it is cut and retried.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from wanprov.bounded_http import WATCHDOG, Deadline, DeadlineExceeded, within
from wanprov.errors import IntegrityError, NetworkError
from wanprov.models.catalog import FileEntry
from wanprov.models.hub import (
    Attempts,
    HubSettings,
    RemoteFile,
    TransientError,
    advertised_sha256,
    check_upstream,
    classify_status,
    fetch_metadata,
    file_url,
    request_headers,
)
from wanprov.models.partfile import WRITEBACK_STEP, PartChangedError, PartSlot, PrefixHasher
from wanprov.models.segments import RangeSet, load_ranges, save_ranges
from wanprov.models.transfer import Cancellation, Cancelled, ProgressFn, no_space
from wanprov.models.transfer import download as one_stream
from wanprov.models.writeback import drop_cached, start_writeback

# Per-connection read. Measured on 2 x 2 GiB: 1 MiB reads took ~0.5 s less user CPU than 256 KiB (Python's
# per-read cost), but peak RSS at 32 connections went from ~130 to ~205 MB; 512 KiB: ~170 MB.
READ = 512 << 10
MAX_PIECE = 64 << 20
FLUSH_STEP = 8 << 20  # a connection starts the disk write of each 8 MiB it writes (writeback.py)
HASH_BACKLOG = 128 << 20  # out-of-order bytes wait while the hasher has more than this (or a round of pieces)
SAVE_EVERY_S = 0.5  # how stale the saved ranges may be when a run is killed
EXPIRED = (403, 410)  # what S3/CloudFront-style signed URLs answer once they lapse


class HeadTimeout(TransientError):
    """A range GET's answer head did not come within the read timeout."""


class RangeIgnored(Exception):
    """The location answered 200 to a Range request: one stream is all it can do."""


class LocationExpired(Exception):
    def __init__(self, generation: int) -> None:
        super().__init__(generation)
        self.generation = generation


class ConnectionBudget:
    """The run's cap on open connections, shared by every file in flight.

    A file's first connection goes before any file's extra ones, and an extra connection hands its slot back
    between pieces while a file waits for its first: a file that starts late (or a small one) is not queued
    behind the ranges of a large one, and when it is done its slots go back to the files still running.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self._free = total
        self._first_waiting = 0
        self._changed = threading.Condition()

    def acquire(self, stop: Callable[[], bool], first: bool = False) -> bool:
        with self._changed:
            self._first_waiting += first
            try:
                while not stop():
                    if self._free > (0 if first else self._first_waiting):
                        self._free -= 1
                        return True
                    self._changed.wait(0.05)
                return False
            finally:
                self._first_waiting -= first

    def contended(self) -> bool:
        """A file is waiting for its first connection."""
        return self._first_waiting > 0

    def release(self) -> None:
        with self._changed:
            self._free += 1
            self._changed.notify_all()


@dataclass(eq=False)  # identity: a piece is tracked in the set of active ones
class Piece:
    start: int  # bytes before this are recorded as done
    end: int  # exclusive
    pos: int  # next byte to write
    queued: int  # bytes before this have had their disk write started (writeback.py)


@dataclass(frozen=True)
class Location:
    url: str
    headers: dict[str, str]
    generation: int


def split_pieces(gaps: list[tuple[int, int]], connections: int, min_piece: int) -> deque[Piece]:
    """About four pieces per connection (so a slow one does not hold up the tail), within sane sizes."""
    remaining = sum(end - start for start, end in gaps)
    size = max(min_piece, min(MAX_PIECE, -(-remaining // max(1, connections * 4))))
    pieces: deque[Piece] = deque()
    for start, end in gaps:
        for low in range(start, end, size):
            pieces.append(Piece(low, min(end, low + size), low, low))
    return pieces


def wants_segments(size: int | None, connections: int, min_piece: int) -> bool:
    return size is not None and connections > 1 and size >= 2 * min_piece


def _same_origin(a: str, b: str) -> bool:
    one, two = urlsplit(a), urlsplit(b)
    return (one.scheme, one.netloc) == (two.scheme, two.netloc)


class SegmentedDownload:
    def __init__(
        self,
        entry: FileEntry,
        slot: PartSlot,
        size: int,
        sha256: str,
        settings: HubSettings,
        progress: ProgressFn,
        cancel: Cancellation,
        budget: ConnectionBudget,
        connections: int,
    ) -> None:
        self.entry, self.slot, self.size, self.sha256 = entry, slot, size, sha256
        self.settings, self.progress, self.cancel, self.budget = settings, progress, cancel, budget
        self.connections = connections
        self.deadline = Deadline(settings.deadline_s)  # the file's, every try of every range included
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._abort = Cancellation()  # this file's workers only: one fatal error stops the others
        self._error: BaseException | None = None
        self._ranges_ok = threading.Event()
        self._active: set[Piece] = set()
        self._pieces: deque[Piece] = deque()
        self._backlog_limit = HASH_BACKLOG
        self._location: Location | None = None
        self._resolves = 0
        self._etags: dict[int, str] = {}  # location generation -> the strong ETag its first 206 carried
        self._written_back = 0
        self.progress_reported = 0  # taken back if the file falls back to one stream
        self.kept_prefix = 0

    # --- the part file and its state -------------------------------------------------------------------

    def _kept_ranges(self) -> RangeSet:
        """What an earlier run left: its recorded ranges or a one-stream prefix; anything doubtful goes."""
        ranges = load_ranges(self.slot, self.size, self.sha256)
        if ranges is not None:
            return ranges
        if self.slot.state_exists():  # a state of another file, damaged, or not matching the part
            self.slot.discard()
            return RangeSet()
        kept = self.slot.part_size()  # a one-stream part is a contiguous prefix
        if kept is None:
            return RangeSet()
        if kept > self.size:
            self.slot.discard()
            return RangeSet()
        return RangeSet([(0, kept)])

    def _snapshot(self, ranges: RangeSet) -> RangeSet:
        """The done ranges plus what in-flight pieces have written (pos moves only after the write)."""
        with self._lock:
            snapshot = RangeSet(ranges.as_list())  # type: ignore[arg-type]
            for piece in self._active:
                snapshot.add(piece.start, piece.pos)
        return snapshot

    def _drop_hashed(self, hashed: int) -> None:
        """Hashed bytes are not read again: let them leave the page cache (their disk write started in
        _write), all but the last WRITEBACK_STEP, so a 20 GB download does not push the host's cache out."""
        end = hashed - WRITEBACK_STEP
        if end - self._written_back >= WRITEBACK_STEP:
            drop_cached(self._fd, self._written_back, end - self._written_back)
            self._written_back = end

    # --- the run ---------------------------------------------------------------------------------------

    def run(self) -> str:
        """Fetch the missing ranges and verify; raises RangeIgnored when the file must go as one stream."""
        self._ranges = ranges = self._kept_ranges()
        self._location = self._resolve(0)  # before touching the part: a changed upstream stops here
        self._fd = self.slot.open_part()
        self._hasher = PrefixHasher(self._fd, self._drop_hashed, changed=self.slot.changed, size=self.size)
        try:
            save_ranges(self.slot, self.size, self.sha256, ranges)  # before the part grows past its prefix
            os.ftruncate(self._fd, self.size)  # sparse: blocks are allocated as ranges land
            self.progress(ranges.total())
            self.progress_reported = ranges.total()
            self._hasher.advance(ranges.prefix_end())  # hashlib keeps no state across runs: re-read once
            gaps = ranges.missing(self.size)
            self._pieces = split_pieces(gaps, self.connections, self.settings.segment_bytes)
            # One round of pieces completing at once is normal lag (capped links), not a starved hasher.
            span = max((piece.end - piece.start for piece in self._pieces), default=0) * self.connections
            self._backlog_limit = max(HASH_BACKLOG, span)
            self._run_workers(ranges)
            if isinstance(self._error, IntegrityError | PartChangedError):  # which bytes are whose?
                self.slot.discard()
            if self._error is not None:
                self.kept_prefix = self._ranges.prefix_end()
                raise self._error
            return self._commit()
        finally:
            self._hasher.close()  # its thread reads the fd: stop it before closing
            os.close(self._fd)

    def _run_workers(self, ranges: RangeSet) -> None:
        count = min(self.connections, len(self._pieces))
        threads = [
            threading.Thread(target=self._worker, args=(index == 0,), name=f"range-{index}", daemon=True)
            for index in range(count)
        ]
        for thread in threads:
            thread.start()
        last_save = time.monotonic()
        for thread in threads:
            while thread.is_alive():
                thread.join(SAVE_EVERY_S)
                if self.cancel.is_set():
                    self._fail(Cancelled())  # also wakes workers sleeping in a backoff
                if self._hasher.failure is not None:  # the part shrank under the read-back: stop now
                    self._fail(self._hasher.failure)
                if time.monotonic() - last_save >= SAVE_EVERY_S:  # what a kill -9 keeps of in-flight pieces
                    self._save()
                    last_save = time.monotonic()
        if self._error is not None and not isinstance(self._error, PartChangedError):
            self._save()

    def _commit(self) -> str:
        actual = self._hasher.finish(self.size)
        what = f"{self.entry.relpath} (entry {self.entry.id!r})"
        return self.slot.commit_verified(self._fd, self.size, actual, self.sha256, what)

    def _fail(self, error: BaseException) -> None:
        with self._lock:
            if self._error is None or isinstance(self._error, Cancelled):
                self._error = error
        self._abort.set()  # wakes workers blocked in a read

    def _stopped(self) -> bool:
        return self.cancel.is_set() or self._abort.is_set()

    # --- where the bytes are ---------------------------------------------------------------------------

    def _resolve(self, generation: int) -> Location:
        remote: RemoteFile = fetch_metadata(self.entry, self.settings)
        check_upstream(self.entry, self.sha256, self.size, remote.sha256, remote.size)
        url = remote.location or remote.url
        headers = request_headers()
        if not _same_origin(url, self.settings.endpoint):
            # a signed CDN URL needs no token: never hand it to another host
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        return Location(url, headers, generation)

    def _reresolve(self, expired: int) -> None:
        with self._lock:
            current = self._location
            assert current is not None
            if current.generation != expired:
                return  # another worker already resolved a fresh location
            self._resolves += 1
            if self._resolves > self.settings.retries:
                raise NetworkError(
                    f"{self.entry.relpath} (entry {self.entry.id!r}): the download location expired "
                    f"{self._resolves} times",
                    hint="re-run: the download resumes from the ranges kept in .wanprov-partial/",
                )
            self._location = self._resolve(current.generation + 1)

    # --- workers ---------------------------------------------------------------------------------------

    def _take(self) -> Piece | None:
        with self._lock:
            if not self._pieces:
                return None
            piece = self._pieces.popleft()
            self._active.add(piece)
            return piece

    def _put_back(self, piece: Piece) -> None:
        with self._lock:
            self._active.discard(piece)
            self._ranges.add(piece.start, piece.pos)
            piece.start = piece.pos
            self._pieces.appendleft(piece)

    def _done(self, piece: Piece) -> None:
        with self._lock:
            self._active.discard(piece)
            self._ranges.add(piece.start, piece.end)
            prefix = self._ranges.prefix_end()
        self._save()
        self._hasher.advance(prefix)

    def _save(self) -> None:
        """Save what is on disk; one saver at a time, so an older snapshot never lands after a newer one."""
        with self._save_lock:
            save_ranges(self.slot, self.size, self.sha256, self._snapshot(self._ranges))

    def _worker(self, probe: bool) -> None:
        """Probe (the first) finds out whether the location honours Range; the others wait for that."""
        import requests

        if not probe:
            while not self._ranges_ok.wait(0.05):
                if self._stopped():
                    return
        if not self.budget.acquire(self._stopped, first=probe):
            return
        held = True
        session = requests.Session()
        attempts = Attempts(
            self.settings,
            f"{self.entry.relpath} (entry {self.entry.id!r})",
            "re-run: the download resumes from the ranges kept in .wanprov-partial/",
            self.deadline,
        )
        try:
            while not self._stopped():
                if not probe and self.budget.contended():  # a file has no connection yet: make way
                    session.close()
                    self.budget.release()
                    held = self.budget.acquire(self._stopped)  # back when the slots allow
                    if not held:
                        return
                piece = self._take()
                if piece is None:
                    return
                before = piece.pos
                try:
                    self._fetch(session, piece)
                except TransientError as exc:
                    self._put_back(piece)
                    if isinstance(exc, HeadTimeout):  # the abandoned call may still use the session
                        session = requests.Session()
                    delay = attempts.failed(exc, piece.pos > before, f"at byte {piece.pos}")
                    if self._abort.wait(delay):
                        return
                    continue
                except LocationExpired as exc:
                    self._put_back(piece)
                    self._reresolve(exc.generation)
                    continue
                except BaseException:
                    self._put_back(piece)
                    raise
                self._done(piece)
        except BaseException as exc:  # the file's thread raises it
            self._fail(exc)
        finally:
            session.close()
            if held:
                self.budget.release()
            if probe:
                self._ranges_ok.set()  # release waiting workers: they find the pieces or the stop

    def _fetch(self, session, piece: Piece) -> None:
        import requests
        import urllib3

        location = self._location
        assert location is not None
        headers = dict(location.headers, Range=f"bytes={piece.pos}-{piece.end - 1}")
        etag = self._etags.get(location.generation)
        if etag:
            headers["If-Range"] = etag  # a changed file then answers 200 with its new ETag, not mixed bytes
        left = max(self.deadline.remaining(), 0.001)

        def get() -> requests.Response:
            timeout = (min(10, left), min(self.settings.timeout_s, left))
            return session.get(location.url, headers=headers, stream=True, timeout=timeout)

        try:  # the answer's head, too, within the read timeout as a whole (a server may trickle it)
            response = within(self.deadline.clipped(self.settings.timeout_s), get, f"GET bytes {piece.pos}-")
        except DeadlineExceeded as exc:
            raise HeadTimeout(exc.message) from None
        except requests.RequestException as exc:
            raise TransientError(f"{type(exc).__name__} connecting for bytes {piece.pos}-") from None
        self.cancel.register(response)
        self._abort.register(response)
        watch = WATCHDOG.watch(
            response, self.deadline.at, self.settings.min_rate_bps, self.settings.rate_window_s
        )
        try:
            with response:
                self._check_answer(response, piece, location)
                self._ranges_ok.set()
                raw = response.raw
                while piece.pos < piece.end:
                    if self._stopped():  # Ctrl-C, or another range failed for good
                        raise Cancelled()
                    try:
                        data = raw.read1(min(READ, piece.end - piece.pos), decode_content=False)
                    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError, AttributeError):
                        if self._stopped():
                            raise Cancelled() from None
                        why = watch.reason or "connection lost"
                        raise TransientError(f"{why} at byte {piece.pos}") from None
                    if not data:
                        why = watch.reason or "body ended"
                        raise TransientError(f"{why} at byte {piece.pos}, range ends at {piece.end}")
                    watch.count(len(data))
                    self._write(data, piece)
        finally:
            WATCHDOG.release(watch)
            self.cancel.unregister(response)
            self._abort.unregister(response)

    def _check_answer(self, response, piece: Piece, location: Location) -> None:
        status = response.status_code
        history = [*response.history, response]
        for answer in history:  # the hub's 302 carries X-Linked-Etag; a CDN may send its own ETag
            check_upstream(self.entry, self.sha256, self.size, advertised_sha256(answer.headers), None)
        if status in EXPIRED and not _same_origin(response.url, self.settings.endpoint):
            raise LocationExpired(location.generation)
        if status >= 400:
            raise classify_status(
                status, response.headers.get("X-Error-Code"), response.headers.get("Retry-After"), self.entry
            )
        self._check_etag(response.headers.get("ETag"), status, location)
        if status == 200:
            raise RangeIgnored()
        if status != 206:
            raise TransientError(f"HTTP {status} to a Range request")
        content_range = response.headers.get("Content-Range", "")
        try:
            unit_span, total = content_range.split("/")
            first, last = (int(v) for v in unit_span.removeprefix("bytes ").split("-"))
            whole = int(total)
        except ValueError:
            raise TransientError(f"bad Content-Range {content_range!r}") from None
        check_upstream(self.entry, self.sha256, self.size, None, whole)
        if first != piece.pos or last >= piece.end:
            raise TransientError(f"asked bytes {piece.pos}-{piece.end - 1}, got {first}-{last}")

    def _check_etag(self, etag: str | None, status: int, location: Location) -> None:
        """One location, one ETag: another one mid-transfer means the file changed under us (If-Range)."""
        if not etag or etag.startswith("W/"):
            return  # absent or weak: says nothing about the bytes
        with self._lock:
            known = self._etags.setdefault(location.generation, etag) if status == 206 else None
            known = known or self._etags.get(location.generation)
        if known is not None and known != etag:
            raise IntegrityError(
                f"{self.entry.relpath} (entry {self.entry.id!r}): the file changed upstream during the "
                f"transfer (ETag {known} then {etag}); pinned sha256 {self.sha256}",
                hint="the bytes fetched so far are dropped; pin the revision to a commit (`wanprov models "
                "lock`) or update the entry if the new file is wanted, then re-run",
            )

    def _write(self, data: bytes, piece: Piece) -> None:
        if piece.start > self._hasher.target:  # out of order: do not run ahead of the sha256 (segments.py)
            self._hasher.wait_for_backlog(self._backlog_limit, self._stopped)
        view = memoryview(data)
        while view:
            try:
                written = os.pwrite(self._fd, view, piece.pos)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise no_space(self.entry, self.slot.path, exc) from None
                raise
            self._hasher.feed(piece.pos, view[:written])
            view = view[written:]
            piece.pos += written  # after the write: a saved snapshot never claims bytes not written
            self.progress(written)
            self.progress_reported += written
        if piece.pos - piece.queued >= FLUSH_STEP or piece.pos == piece.end:
            start_writeback(self._fd, piece.queued, piece.pos - piece.queued)
            piece.queued = piece.pos


def keep_prefix(slot: PartSlot, prefix: int) -> None:
    """Turn a segmented part into a one-stream part: its contiguous prefix, without the ranges state."""
    slot.drop_state()
    slot.truncate_part(prefix)


def fetch_remote(
    entry: FileEntry,
    slot: PartSlot,
    sha256: str,
    settings: HubSettings,
    progress: ProgressFn,
    cancel: Cancellation,
    budget: ConnectionBudget,
    connections: int,
) -> str:
    """Segmented when the file is large enough and the location honours Range; else one stream."""
    size = entry.size
    if size is not None and wants_segments(size, connections, settings.segment_bytes):
        download = SegmentedDownload(
            entry, slot, size, sha256, settings, progress, cancel, budget, connections
        )
        try:
            return download.run()
        except RangeIgnored:
            progress(-download.progress_reported)
            keep_prefix(slot, download.kept_prefix)
    elif size is not None and slot.state_exists():  # left by a segmented run
        kept = load_ranges(slot, size, sha256)
        keep_prefix(slot, kept.prefix_end() if kept else 0)
    if not budget.acquire(cancel.is_set, first=True):
        raise Cancelled()
    try:
        return one_stream(entry, file_url(entry, settings), slot, size, sha256, settings, progress, cancel)
    finally:
        budget.release()
