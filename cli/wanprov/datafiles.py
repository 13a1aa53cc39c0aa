"""Reading the project's data files and writing files safely; one implementation for the whole core.

- Writes are atomic: a temp file in the target folder, then os.replace, so a crash or a concurrent reader
  never sees half a file under the final name.
- YAML is read with libyaml's CSafeLoader where available (several times faster than the pure-Python
  loader, which matters for the sub-second no-op paths) and errors always name the file.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from wanprov.errors import ManifestError, UsageError, WanprovError, from_os_error


def write_text_atomic(
    path: Path,
    text: str,
    *,
    mode: int | None = None,
    fsync: bool = False,
    uid: int | None = None,
    gid: int | None = None,
    make_parents: bool = True,
) -> None:
    """Replace `path` with `text` atomically; `fsync` makes the content durable before the rename.

    `mode`, `uid` and `gid` (owner) are set on the temp file, so the final name never shows other
    attributes."""
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        if mode is not None:
            Path(tmp).chmod(mode)
        if uid is not None or gid is not None:
            os.chown(tmp, -1 if uid is None else uid, -1 if gid is None else gid)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_if_changed(path: Path, text: str, *, mode: int = 0o644) -> bool:
    """Write `text` atomically unless `path` already holds it; return whether anything was written."""
    try:
        if Path(path).read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    write_text_atomic(path, text, mode=mode)
    return True


def write_json_atomic(path: Path, document: Any, *, sort_keys: bool = False) -> None:
    write_text_atomic(path, json.dumps(document, indent=2, sort_keys=sort_keys, allow_nan=False) + "\n")


def write_output(path: Path, text: str, *, what: str = "output file", fsync: bool = False) -> None:
    """Write a file a user named (`-o`, `--editor-out`, `--save-facts`, a lock file), atomically.

    Unlike write_text_atomic it never creates folders and never replaces what is not a regular file: a
    symlink, FIFO, device or folder at `path` is refused (the rename would silently swap it for a regular
    file). An existing file keeps its mode and owner (a root run must not leave a 0600 root file that the
    ComfyUI service user cannot read); a new one gets 0666 less the umask, like any shell redirection.
    OS failures become typed errors naming the path: a full disk exit 9, anything else exit 3."""
    path = Path(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise WanprovError(f"cannot write {what} {path}: {exc.strerror}", hint="fix the path") from exc
    if info is not None and not stat.S_ISREG(info.st_mode):
        kind = _file_kind(info.st_mode)
        raise UsageError(
            f"{what} {path} is a {kind}, not a regular file; refusing to replace it",
            hint="name a regular file (or leave the option out to print to stdout, and redirect)",
        )
    if not path.parent.is_dir():
        raise WanprovError(
            f"cannot write {what} {path}: the folder {path.parent} does not exist",
            hint=f"create {path.parent} first, or fix the path",
        )
    if info is not None:
        if info.st_uid != os.geteuid() and os.geteuid() != 0:
            # the rename would hand the file to this user; only root can give it back to its owner
            raise WanprovError(
                f"{what} {path} belongs to uid {info.st_uid}; replacing it as uid {os.geteuid()} would "
                "change its owner",
                hint="run as that user or as root, or write elsewhere",
            )
        mode, uid, gid = stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid
        if (uid, gid) == (os.geteuid(), os.getegid()):
            uid = gid = None  # already ours: nothing to change (and no privilege needed)
    else:
        mode, uid, gid = 0o666 & ~_umask(), None, None
    try:
        write_text_atomic(path, text, mode=mode, uid=uid, gid=gid, fsync=fsync, make_parents=False)
    except OSError as exc:
        raise from_os_error(exc, f"write {what} {path}") from exc


def write_json_output(
    path: Path, document: Any, *, what: str = "output file", sort_keys: bool = False
) -> None:
    write_output(path, json.dumps(document, indent=2, sort_keys=sort_keys, allow_nan=False) + "\n", what=what)


def _file_kind(mode: int) -> str:
    kinds = [
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISDIR, "folder"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "special file")


def _umask() -> int:
    """The process umask, read without changing it where Linux says it (setting it races with threads)."""
    try:
        with Path("/proc/self/status").open(encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def fsync_dir(path: Path) -> None:
    """Make a rename durable (the directory entry), where the OS allows opening directories."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def yaml_loader() -> type:
    """The strict loader (wanprov.strict): duplicate keys refused, alias expansion bounded."""
    from wanprov.strict import yaml_loader as strict_loader  # lazy: imports yaml only when tables are read

    return strict_loader()


def read_yaml(path: Path, *, what: str = "manifest", hint: str | None = None) -> Any:
    """Parse a YAML file strictly (wanprov.strict); a missing, unreadable, malformed or refused file is a
    ManifestError naming it."""
    from wanprov.strict import StrictParseError, loads_yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ManifestError(f"{what} {path} does not exist", hint=hint or "check the path") from exc
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ManifestError(f"{what} {path} cannot be read: {reason}", hint=hint or "check the file") from exc
    try:
        return loads_yaml(text)
    except StrictParseError as exc:
        raise ManifestError(f"{what} {path} is not valid YAML: {exc}", hint="fix the YAML") from exc


def read_yaml_mapping(path: Path, *, what: str = "manifest", hint: str | None = None) -> dict[str, Any]:
    """Like read_yaml, for files whose top level must be a mapping (an empty file is an empty mapping)."""
    document = read_yaml(path, what=what, hint=hint)
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ManifestError(
            f"{what} {path} must be a mapping at the top level, not {type(document).__name__}",
            hint=hint or "see the shipped files under manifests/ for the format",
        )
    return document
