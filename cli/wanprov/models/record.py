"""The verification record: `<models-dir>/.wanprov/verified.json`, relpath -> size, mtime_ns, inode, sha256.

A file whose stat still matches its record was hashed by wanprov and has not changed since, so a re-run
stats instead of re-hashing 10 GB files. `wanprov models verify` ignores the record and re-hashes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from wanprov.datafiles import write_text_atomic
from wanprov.strict import loads_json

SCHEMA = "wanprov.verified/1"


class VerificationRecord:
    def __init__(self, models_dir: Path) -> None:
        self.path = models_dir / ".wanprov" / "verified.json"
        self._lock_path = models_dir / ".wanprov" / "verified.json.lock"
        self._files = self._read()

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = loads_json(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # no record or a damaged one: files are simply re-hashed once
        files = data.get("files") if isinstance(data, dict) else None
        return files if isinstance(files, dict) else {}

    def verified_sha256(self, relpath: str, file: Path) -> str | None:
        """The recorded sha256 when the file's stat still matches the record, else None."""
        entry = self._files.get(relpath)
        if not isinstance(entry, dict):
            return None
        try:
            stat = file.stat()
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
        from filelock import FileLock  # only a run that records something pays for the import

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self._lock_path)):
            files = self._read()
            for key, value in changes.items():
                if value is None:
                    files.pop(key, None)
                else:
                    files[key] = value
            write_text_atomic(
                self.path, json.dumps({"schema": SCHEMA, "files": files}, indent=1) + "\n", fsync=True
            )
            self._files = files
