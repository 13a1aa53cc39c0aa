"""The one owner of a file fetch-models puts in place: its folders, part file, state, lock, hash, final name.

Who may write what (docs/security.md): root runs fetch-models; the ComfyUI service user may write the models
folder and runs third-party node code. So any name below the models folder may be a link, a FIFO or a folder
planted there, and may be swapped between two calls. Hence:

- the base folder (--models-dir, or custom_nodes/ for a pack's file) is the operator's and is taken as given;
  each folder below it is opened one name at a time with O_NOFOLLOW, and every later call goes through those
  folder descriptors (openat, renameat), so a name swapped afterwards cannot redirect a write;
- the partial folder `.wanprov-partial/` is created by this process (0700) or, when it is there, must belong
  to this user (its group/other write bits are dropped): only this user can then put names into it;
- every file is opened with O_NOFOLLOW | O_NONBLOCK and checked to be a regular file before use: a link,
  FIFO, device, socket or folder at the part, state, lock or final name is refused (UnsafePathError,
  exit 15) and nothing is written through it;
- the final file appears by rename only (renameat out of the partial folder), after its size and sha256
  matched;
- the sha256 read-back uses pread, which comes back short on a file truncated under it (an mmap would kill
  the process with SIGBUS): a part file that shrank is PartChangedError (exit 15) and is discarded.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import secrets
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from wanprov.errors import IntegrityError, WanprovError
from wanprov.exit_codes import ExitCode
from wanprov.models.writeback import drop_cached

PARTIAL_DIR = ".wanprov-partial"
HASH_READ = 4 << 20  # read-back size: the page cache serves it, the buffer is reused memory
STATE_MAX_BYTES = 4 << 20  # a ranges state is a few KB; a bigger one is not ours
WRITEBACK_STEP = 64 << 20  # start the disk write of every 64 MiB as it is done, so the final fsync is short
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # NONBLOCK: opening a planted FIFO must not hang
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_HINT = (
    "someone who may write this folder put it there (the ComfyUI service user can); look at it, remove it, "
    "and re-run: nothing is ever written through a link or into anything but a regular file"
)

ProgressFn = Callable[[int], None]


class UnsafePathError(WanprovError):
    """A name to be written holds a link, FIFO, device, socket or folder, or a folder others control."""

    exit_code = ExitCode.UNSAFE_PATH
    code = "unsafe_path"


class PartChangedError(UnsafePathError):
    """Another process changed the part file during the fetch (truncated it): it is discarded."""

    code = "part_changed"


def partial_path(final: Path, sha256: str) -> Path:
    """Where the part file of `final` lives (for display and the plan: the slot opens it safely)."""
    return final.parent / PARTIAL_DIR / f"{final.name}.{sha256[:16]}.part"


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISREG, "a file"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _refuse(shown: Path, what: str) -> UnsafePathError:
    return UnsafePathError(f"{shown}: {what} where a file goes; refused, nothing written", hint=_HINT)


def _open_child_folder(dir_fd: int, name: str, shown: Path) -> int:
    """The folder `name` in `dir_fd`, opened without following a link; a link or a file there is refused."""
    try:
        return os.open(name, _DIR, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            kind = _kind(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
            raise _refuse(shown, f"{kind} where a folder belongs") from None
        raise


def open_folder(base: Path, below: Sequence[str], *, create: bool = True) -> int:
    """A descriptor of base/below..., each name below `base` opened without following a link."""
    if create:
        base.mkdir(parents=True, exist_ok=True)
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # the operator's own path
    shown = base
    try:
        for name in below:
            shown = shown / name
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o777, dir_fd=fd)
            child = _open_child_folder(fd, name, shown)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private_folder(parent_fd: int, name: str, shown: Path) -> int:
    """A folder only this user may write: made here 0700, or one that is already this user's (the group and
    other write bits are dropped); another owner's, a link or a file there is refused."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o700, dir_fd=parent_fd)
    fd = _open_child_folder(parent_fd, name, shown)
    info = os.fstat(fd)
    if info.st_uid != os.geteuid():
        os.close(fd)
        raise UnsafePathError(
            f"{shown}: the folder belongs to uid {info.st_uid}, not to this user (uid {os.geteuid()}): its "
            "owner could plant links in it; refused, nothing written",
            hint="remove the folder (what is in it is made again) and re-run as the user that owns the "
            "models, or as root",
        )
    if info.st_mode & 0o022:
        os.fchmod(fd, stat.S_IMODE(info.st_mode) & ~0o022)  # ours: shut others out before using it
    return fd


def lstat_regular(dir_fd: int, name: str, shown: Path) -> os.stat_result | None:
    """The entry at `name` if it is a regular file, None if there is none; anything else is refused."""
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(shown, _kind(info.st_mode))
    return info


def open_regular(dir_fd: int, name: str, flags: int, shown: Path, mode: int = 0o666) -> int:
    """open(2) without following a link or blocking on a FIFO; the result is a regular file or refused."""
    try:
        fd = os.open(name, flags | _NOFOLLOW, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO, errno.EOPNOTSUPP, errno.ENOTDIR):
            lstat_regular(dir_fd, name, shown)  # names what is there
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise _refuse(shown, _kind(info.st_mode))
    os.set_blocking(fd, True)
    return fd


@contextlib.contextmanager
def locked(dir_fd: int, name: str, shown: Path) -> Iterator[None]:
    """An exclusive flock on `name` (made 0600): released by the kernel if the process dies."""
    fd = open_regular(dir_fd, name, os.O_RDWR | os.O_CREAT, shown, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # drops the lock


def read_small(dir_fd: int, name: str, shown: Path, cap: int) -> bytes | None:
    """The content of a small regular file, None when missing or larger than `cap`."""
    if lstat_regular(dir_fd, name, shown) is None:
        return None
    fd = open_regular(dir_fd, name, os.O_RDONLY, shown)
    try:
        data = os.read(fd, cap + 1)
    finally:
        os.close(fd)
    return None if len(data) > cap else data


def write_replace(dir_fd: int, name: str, data: bytes, *, fsync: bool = False, mode: int = 0o600) -> None:
    """Replace `name` atomically: a fresh temp name (O_EXCL), then a rename within the same folder."""
    tmp = f".{name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, mode, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    os.close(fd)
    os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    if fsync:
        with contextlib.suppress(OSError):
            os.fsync(dir_fd)


class PartSlot:
    """One file's place: the folder fds, the part/state/lock names in the partial folder, the final name."""

    def __init__(self, final: Path, base: Path, sha256: str) -> None:
        relative = final.relative_to(base).parts
        if not relative:
            raise ValueError(f"{final} is not below {base}")
        self.final = final
        self.final_name = relative[-1]
        self.part_name = f"{self.final_name}.{sha256[:16]}.part"
        self.state_name = f"{self.part_name}.ranges.json"
        self.lock_name = f"{self.part_name}.lock"
        self.path = final.parent / PARTIAL_DIR / self.part_name  # for messages only
        self.parent_fd = open_folder(base, relative[:-1])
        try:
            self.dir_fd = open_private_folder(self.parent_fd, PARTIAL_DIR, final.parent / PARTIAL_DIR)
        except BaseException:
            os.close(self.parent_fd)
            raise

    def close(self) -> None:
        for fd in (self.dir_fd, self.parent_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> PartSlot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- checked names ---------------------------------------------------------------------------------

    def _shown(self, dir_fd: int, name: str) -> Path:
        return (self.final.parent if dir_fd == self.parent_fd else self.path.parent) / name

    def _lstat(self, dir_fd: int, name: str) -> os.stat_result | None:
        return lstat_regular(dir_fd, name, self._shown(dir_fd, name))

    def _open(self, dir_fd: int, name: str, flags: int, mode: int = 0o666) -> int:
        return open_regular(dir_fd, name, flags, self._shown(dir_fd, name), mode)

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """One run per file at a time (flock on `<part>.lock`)."""
        return locked(self.dir_fd, self.lock_name, self._shown(self.dir_fd, self.lock_name))

    # --- the final name --------------------------------------------------------------------------------

    def final_size(self) -> int | None:
        """Size of the regular file at the final name, None when there is none."""
        info = self._lstat(self.parent_fd, self.final_name)
        return None if info is None else info.st_size

    def hash_final(self, progress: ProgressFn | None = None) -> str:
        fd = self._open(self.parent_fd, self.final_name, os.O_RDONLY)
        try:
            hasher = PrefixHasher(fd, progress=progress)
            return hasher.finish(os.fstat(fd).st_size)
        finally:
            os.close(fd)

    # --- the part file ---------------------------------------------------------------------------------

    def part_size(self) -> int | None:
        info = self._lstat(self.dir_fd, self.part_name)
        return None if info is None else info.st_size

    def open_part(self) -> int:
        return self._open(self.dir_fd, self.part_name, os.O_RDWR | os.O_CREAT)

    def truncate_part(self, size: int) -> None:
        """Keep the first `size` bytes of the part file (nothing when there is none)."""
        if self.part_size() is None:
            return
        fd = self.open_part()
        try:
            os.ftruncate(fd, size)
        finally:
            os.close(fd)

    def discard(self) -> None:
        """Delete the part file and its state (bad or changed bytes)."""
        for name in (self.part_name, self.state_name):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=self.dir_fd)

    def commit(self, fd: int, size: int) -> None:
        """fsync the verified part and rename it onto the final name (a regular file there is replaced)."""
        if os.fstat(fd).st_size != size:
            raise self.changed(f"is {os.fstat(fd).st_size} bytes, {size} were written and hashed")
        os.fsync(fd)  # cheap by now: the writeback was started as bytes arrived
        self._lstat(self.parent_fd, self.final_name)  # a link or folder there: refused, not replaced
        os.rename(self.part_name, self.final_name, src_dir_fd=self.dir_fd, dst_dir_fd=self.parent_fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.state_name, dir_fd=self.dir_fd)
        with contextlib.suppress(OSError):
            os.fsync(self.parent_fd)

    def adopt(self, staged: Path, sha256: str, size: int | None, progress: ProgressFn | None = None) -> str:
        """Verify a file another program wrote (a swarm engine's staging folder) and rename it onto the final
        name: no second copy of a multi-GB file. It is opened without following a link and must be a regular
        file; what was hashed is what lands (same inode after the rename, else it is removed again).
        OSError(EXDEV) when `staged` is on another filesystem (the caller copies instead)."""
        try:
            fd = os.open(staged, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _refuse(staged, "a symbolic link") from exc
            raise
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise _refuse(staged, _kind(info.st_mode))
            os.set_blocking(fd, True)
            if size is not None and info.st_size != size:
                raise IntegrityError(f"{staged}: {info.st_size} bytes, the catalog expects {size}", hint=None)
            actual = PrefixHasher(fd, progress=progress).finish(info.st_size)
            if actual != sha256:
                raise IntegrityError(f"{staged}: sha256 mismatch: expected {sha256}, got {actual}", hint=None)
            os.fsync(fd)
            self._lstat(self.parent_fd, self.final_name)  # a link or folder there: refused, not replaced
            os.rename(staged, self.final_name, dst_dir_fd=self.parent_fd)
            landed = os.stat(self.final_name, dir_fd=self.parent_fd, follow_symlinks=False)
            if (landed.st_dev, landed.st_ino) != (info.st_dev, info.st_ino):
                os.unlink(self.final_name, dir_fd=self.parent_fd)
                raise self.changed("the staged file was replaced between its check and its rename")
            with contextlib.suppress(OSError):
                os.fsync(self.parent_fd)
            return actual
        finally:
            os.close(fd)

    def commit_verified(
        self, fd: int, size: int, actual: str, expected_sha: str, what: str, expected_size: int | None = None
    ) -> str:
        """The one way a part becomes the final file: its sha256 (and size) match, then commit(); bad bytes
        are deleted (IntegrityError)."""
        if actual != expected_sha or (expected_size is not None and size != expected_size):
            self.discard()
            expected = f", expected {expected_size}" if expected_size is not None else ""
            raise IntegrityError(
                f"{what}: sha256 mismatch: expected {expected_sha}, got {actual} ({size} bytes{expected}); "
                "bad bytes deleted",
                hint="re-run to download again; if it repeats, the source or the catalog's sha256 is wrong",
            )
        self.commit(fd, size)
        return actual

    def changed(self, what: str) -> PartChangedError:
        self.discard()
        return PartChangedError(
            f"{self.path}: the part file changed under the running fetch ({what}): another process wrote "
            "it; it is discarded",
            hint="find what else writes into the partial folder, then re-run (the file is fetched again)",
        )

    # --- the ranges state (segments.py says what is in it) ---------------------------------------------

    def state_exists(self) -> bool:
        return self._lstat(self.dir_fd, self.state_name) is not None

    def read_state(self) -> str | None:
        shown = self._shown(self.dir_fd, self.state_name)
        data = read_small(self.dir_fd, self.state_name, shown, STATE_MAX_BYTES)
        return None if data is None else data.decode("utf-8", errors="replace")

    def write_state(self, text: str) -> None:
        write_replace(self.dir_fd, self.state_name, text.encode("utf-8"))

    def drop_state(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.state_name, dir_fd=self.dir_fd)


class PrefixHasher:
    """sha256 of bytes [0, offset) of an open file, advanced as the contiguous prefix grows.

    Bytes that extend the prefix are hashed from memory as they are written (`feed`); bytes written out of
    order are hashed by the hasher's own thread when the prefix reaches them (`advance`), read back with
    pread from the page cache (just written, they are still there), so no connection waits for it. pread,
    not mmap: a mapping of a file truncated by another process kills the process with SIGBUS, pread comes
    back short and the part is discarded. Measured on 1 GiB in the page cache: pread of 4 MiB costs ~0.05 s
    more system CPU than the mapping, under 3 % of a fetch's CPU.
    `after_hash(offset)` lets the caller drop what is hashed (no longer needed) from the cache.
    """

    def __init__(
        self,
        fd: int,
        after_hash: Callable[[int], None] | None = None,
        *,
        progress: ProgressFn | None = None,
        changed: Callable[[str], BaseException] | None = None,
        size: int | None = None,
    ) -> None:
        self.fd = fd
        self.size = size  # a segmented part has its full size from the start: less means it was cut
        self.digest = hashlib.sha256()
        self.offset = 0  # hashed up to here; moves under _lock only
        self._after_hash = after_hash
        self._progress = progress
        self._changed = changed
        self._lock = threading.Lock()
        self._wake = threading.Condition()
        self._target = 0
        self._closing = False
        self._abandon = False
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._buffer = memoryview(bytearray(HASH_READ))
        self._hashed = threading.Condition()  # notified as the hasher thread moves on

    @property
    def target(self) -> int:
        """The contiguous prefix asked for so far (bytes past it are out of order)."""
        return self._target

    @property
    def failure(self) -> BaseException | None:
        """Why the hasher thread stopped (the part file shrank under it), if it did."""
        return self._failure

    def backlog(self) -> int:
        """Bytes of the asked-for prefix the hasher thread has not hashed yet."""
        return max(0, self._target - self.offset)

    def wait_for_backlog(self, limit: int, stop: Callable[[], bool]) -> None:
        """Block while more than `limit` bytes wait for the hasher thread (or until `stop`, or it ends).

        Receiving threads call this before writing bytes past the prefix: the sha256 then keeps pace with
        the download instead of being starved of CPU by it and finishing seconds after the last byte."""
        with self._hashed:
            while self.backlog() > limit and not stop() and not self._closing and self._failure is None:
                self._hashed.wait(0.05)

    def advance(self, end: int) -> None:
        """Ask for the prefix up to `end` to be hashed; returns at once (the hasher thread reads it back)."""
        with self._wake:
            if end <= self._target:
                return
            self._target = end
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="prefix-hash", daemon=True)
                self._thread.start()
            self._wake.notify()

    def catch_up(self, end: int) -> None:
        """Hash [offset, end) now, in the calling thread (a resumed one-stream prefix)."""
        self._target = max(self._target, end)
        self._hash_to(end)

    def feed(self, offset: int, data: bytes | memoryview) -> None:
        """Hash bytes just written at `offset` straight from memory when they extend the prefix.

        The range at the prefix is usually one in flight, so many bytes are hashed here as they arrive."""
        if self.offset != offset or not self._lock.acquire(blocking=False):
            return
        try:
            if self.offset == offset:
                self.digest.update(data)
                self.offset += len(data)
                if self._after_hash:
                    self._after_hash(self.offset)
        finally:
            self._lock.release()

    def finish(self, end: int) -> str:
        """The sha256 of [0, end), once the hasher thread (if any) has caught up."""
        if self._thread is not None:
            self.advance(end)
            self._stop(abandon=False)
        self._hash_to(end)  # nothing left unless no thread ever ran
        return self.digest.hexdigest()

    def close(self) -> None:
        """Stop hashing without finishing (the transfer failed or was cancelled)."""
        self._stop(abandon=True)

    def _stop(self, abandon: bool) -> None:
        with self._wake:
            self._closing, self._abandon = True, abandon
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()
        if self._failure is not None and not abandon:
            raise self._failure

    def _run(self) -> None:
        try:
            while True:
                with self._wake:
                    while self.offset >= self._target and not self._closing:
                        self._wake.wait()
                    if self._abandon or (self._closing and self.offset >= self._target):
                        return
                    target = self._target
                self._hash_to(target)
        except BaseException as exc:  # raised to the caller of finish()
            self._failure = exc
        finally:
            with self._hashed:
                self._hashed.notify_all()

    def _hash_to(self, end: int) -> None:
        while self.offset < end and not self._abandon:
            with self._lock:  # per read, so feed() can interleave and take over at the new offset
                want = min(HASH_READ, end - self.offset)
                if want <= 0:
                    break
                count = os.preadv(self.fd, [self._buffer[:want]], self.offset)
                short = self.size is not None and os.fstat(self.fd).st_size < self.size
                if count <= 0 or short:  # the file ends before bytes this run wrote or kept: it was cut
                    what = f"it ends at byte {os.fstat(self.fd).st_size}, {self.size or end} were expected"
                    if self._changed is not None:
                        raise self._changed(what)
                    raise PartChangedError(f"the file changed while it was hashed ({what})", hint=None)
                self.digest.update(self._buffer[:count])
                self.offset += count
                if self._after_hash:
                    self._after_hash(self.offset)
                if self._progress:
                    self._progress(count)
            with self._hashed:
                self._hashed.notify_all()


class PartWriter:
    """The part file written front to back (one stream, a mirror copy) with its running sha256.

    Resumes from what an earlier run left: that prefix is hashed once (hashlib keeps no state across runs)."""

    def __init__(self, slot: PartSlot, expected_size: int | None, progress: ProgressFn) -> None:
        self.slot = slot
        self.expected_size = expected_size
        self.progress = progress
        self.fd = slot.open_part()
        self.hasher = PrefixHasher(self.fd, changed=slot.changed)
        self.offset = self._written_back = 0
        size = os.fstat(self.fd).st_size
        if expected_size is not None and size > expected_size:
            os.ftruncate(self.fd, 0)
        elif size:
            self.hasher.catch_up(size)
            progress(size)
            self.offset = self._written_back = size

    def restart(self) -> None:
        """The server ignored Range: take the whole body from byte 0."""
        os.ftruncate(self.fd, 0)
        self.hasher = PrefixHasher(self.fd, changed=self.slot.changed)
        self.offset = self._written_back = 0

    def write(self, chunk: bytes | memoryview) -> None:
        view = memoryview(chunk)
        while view:
            written = os.pwrite(self.fd, view, self.offset)  # ENOSPC: the caller names it (exit 9)
            self.hasher.feed(self.offset, view[:written])
            self.offset += written
            view = view[written:]
        self.progress(len(chunk))
        if self.offset - self._written_back >= 2 * WRITEBACK_STEP:
            # Overlap the disk write with the download instead of paying for it all in the final fsync:
            # POSIX_FADV_DONTNEED starts writeback of the range's dirty pages (Linux) and drops clean ones.
            end = self.offset - WRITEBACK_STEP
            drop_cached(self.fd, self._written_back, end - self._written_back)
            self._written_back = end

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)

    def commit(self, expected_sha: str, what: str) -> str:
        """Check size and sha256, then fsync and rename into place; bad bytes are deleted."""
        actual = self.hasher.finish(self.offset)
        return self.slot.commit_verified(self.fd, self.offset, actual, expected_sha, what, self.expected_size)


def hash_path(path: Path, progress: ProgressFn | None = None) -> str:
    """sha256 of the regular file at `path` (`models verify`: reading only, so a link is followed; a FIFO or
    device is refused instead of blocking or reading forever)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePathError(f"{path}: {_kind(info.st_mode)}, not a model file", hint=_HINT)
        os.set_blocking(fd, True)
        return PrefixHasher(fd, progress=progress).finish(info.st_size)
    finally:
        os.close(fd)
