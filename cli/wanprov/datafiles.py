"""Reading the project's data files and writing files safely; one implementation for the whole core.

- Writes are atomic: a temp file in the target folder, then os.replace, so a crash or a concurrent reader
  never sees half a file under the final name.
- YAML is read with libyaml's CSafeLoader where available (several times faster than the pure-Python
  loader, which matters for the sub-second no-op paths) and errors always name the file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from wanprov.errors import ManifestError


def write_text_atomic(
    path: Path, text: str, *, mode: int | None = None, fsync: bool = False, uid: int | None = None
) -> None:
    """Replace `path` with `text` atomically; `fsync` makes the content durable before the rename.

    `mode` and `uid` (owner) are set on the temp file, so the final name never shows other attributes."""
    path = Path(path)
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
        if uid is not None:
            os.chown(tmp, uid, -1)
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
    write_text_atomic(path, json.dumps(document, indent=2, sort_keys=sort_keys) + "\n")


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
    import yaml  # lazy: the doctor's fast path imports yaml only when it reads tables

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path, *, what: str = "manifest", hint: str | None = None) -> Any:
    """Parse a YAML file; a missing, unreadable or malformed file is a ManifestError naming it."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ManifestError(f"{what} {path} does not exist", hint=hint or "check the path") from exc
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ManifestError(f"{what} {path} cannot be read: {reason}", hint=hint or "check the file") from exc
    try:
        return yaml.load(text, Loader=yaml_loader())
    except yaml.YAMLError as exc:
        raise ManifestError(f"{what} {path} is not valid YAML: {exc}", hint="fix the YAML syntax") from exc


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
