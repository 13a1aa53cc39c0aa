"""The verification record: `<models-dir>/.wanprov/verified.json`, relpath -> size, mtime_ns, inode, sha256.

A file whose stat still matches its record was hashed by wanprov and has not changed since, so a re-run
stats instead of re-hashing 10 GB files. `wanprov models verify` ignores the record and re-hashes.
The models folder may be writable by the ComfyUI service user, so `.wanprov/` is a private folder opened
without following links (partfile.py): a link planted at the record or its lock is refused, and a record
in a folder this user does not own is not read. A link at a model's name never matches its record.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from wanprov.models.partfile import (
    UnsafePathError,
    locked,
    open_folder,
    open_private_folder,
    read_small,
    write_replace,
)
from wanprov.strict import loads_json

RECORD_MAX_BYTES = 64 << 20

SCHEMA = "wanprov.verified/1"


class VerificationRecord:
    def __init__(self, models_dir: Path) -> None:
        self.path = models_dir / ".wanprov" / "verified.json"
        self._lock_path = models_dir / ".wanprov" / "verified.json.lock"
        self._files = self._read()

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            folder = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return {}
        try:
            if os.fstat(folder).st_uid != os.geteuid():
                return {}  # another user's record is not trusted: files are hashed again
            raw = read_small(folder, self.path.name, self.path, RECORD_MAX_BYTES)
            data = loads_json(raw or b"null")
        except (OSError, ValueError, UnsafePathError):
            return {}  # no record or a damaged one: files are simply re-hashed once
        finally:
            os.close(folder)
        files = data.get("files") if isinstance(data, dict) else None
        return files if isinstance(files, dict) else {}

    def verified_sha256(self, relpath: str, file: Path) -> str | None:
        """The recorded sha256 when the file's stat still matches the record, else None."""
        entry = self._files.get(relpath)
        if not isinstance(entry, dict):
            return None
        try:
            stat = file.lstat()  # a link planted at the model's name is never "verified"
        except OSError:
            return None
        if (entry.get("size"), entry.get("mtime_ns"), entry.get("inode")) != (
            stat.st_size,
            stat.st_mtime_ns,
            stat.st_ino,
        ):
            return None
        sha = entry.get("sha256")
        return sha if isinstance(sha, str) else None

    def verified_files(self, models_dir: Path) -> dict[str, dict[str, Any]]:
        """relpath -> {sha256, size} of every recorded file whose stat still matches (a stat each, no
        hashing). A node pack's file (`custom_nodes/...`) is looked up beside the models folder, where a
        ComfyUI checkout keeps custom_nodes/."""
        out: dict[str, dict[str, Any]] = {}
        for relpath, entry in self._files.items():
            base = models_dir.parent if relpath.startswith("custom_nodes/") else models_dir
            sha = self.verified_sha256(relpath, base / relpath)
            if sha is not None:
                out[relpath] = {"sha256": sha, "size": entry.get("size")}
        return out

    def add(self, relpath: str, file: Path, sha256: str) -> None:
        """Record a verified file; merged under a lock so concurrent runs do not drop each other's entries."""
        stat = file.stat()
        item = {
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "inode": stat.st_ino,
            "sha256": sha256,
            "verified_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self._update({relpath: item})

    def forget(self, relpath: str) -> None:
        self._update({relpath: None})

    def _update(self, changes: dict[str, dict[str, Any] | None]) -> None:
        with contextlib.ExitStack() as stack:
            parent = open_folder(self.path.parent.parent, ())
            stack.callback(os.close, parent)
            folder = open_private_folder(parent, self.path.parent.name, self.path.parent)
            stack.callback(os.close, folder)
            stack.enter_context(locked(folder, self._lock_path.name, self._lock_path))
            files = self._read()
            for key, value in changes.items():
                if value is None:
                    files.pop(key, None)
                else:
                    files[key] = value
            text = json.dumps({"schema": SCHEMA, "files": files}, indent=1) + "\n"
            write_replace(folder, self.path.name, text.encode("utf-8"), fsync=True, mode=0o644)
            self._files = files
