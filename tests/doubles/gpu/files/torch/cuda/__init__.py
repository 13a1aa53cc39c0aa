"""torch.cuda of the fake torch. A failing kernel raises the text real torch raises.

Devices follow the CUDA runtime's rules, as strictly as the real thing: without CUDA_DEVICE_ORDER=PCI_BUS_ID
the order is fastest first (approximated here by compute capability, newest first), so device 0 need not be
nvidia-smi's GPU 0; CUDA_VISIBLE_DEVICES (indices in that order) hides the others."""

import os
import warnings

from torch import _HOST

_VISIBLE = None


def _cc(device):
    major, minor = device["cc"].split(".")
    return int(major), int(minor)


def _devices():
    """The devices this process sees, in CUDA's order (read once, like the CUDA runtime at init)."""
    global _VISIBLE
    if _VISIBLE is None:
        devices = list(_HOST.get("devices") or [])
        if os.environ.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID":
            devices.sort(key=_cc, reverse=True)  # stable: equal GPUs keep their PCI order
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None:
            picked = []
            for token in visible.split(","):
                token = token.strip()
                if not token.isdigit() or int(token) >= len(devices):
                    break  # CUDA stops at the first invalid entry
                picked.append(devices[int(token)])
            devices = picked
        _VISIBLE = devices
    return _VISIBLE


def get_arch_list():
    return list(_HOST["arch_list"]) if _HOST["cuda"] else []


def is_available():
    # Real torch returns False and explains why only in a UserWarning.
    if not _HOST["cuda_available"] and _HOST.get("unavailable_error"):
        warnings.warn("CUDA initialization: " + _HOST["unavailable_error"], UserWarning, stacklevel=2)
    return bool(_HOST["cuda_available"]) and bool(_devices())


def device_count():
    return len(_devices()) if _HOST["cuda_available"] else 0


def _require():
    if not _HOST["cuda_available"] or not _devices():
        raise RuntimeError(_HOST.get("unavailable_error") or "No CUDA GPUs are available")


def _device(index):
    _require()
    index = 0 if index is None else int(index)
    if not 0 <= index < len(_devices()):
        raise AssertionError("Invalid device id")  # what torch.cuda.get_device_properties raises
    return _devices()[index]


def get_device_capability(index=None):
    return _cc(_device(index))


def get_device_name(index=None):
    return _device(index)["name"]


class _CudaDeviceProperties:
    def __init__(self, device):
        self.name = device["name"]
        self.major, self.minor = _cc(device)
        self.total_memory = device["vram_mib"] * 1024 * 1024
        self.uuid = device["uuid"][len("GPU-") :]  # torch prints the uuid without NVML's prefix
        domain, bus, slot = device["bus_id"].split(":")
        self.pci_domain_id = int(domain, 16)
        self.pci_bus_id = int(bus, 16)
        self.pci_device_id = int(slot.split(".")[0], 16)


def get_device_properties(index=None):
    return _CudaDeviceProperties(_device(index))


def is_bf16_supported():
    return _HOST["cuda_available"] and get_device_capability()[0] >= 8


def synchronize(device=None):
    _require()


def _launch(index):
    _require()
    if not 0 <= index < len(_devices()):
        raise RuntimeError(
            "CUDA error: invalid device ordinal\nCUDA kernel errors might be asynchronously reported at "
            "some other API call, so the stacktrace below might be incorrect."
        )
    error = _devices()[index].get("kernel_error")
    if error:
        raise RuntimeError(error)
