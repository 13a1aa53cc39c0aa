"""Fake torch (a test double): just enough of torch's API for wanprov's probe and the ComfyUI double.
Standard library only, Python >= 3.8.

Two ways in, each as strict as the real thing:
- the GPU double's site/torch (install_fake_host): host.json two folders up says everything, torch's build
  and run-time behaviour included (a spec states it explicitly);
- the wheel-index double's torch wheel (doubles.wheels): the wheel knows only its own build (_build.json:
  version, CUDA, arch list), and asks "the driver" for the GPUs, as real torch does: the host's description
  named by WANPROV_FAKE_GPU_HOST (the fake host's host.json). No driver there: no CUDA device.
"""

import json
import os
from pathlib import Path

_HERE = Path(__file__).resolve().parent
NO_KERNEL_IMAGE = (
    "CUDA error: no kernel image is available for execution on the device\n"
    "CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below "
    "might be incorrect."
)
NO_DRIVER = (
    "Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a driver "
    "from http://www.nvidia.com/Download/index.aspx"
)
DRIVER_TOO_OLD = (
    "The NVIDIA driver on your system is too old (found version %d). Please update your GPU driver by "
    "downloading and installing a new version from the URL: http://www.nvidia.com/Download/index.aspx"
)


def _version_tuple(text):
    return tuple(int(part) for part in str(text).split("."))


def _kernel_runs(cc, arch_list):
    """Whether a build with `arch_list` has code for a device of compute capability `cc` ("12.0"): a cubin
    sm_XY runs on the same major with minor >= Y; PTX compute_XY is JIT-compiled for any cc >= XY."""
    major, minor = _version_tuple(cc)
    for arch in arch_list:
        kind, _, digits = arch.partition("_")
        arch_major, arch_minor = int(digits[:-1]), int(digits[-1])
        if kind == "sm" and arch_major == major and arch_minor <= minor:
            return True
        if kind == "compute" and (arch_major, arch_minor) <= (major, minor):
            return True
    return False


def _from_driver(build, host_json):
    """The run-time view of a wheel's build on the host the driver describes (None: no driver)."""
    gpus = json.loads(Path(host_json).read_text())["gpus"] if host_json else []
    error = None
    if build["cuda"] and not gpus:
        error = NO_DRIVER
    elif build["cuda"] and _version_tuple(gpus[0]["cuda"]) < _version_tuple(build["cuda"]):
        major, minor = _version_tuple(gpus[0]["cuda"])
        error = DRIVER_TOO_OLD % (1000 * major + 10 * minor)
    devices = [
        {
            **{key: gpu[key] for key in ("name", "cc", "vram_mib", "uuid", "bus_id")},
            "kernel_error": None if _kernel_runs(gpu["cc"], build["arch_list"]) else NO_KERNEL_IMAGE,
        }
        for gpu in gpus
    ]
    return {
        **build,
        "cuda_available": bool(build["cuda"]) and error is None,
        "unavailable_error": error,
        "devices": devices if build["cuda"] else [],
    }


if (_HERE / "_build.json").exists():  # installed from the wheel-index double
    _BUILD = json.loads((_HERE / "_build.json").read_text())
    _HOST = _from_driver(_BUILD, os.environ.get("WANPROV_FAKE_GPU_HOST"))
else:  # the GPU double's site/ (ROOT/site/torch -> ROOT/host.json)
    _HOST = json.loads((_HERE.parents[1] / "host.json").read_text())["torch"]

__version__ = _HOST["version"]

from torch import cuda, version  # noqa: E402  (after the host is read)


class device:  # mirrors torch.device
    def __init__(self, spec):
        self.type = str(spec).split(":")[0]


class Tensor:
    def __init__(self, values, device_type):
        self._values = list(values)
        self.device = device(device_type)

    def __mul__(self, other):
        return Tensor([v * other for v in self._values], self.device.type)

    def sum(self):
        return Tensor([sum(self._values)], self.device.type)

    def item(self):
        return self._values[0]


def ones(n, device="cpu"):
    kind, _, index = str(device).partition(":")
    if kind == "cuda":
        cuda._launch(int(index or 0))
    return Tensor([1.0] * n, str(device))


__all__ = ["Tensor", "cuda", "ones", "version"]
