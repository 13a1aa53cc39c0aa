"""Host resources: RAM (from /proc/meminfo) and free disk where the models go."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any


def probe_memory(meminfo: str = "/proc/meminfo") -> dict[str, Any]:
    try:
        text = Path(meminfo).read_text(encoding="utf-8")
    except OSError as exc:
        return {"status": "unknown", "reason": f"{meminfo}: {exc.strerror}"}
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key] = int(parts[0]) * 1024  # kB
    if "MemTotal" not in values:
        return {"status": "unknown", "reason": f"{meminfo} has no MemTotal"}
    return {
        "status": "ok",
        "reason": None,
        "total_bytes": values["MemTotal"],
        "available_bytes": values.get("MemAvailable"),
    }


def probe_disk(path: str) -> dict[str, Any]:
    """Free space at `path`, or at its nearest existing parent (the models folder may not exist yet), and
    the model files already there and verified by wanprov (its verification record: a stat per file), so
    the doctor sizes only what a profile still has to fetch."""
    from wanprov.models.record import VerificationRecord

    target = Path(path).expanduser().absolute()
    probe_at = target
    while not probe_at.exists() and probe_at != probe_at.parent:
        probe_at = probe_at.parent
    try:
        usage = shutil.disk_usage(probe_at)
    except OSError as exc:
        return {"status": "unknown", "reason": f"{probe_at}: {exc.strerror}", "path": str(target)}
    return {
        "status": "ok",
        "reason": None,
        "path": str(target),
        "measured_at": str(probe_at),
        "free_bytes": usage.free,
        "total_bytes": usage.total,
        "verified": VerificationRecord(target).verified_files(target),
    }


def hostname() -> str:
    return os.uname().nodename
