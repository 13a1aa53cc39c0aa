"""GPU facts through NVML (nvidia-ml-py), the first choice: no subprocess, exact numbers."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

DRIVER_NODES = ("/dev/nvidiactl", "/proc/driver/nvidia/version")


def probe(pynvml: Any = None) -> dict[str, Any]:
    """NVML facts, or status "unknown" with NVML's own error (e.g. NVML Shared Library Not Found).

    `pynvml` may be passed in (tests replay a recorded host through a stand-in module).
    """
    if pynvml is None and not any(Path(p).exists() for p in DRIVER_NODES):
        # Without the kernel module NVML cannot work; skip importing pynvml (~50 ms of ctypes setup).
        return {
            "status": "unknown",
            "reason": f"NVML unavailable: no NVIDIA kernel module loaded (none of {', '.join(DRIVER_NODES)})",
            "source": "nvml",
        }
    try:
        if pynvml is None:
            import pynvml  # nvidia-ml-py
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ImportError...
        return {"status": "unknown", "reason": f"NVML unavailable: {exc}", "source": "nvml"}
    try:
        return _read(pynvml)
    except Exception as exc:
        return {"status": "unknown", "reason": f"NVML query failed: {exc}", "source": "nvml"}
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def cuda_from_nvml(code: int | None) -> str | None:
    """NVML encodes the driver's CUDA as 1000*major + 10*minor (13000 -> '13.0')."""
    if not code:
        return None
    return f"{code // 1000}.{(code % 1000) // 10}"


def _read(pynvml: Any) -> dict[str, Any]:
    driver = _text(pynvml.nvmlSystemGetDriverVersion())
    try:
        cuda_code = pynvml.nvmlSystemGetCudaDriverVersion_v2()
    except Exception:  # _v2 fails without libcuda; the plain call guesses from the driver
        cuda_code = pynvml.nvmlSystemGetCudaDriverVersion()
    devices = []
    for index in range(pynvml.nvmlDeviceGetCount()):
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        try:
            current_mig, _pending = pynvml.nvmlDeviceGetMigMode(handle)
            mig = "enabled" if current_mig else "disabled"
        except Exception:  # consumer GPUs: NVML_ERROR_NOT_SUPPORTED
            mig = None
        devices.append(
            {
                "index": index,
                "name": _text(pynvml.nvmlDeviceGetName(handle)),
                "uuid": _text(pynvml.nvmlDeviceGetUUID(handle)),
                # "00000000:01:00.0", the form nvidia-smi prints; identifies the card across reboots
                "pci_bus_id": _text(pynvml.nvmlDeviceGetPciInfo(handle).busId),
                "compute_capability": f"{major}.{minor}",
                "vram_total_mib": int(memory.total) // (1024 * 1024),
                "vram_free_mib": int(memory.free) // (1024 * 1024),
                "mig_mode": mig,
            }
        )
    return {
        "status": "ok" if devices else "absent",
        "reason": None if devices else "NVML found no GPU",
        "source": "nvml",
        "driver_version": driver,
        "cuda_driver_version": cuda_from_nvml(cuda_code),
        "devices": devices,
    }
