"""Fake GPU hosts for tests (and for the fleet's sshd hosts): a standalone `nvidia-smi` + `ffmpeg` in
bin/, a stdlib-only fake `torch` in site/ (on the path of TARGET_PYTHON only), driven by host.json. Only
tests import this package."""

from doubles.gpu.install import TARGET_PYTHON, install_fake_host
from doubles.gpu.specs import SPECS, GpuSpec, HostSpec

__all__ = ["SPECS", "TARGET_PYTHON", "GpuSpec", "HostSpec", "install_fake_host"]
