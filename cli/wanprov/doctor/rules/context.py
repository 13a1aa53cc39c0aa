"""What every rule sees: the facts plus the values derived once from them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from wanprov.compat import cuda, versions
from wanprov.doctor.summary import judged_devices


def _uuid(value: Any) -> str | None:
    """NVML says GPU-<uuid>; torch's properties carry the bare uuid (the probe adds the prefix back)."""
    return str(value).removeprefix("GPU-").lower() if value else None


def _bus_id(value: Any) -> str | None:
    return str(value).upper() if value else None


@dataclass(frozen=True)
class Context:
    facts: dict[str, Any]
    summary: dict[str, Any]
    profile: str | None = None
    selection: tuple[int, ...] | None = None  # --gpus; None: every GPU
    manifests: tuple[str, ...] = ()  # the user's own model catalogs (--manifest); empty: the shipped one

    @cached_property
    def catalog(self) -> Any:
        """The model catalog under its lock, as fetch-models reads it (sizes and sha256 the lock knows)."""
        from wanprov.models.catalog import load_catalog
        from wanprov.models.lock import locked_catalog

        return locked_catalog(load_catalog(list(self.manifests)))

    @property
    def profiles(self) -> list[str]:
        """The model profiles this host will fetch: the one chosen (--profile), else the one each judged GPU
        is recommended (one per tier; a GPU-less host: none)."""
        if self.profile:
            return [self.profile]
        recommended = []
        for device in self.devices:
            try:
                recommended.append(self.summary_gpus.get(device.get("index"), {}).get("recommended_profile"))
            except TypeError:  # an unhashable index (a hostile facts file) recommends nothing
                continue
        recommended = recommended or [self.summary.get("recommended_profile")]
        return sorted({name for name in recommended if isinstance(name, str) and name})

    @property
    def gpu(self) -> dict[str, Any]:
        return self.facts.get("gpu") or {}

    @cached_property
    def devices(self) -> list[dict[str, Any]]:
        """The GPUs being judged (all, or those --gpus names), in nvidia-smi's index order."""
        return judged_devices(self.facts, self.selection)

    @cached_property
    def summary_gpus(self) -> dict[Any, dict[str, Any]]:
        """summary.gpus[] by index: one lookup per GPU, not a scan (a facts file may list 100,000)."""
        return {entry["index"]: entry for entry in reversed(self.summary.get("gpus") or [])}

    @cached_property
    def _torch_lookup(self) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[Any, dict[str, Any]]]:
        """The torch probe's devices by each identity every one of them carries (first one wins, as a scan
        would find it), and by index: built once, so matching N GPUs is linear, not quadratic."""
        seen = self.torch.get("devices") or []
        by_identity: dict[str, dict[str, dict[str, Any]]] = {}
        for key, norm in (("uuid", _uuid), ("pci_bus_id", _bus_id)):
            if all(norm(each.get(key)) for each in seen):
                by_identity[key] = {norm(each.get(key)): each for each in reversed(seen)}
        by_index: dict[Any, dict[str, Any]] = {}
        for each in reversed(seen):
            try:
                by_index[each.get("index")] = each
            except TypeError:  # an unhashable index matches no GPU
                continue
        return by_identity, by_index

    @property
    def device(self) -> dict[str, Any] | None:
        """The first judged GPU: what the host-wide checks and summary's flat fields describe."""
        devices = self.devices
        return devices[0] if devices else None

    def torch_device(self, device: dict[str, Any]) -> dict[str, Any] | None:
        """What the torch probe found on this GPU: matched by uuid, else PCI bus id, else index (the probe
        enumerates in PCI order, as nvidia-smi does). Facts saved before per-device probing carry device
        0 only, in the torch section's flat fields."""
        seen = self.torch.get("devices")
        if not seen:
            flat = {"index": 0, "name": self.torch.get("device_name"), "kernel": self.torch.get("kernel")}
            return flat if device.get("index") == 0 and self.torch.get("kernel") else None
        by_identity, by_index = self._torch_lookup
        for key, norm in (("uuid", _uuid), ("pci_bus_id", _bus_id)):
            if norm(device.get(key)) and key in by_identity:
                # both sides know this identity: no match means torch does not see this GPU
                return by_identity[key].get(norm(device.get(key)))
        try:
            return by_index.get(device.get("index"))
        except TypeError:
            return None

    @property
    def judged_ccs(self) -> str:
        """'8.9 and 12.0': the compute capabilities one torch wheel must cover on this host."""
        return " and ".join(dict.fromkeys(str(d.get("compute_capability")) for d in self.devices))

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
