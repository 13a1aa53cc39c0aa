"""What every rule sees: the facts plus the values derived once from them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from wanprov.compat import cuda, torch_choice, versions


@dataclass(frozen=True)
class Context:
    facts: dict[str, Any]
    summary: dict[str, Any]
    profile: str | None = None

    @property
    def gpu(self) -> dict[str, Any]:
        return self.facts.get("gpu") or {}

    @property
    def device(self) -> dict[str, Any] | None:
        return torch_choice.primary_device(self.facts)

    @property
    def cc(self) -> str | None:
        device = self.device
        return device.get("compute_capability") if device else None

    @property
    def driver(self) -> str | None:
        return self.gpu.get("driver_version") or (self.facts.get("driver") or {}).get("version")

    @property
    def driver_cuda(self) -> str | None:
        """The CUDA the driver supports: as the driver reports it, else from the release-notes table."""
        return self.gpu.get("cuda_driver_version") or cuda.driver_cuda(self.driver)

    @property
    def torch(self) -> dict[str, Any]:
        return self.facts.get("torch") or {}

    @property
    def torch_ok(self) -> bool:
        return self.torch.get("status") == "ok"

    @property
    def wheel_variant(self) -> str | None:
        return versions.wheel_variant(self.torch.get("version"), self.torch.get("cuda"))

    @property
    def recommendation(self) -> dict[str, Any] | None:
        return self.summary.get("torch")

    def install_fix(self, prefix: str = "install") -> str:
        """The fix that names the exact wheel, or says why none fits."""
        choice = self.recommendation
        if self.device is None:
            return "install the NVIDIA driver first; then wanprov doctor names the torch wheel for the GPU"
        if choice is None:
            return "no current torch wheel fits this driver and GPU: upgrade the NVIDIA driver to >= 580"
        return f"{prefix} the {choice['variant']} wheel ({choice['reason']}): {choice['pip_install']}"

    @property
    def today(self) -> dt.date:
        """The day the facts were collected (rules stay pure: a replayed snapshot is judged as of then)."""
        stamp = str(self.facts.get("collected_at") or "")
        try:
            return dt.datetime.fromisoformat(stamp).date()
        except ValueError:
            return dt.date.today()
