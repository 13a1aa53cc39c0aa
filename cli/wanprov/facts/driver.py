"""Driver flavour (open or proprietary kernel module) from /proc/driver/nvidia/version."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

DEFAULT_PATH = "/proc/driver/nvidia/version"
# Tests and fleet doubles point this at a recorded file; real hosts never set it.
PATH_ENV = "WANPROV_PROC_DRIVER_VERSION"


def probe(path: str | None = None) -> dict[str, Any]:
    source = Path(path or os.environ.get(PATH_ENV) or DEFAULT_PATH)
    try:
        text = source.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return {
            "status": "absent",
            "reason": f"{source} does not exist (no NVIDIA kernel module loaded)",
            "flavour": None,
            "version": None,
        }
    except OSError as exc:
        return {"status": "unknown", "reason": f"{source}: {exc.strerror}", "flavour": None, "version": None}
    return {"status": "ok", "reason": None, **parse(text)}


def parse(text: str) -> dict[str, Any]:
    """'NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04 ...' -> open, 580.159.04."""
    first = text.splitlines()[0] if text else ""
    version = re.search(r"\s(\d{3,}\.\d+(?:\.\d+)?)\s", first + " ")
    flavour = "open" if "Open Kernel Module" in first else ("proprietary" if "NVRM" in first else None)
    return {"flavour": flavour, "version": version.group(1) if version else None}
