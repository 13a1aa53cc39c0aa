"""Build facts documents for pure rule tests: a healthy H100-like host, with overrides per case."""

from __future__ import annotations

import copy
from typing import Any

BASE: dict[str, Any] = {
    "schema": "wanprov.facts/1",
    "collected_at": "2026-11-26T06:15:27+00:00",
    "gpu": {
        "status": "ok",
        "source": "nvml",
        "driver_version": "580.159.04",
        "cuda_driver_version": "13.0",
        "devices": [
            {
                "index": 0,
                "name": "NVIDIA H100 80GB HBM3",
                "uuid": "GPU-x",
                "compute_capability": "9.0",
                "vram_total_mib": 81559,
                "vram_free_mib": 81079,
                "mig_mode": "disabled",
            }
        ],
    },
    "driver": {"status": "ok", "flavour": "open", "version": "580.159.04"},
    "torch": {
        "status": "ok",
        "python": "/venv/bin/python",
        "version": "2.11.0+cu130",
        "cuda": "13.0",
        "arch_list": ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"],
        "cuda_available": True,
        "device_name": "NVIDIA H100 80GB HBM3",
        "device_capability": "9.0",
        "kernel": {"ok": True, "error": None},
        "modules": {"triton": "3.6.0"},
        "xformers_requires": [],
    },
    "ffmpeg": {"status": "ok", "path": "/usr/bin/ffmpeg", "version": "6.1"},
    "nvenc": {
        "status": "ok",
        "tool": "ffmpeg",
        "encoders": {
            "h264_nvenc": {"ok": True, "error": None},
            "hevc_nvenc": {"ok": True, "error": None},
            "av1_nvenc": {"ok": True, "error": None},
        },
    },
    "memory": {"status": "ok", "total_bytes": 128 * 1024**3, "available_bytes": 120 * 1024**3},
    "disk": {"status": "ok", "path": "/models", "free_bytes": 500 * 1024**3, "total_bytes": 1000 * 1024**3},
    "comfyui": {"status": "skipped", "reason": "no --comfyui-dir given", "dir": None},
}


def make_facts(**sections: Any) -> dict[str, Any]:
    """BASE with `section={key: value}` merged in (a value of None for a section replaces it whole)."""
    facts = copy.deepcopy(BASE)
    for name, update in sections.items():
        if (
            isinstance(update, dict)
            and isinstance(facts.get(name), dict)
            and not update.pop("_replace", False)
        ):
            facts[name].update(update)
        else:
            facts[name] = update
    return facts


def device(**overrides: Any) -> dict[str, Any]:
    return {**BASE["gpu"]["devices"][0], **overrides}
