"""The lock file: what `wanprov models lock` resolved from the hub (commit, size, sha256) per catalog entry.

It lives next to its manifest (`catalog.yaml` -> `catalog.lock.yaml`, `mine.yaml` -> `mine.lock.yaml`).
A lock entry applies only while the entry still names the same repo, path and requested revision; it then
pins the revision to the resolved commit and fills an unknown size / sha256.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from wanprov.datafiles import read_yaml, write_output
from wanprov.errors import IntegrityError, ManifestError
from wanprov.models.catalog import (
    Catalog,
    FileEntry,
    check_commit,
    check_repo,
    check_repo_path,
    check_revision,
    check_sha256,
    check_size,
)
from wanprov.models.hub import HubSettings, fetch_metadata

SCHEMA = "wanprov.lock/1"


@dataclass(frozen=True)
class LockEntry:
    repo: str
    path: str
    revision: str  # as requested in the catalog (a branch or a commit)
    commit: str | None
    size: int | None
    sha256: str | None


def lock_path_for(manifest: Path) -> Path:
    return manifest.with_name(f"{manifest.stem}.lock.yaml")


def read_lock(path: Path) -> dict[str, LockEntry]:
    """The lock's entries, each validated like a manifest entry (catalog.check_*): a lock value lands in
    a download URL (commit) and a part-file path (sha256), so a hand-edited lock is not trusted more."""
    if not path.is_file():
        return {}
    data = read_yaml(path, what="lock file", hint=_HINT)
    if data is None:
        return {}
    raw_files = data.get("files") if isinstance(data, dict) else None
    if raw_files is None and isinstance(data, dict):
        return {}
    if not isinstance(raw_files, dict):
        raise ManifestError(f"lock file {path}: files: must be a mapping of id -> entry", hint=_HINT)
    return {
        str(key): _lock_entry(item, f"lock file {path}: entry {str(key)!r}")
        for key, item in raw_files.items()
    }


_HINT = "delete it and run `wanprov models lock` again"
_LOCK_KEYS = {"repo", "path", "revision", "commit", "size", "sha256"}


def _lock_entry(item: Any, where: str) -> LockEntry:
    if not isinstance(item, dict):
        raise ManifestError(f"{where}: must be a mapping", hint=_HINT)
    unknown = set(item) - _LOCK_KEYS
    if unknown:
        raise ManifestError(f"{where}: unknown key(s) {sorted(map(str, unknown))}", hint=_HINT)
    return LockEntry(
        repo=check_repo(item.get("repo"), where),
        path=check_repo_path(item.get("path"), where),
        revision=check_revision(item.get("revision"), where),
        commit=check_commit(item.get("commit"), where),
        size=check_size(item.get("size"), where),
        sha256=check_sha256(item.get("sha256"), where),
    )


def write_lock(path: Path, entries: dict[str, LockEntry]) -> None:
    files = {
        key: {
            "repo": e.repo,
            "path": e.path,
            "revision": e.revision,
            "commit": e.commit,
            "size": e.size,
            "sha256": e.sha256,
        }
        for key, e in sorted(entries.items())
    }
    header = "# Written by `wanprov models lock`: what the hub resolved for each catalog entry.\n"
    document = header + yaml.safe_dump({"schema": SCHEMA, "files": files}, sort_keys=False)
    write_output(path, document, what="lock file", fsync=True)  # a user-named path: same rules as -o


def apply_lock(entry: FileEntry, locked: LockEntry | None) -> FileEntry:
    if locked is None or (locked.repo, locked.path, locked.revision) != (
        entry.repo,
        entry.path,
        entry.revision,
    ):
        return entry
    return replace(
        entry,
        revision=locked.commit or entry.revision,
        size=entry.size if entry.size is not None else locked.size,
        sha256=entry.sha256 or locked.sha256,
    )


def locked_catalog(catalog: Catalog, lock_file: Path | None = None) -> Catalog:
    """The catalog with each entry's lock applied (the lock next to its manifest, or one explicit file)."""
    cache: dict[Path, dict[str, LockEntry]] = {}

    def lock_for(entry: FileEntry) -> dict[str, LockEntry]:
        path = lock_file or lock_path_for(Path(entry.manifest))
        if path not in cache:
            cache[path] = read_lock(path)
        return cache[path]

    overrides = {key: apply_lock(entry, lock_for(entry).get(key)) for key, entry in catalog.files.items()}
    return catalog.with_overrides(overrides)


def lock_entries(
    entries: list[FileEntry], settings: HubSettings, lock_file: Path | None = None
) -> dict[Path, dict[str, LockEntry]]:
    """Resolve each entry on the hub and merge the result into its lock file; returns what was written.

    A hub sha256 that contradicts the catalog's is an IntegrityError: the catalog cites a wrong value (or the
    file changed under a branch revision) and a person must decide.
    """
    by_file: dict[Path, dict[str, LockEntry]] = {}
    for entry in entries:
        remote = fetch_metadata(entry, settings)
        if entry.sha256 and remote.sha256 and entry.sha256 != remote.sha256:
            raise IntegrityError(
                f"catalog entry {entry.id!r} ({entry.manifest}) says sha256 {entry.sha256}, "
                f"the hub says {remote.sha256} for {entry.repo}@{entry.revision}/{entry.path}",
                hint="pin the entry's revision to a commit, or correct its sha256 after checking the source",
            )
        path = lock_file or lock_path_for(Path(entry.manifest))
        if path not in by_file:
            by_file[path] = read_lock(path)
        by_file[path][entry.id] = LockEntry(
            repo=entry.repo,
            path=entry.path,
            revision=entry.revision,
            commit=remote.commit,
            size=remote.size if remote.size is not None else entry.size,
            sha256=remote.sha256 or entry.sha256,
        )
    for path, locked in by_file.items():
        write_lock(path, locked)  # an unwritable path: exit 3 naming it (a full disk: 9)
    return by_file


def as_dict(entry: LockEntry) -> dict[str, Any]:
    return {
        "repo": entry.repo,
        "path": entry.path,
        "revision": entry.revision,
        "commit": entry.commit,
        "size": entry.size,
        "sha256": entry.sha256,
    }
