"""The state of the service account and of the folders and files the comfyui role manages, read in one
call, and the folders made to match (owner, group, mode): what wanprov.gpu.path_state adapts, so the role
decides nothing about them in YAML."""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wanprov.errors import UsageError


@dataclass(frozen=True)
class Folder:
    path: str
    owner: str
    group: str
    mode: str  # octal, e.g. "0750"


@dataclass(frozen=True)
class PathsRequest:
    user: str
    group: str
    paths: Sequence[str] = ()  # read only
    folders: Sequence[Folder] = ()  # made to match
    home: str | None = None  # the account the role wants: this home and shell, primary group `group`
    shell: str = "/usr/sbin/nologin"
    dry_run: bool = False


@dataclass
class PathsReport:
    paths: dict[str, dict[str, str]]
    user: dict[str, str] | None
    group: bool
    account: str | None  # absent | same | differs (when a home was asked for)
    changes: list[str] = field(default_factory=list)
    diffs: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"paths": self.paths, "user": self.user, "group": self.group, "account": self.account,
                "changes": self.changes}  # fmt: skip


def _name(lookup: Any, ident: int) -> str:
    """The account name for a uid/gid, or the number itself when it has no name."""
    try:
        return lookup(ident)[0]
    except KeyError:
        return str(ident)


def path_state(path: str) -> dict[str, str] | None:
    """The state of one path (not followed: a link or special file is `other`), or None when missing."""
    if "\x00" in path:
        raise UsageError(f"paths: {path!r} holds a NUL byte; no file can have that name")
    try:
        st = os.lstat(path)
    except OSError:
        return None
    kind = "directory" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) else "other"
    entry = {"type": kind, "owner": _name(pwd.getpwuid, st.st_uid), "group": _name(grp.getgrgid, st.st_gid),
             "mode": f"{stat.S_IMODE(st.st_mode):04o}"}  # fmt: skip
    if kind == "file":
        digest = hashlib.sha1()
        try:
            with Path(path).open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError as exc:  # a file that vanishes or cannot be read while it is hashed
            raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
        entry["sha1"] = digest.hexdigest()
    return entry


def account_state(user: str) -> dict[str, str] | None:
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        return None
    return {"group": _name(grp.getgrgid, account.pw_gid), "home": account.pw_dir, "shell": account.pw_shell}


def group_exists(group: str) -> bool:
    try:
        grp.getgrnam(group)
    except KeyError:
        return False
    return True


def ensure_folder(folder: Folder, dry_run: bool) -> dict[str, str] | None:
    """Make the folder exist with its owner, group and mode; the before/after of what differed, or None."""
    before = path_state(folder.path)
    want = {"type": "directory", "owner": folder.owner, "group": folder.group, "mode": folder.mode}
    if before == want:
        return None
    if before is not None and before["type"] != "directory":
        raise UsageError(
            f"{folder.path} is a {before['type']}, not a folder", hint="move it away, then re-run"
        )
    if not dry_run:
        path = Path(folder.path)
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, pwd.getpwnam(folder.owner).pw_uid, grp.getgrnam(folder.group).gr_gid)
        path.chmod(int(folder.mode, 8))
    show = lambda state: "".join(f"{k}: {v}\n" for k, v in (state or {}).items())  # noqa: E731
    return {
        "before_header": folder.path,
        "after_header": folder.path,
        "before": show(before),
        "after": show(want),
    }


def folders_of(entries: Sequence[Mapping[str, Any]]) -> list[Folder]:
    """Folder records as a caller gives them: owner, group, mode, and `path` or a list of `paths` that share
    them; a missing key is a UsageError."""
    try:
        return [Folder(str(path), e["owner"], e["group"], str(e["mode"]))
                for e in entries for path in (e["paths"] if "paths" in e else [e["path"]])]  # fmt: skip
    except KeyError as exc:
        raise UsageError(
            f"folders: every entry needs owner, group, mode and path or paths (missing {exc})"
        ) from None


def converge_paths(request: PathsRequest) -> PathsReport:
    """Read the account and the paths, then make the folders match (dry run: say which would change)."""
    account = account_state(request.user)
    verdict = None
    if request.home is not None:
        want = {"group": request.group, "home": request.home, "shell": request.shell}
        verdict = "absent" if account is None else "same" if account == want else "differs"
    found = {path: state for path in request.paths if (state := path_state(path)) is not None}
    report = PathsReport(found, account, group_exists(request.group), verdict)
    for folder in request.folders:
        diff = ensure_folder(folder, request.dry_run)
        if diff is not None:
            report.changes.append(folder.path)
            report.diffs.append(diff)
    return report
