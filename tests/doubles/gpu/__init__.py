"""Fake GPU hosts for tests (and for the fleet's sshd hosts): a standalone `nvidia-smi` + `ffmpeg` in
bin/, a stdlib-only fake `torch` in site/, driven by host.json. Only tests import this package."""

from doubles.gpu.install import install_fake_host
from doubles.gpu.specs import SPECS, GpuSpec, HostSpec

__all__ = ["SPECS", "GpuSpec", "HostSpec", "install_fake_host"]
