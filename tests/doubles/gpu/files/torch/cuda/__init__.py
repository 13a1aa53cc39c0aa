"""torch.cuda of the fake torch. A failing kernel raises the text real torch raises."""

import warnings

from torch import _HOST


def get_arch_list():
    return list(_HOST["arch_list"]) if _HOST["cuda"] else []


def is_available():
    # Real torch returns False and explains why only in a UserWarning.
    if not _HOST["cuda_available"] and _HOST.get("unavailable_error"):
        warnings.warn("CUDA initialization: " + _HOST["unavailable_error"], UserWarning, stacklevel=2)
    return bool(_HOST["cuda_available"])


def device_count():
    return 1 if _HOST["cuda_available"] else 0


def _require():
    if not _HOST["cuda_available"]:
        raise RuntimeError(_HOST.get("unavailable_error") or "No CUDA GPUs are available")


def get_device_capability(index=0):
    _require()
    major, minor = _HOST["device_capability"].split(".")
    return int(major), int(minor)


def get_device_name(index=0):
    _require()
    return _HOST["device_name"]


def is_bf16_supported():
    return _HOST["cuda_available"] and get_device_capability()[0] >= 8


def synchronize():
    _require()


def _launch():
    _require()
    if _HOST.get("kernel_error"):
        raise RuntimeError(_HOST["kernel_error"])
