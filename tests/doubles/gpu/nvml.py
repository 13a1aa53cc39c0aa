"""A pynvml stand-in (NVML cannot load on a machine without the driver). It answers the calls
wanprov.facts.gpu_nvml makes, with the types real nvidia-ml-py returns (bytes names, ctypes-like structs,
NVMLError subclasses), for every GPU of a fake host or of a recording."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml

MIB = 1024 * 1024


class FakeNvml:
    """`devices`: dicts with name, uuid, bus_id, cc (major, minor), mem_total, mem_used (bytes), mig
    ((current, pending), or None where MIG is not supported)."""

    def __init__(self, driver: str, cuda_code: int, devices: list[dict[str, Any]]) -> None:
        self.driver, self.cuda_code, self.devices = driver, cuda_code, devices
        self.initialised = False

    @classmethod
    def from_recording(cls, info: dict[str, Any], bus_ids: list[str]) -> FakeNvml:
        """nvml-info.txt of a recorded host; its probe did not record PCI ids, nvidia-smi's recording did."""
        devices = [
            {**device, "cc": tuple(device["cc"]), "mig": tuple(device["mig"]), "bus_id": bus_id}
            for device, bus_id in zip(info["devices"], bus_ids, strict=True)
        ]
        return cls(info["driver"], info["cuda_driver_version"], devices)

    @classmethod
    def from_fake_host(cls, root: Path) -> FakeNvml:
        """The GPUs install_fake_host laid out under `root` (host.json), as NVML would list them."""
        host = json.loads((Path(root) / "host.json").read_text())
        devices = []
        for gpu in host["gpus"]:
            mig = {"Enabled": (1, 1), "Disabled": (0, 0)}.get(gpu["mig"])
            major, minor = (int(part) for part in gpu["cc"].split("."))
            devices.append(
                {
                    "name": gpu["name"],
                    "uuid": gpu["uuid"],
                    "bus_id": gpu["bus_id"],
                    "cc": (major, minor),
                    "mem_total": gpu["vram_mib"] * MIB,
                    "mem_used": gpu["vram_used_mib"] * MIB,
                    "mig": mig,
                }
            )
        major, minor = (int(part) for part in host["gpus"][0]["cuda"].split("."))
        return cls(host["gpus"][0]["driver"], 1000 * major + 10 * minor, devices)

    def _check(self) -> None:
        if not self.initialised:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_UNINITIALIZED)

    def nvmlInit(self) -> None:
        self.initialised = True

    def nvmlShutdown(self) -> None:
        self._check()
        self.initialised = False

    def nvmlSystemGetDriverVersion(self) -> str:
        self._check()
        return self.driver

    def nvmlSystemGetCudaDriverVersion_v2(self) -> int:
        self._check()
        return self.cuda_code

    def nvmlDeviceGetCount(self) -> int:
        self._check()
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> dict[str, Any]:
        self._check()
        if not 0 <= index < len(self.devices):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return self.devices[index]

    def nvmlDeviceGetCudaComputeCapability(self, handle: dict[str, Any]) -> tuple[int, int]:
        return tuple(handle["cc"])

    def nvmlDeviceGetMemoryInfo(self, handle: dict[str, Any]) -> SimpleNamespace:
        used = handle["mem_used"]
        return SimpleNamespace(total=handle["mem_total"], free=handle["mem_total"] - used, used=used)

    def nvmlDeviceGetMigMode(self, handle: dict[str, Any]) -> tuple[int, int]:
        if handle["mig"] is None:  # consumer GPUs
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return tuple(handle["mig"])

    def nvmlDeviceGetName(self, handle: dict[str, Any]) -> bytes:
        return handle["name"].encode()  # older nvidia-ml-py returns bytes

    def nvmlDeviceGetUUID(self, handle: dict[str, Any]) -> str:
        return handle["uuid"]

    def nvmlDeviceGetPciInfo(self, handle: dict[str, Any]) -> SimpleNamespace:
        # nvmlPciInfo_t.busId is a c_char array: ctypes hands it out as bytes
        return SimpleNamespace(busId=handle["bus_id"].encode())
