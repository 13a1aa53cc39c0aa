"""Stack-specific refusals, on top of wanprov's typed errors."""

from __future__ import annotations

from wanprov.errors import WanprovError
from wanprov.exit_codes import ExitCode


class RefusedError(WanprovError):
    """A request wanprov will not carry out as asked (unpinned ref, dirty checkout, bad launch flag)."""

    exit_code = ExitCode.CHECK_FAILED
    code = "refused"


class InstallFailedError(WanprovError):
    """git or pip failed while converging a pack; nothing after the failing step ran."""

    exit_code = ExitCode.CHECK_FAILED
    code = "install_failed"


class TorchReplacedError(WanprovError):
    """The pinned torch/torchvision/torchaudio changed during an install: the venv is no longer trusted."""

    exit_code = ExitCode.CHECK_FAILED
    code = "torch_replaced"
