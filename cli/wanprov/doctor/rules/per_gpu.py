"""Run a rule on every judged GPU and name the GPU in what it finds."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from wanprov.doctor.findings import Finding
from wanprov.doctor.rules.context import Context

Judge = Callable[[Context, dict[str, Any]], list[Finding]]


def _indices(indices: list[int]) -> str:
    """[0, 1, 2, 3] -> '0-3'; [0, 2, 5] -> '0, 2, 5'."""
    if len(indices) > 2 and indices == list(range(indices[0], indices[-1] + 1)):
        return f"{indices[0]}-{indices[-1]}"
    return ", ".join(str(index) for index in indices)


def label(devices: list[dict[str, Any]]) -> str:
    """'GPU 1 (NVIDIA GeForce RTX 5090, 00000000:02:00.0)', or 'GPUs 0-7 (NVIDIA H100 80GB HBM3)'."""
    if len(devices) == 1:
        device = devices[0]
        where = f", {device['pci_bus_id']}" if device.get("pci_bus_id") else ""
        return f"GPU {device.get('index')} ({device.get('name')}{where})"
    names = list(dict.fromkeys(str(device.get("name")) for device in devices))
    return f"GPUs {_indices([device.get('index') for device in devices])} ({', '.join(names)})"


def each_gpu(ctx: Context, judge: Judge) -> list[Finding]:
    """`judge` on every judged GPU, each finding prefixed with the GPU it is about. PASS and INFO findings
    that read the same on several GPUs are merged (an 8 x H100 node gets one line, not eight); WARN and
    FAIL stay one per GPU, each with its own fix."""
    groups: dict[tuple[str, str, str, str | None, int | None], list[dict[str, Any]]] = {}
    for device in ctx.devices:
        for finding in judge(ctx, device):
            alone = device.get("index") if finding.severity in ("warn", "fail") else None
            key = (finding.check, finding.severity, finding.message, finding.fix, alone)
            groups.setdefault(key, []).append(device)
    return [
        Finding(check, severity, f"{label(devices)}: {message}", fix, tuple(d.get("index") for d in devices))
        for (check, severity, message, fix, _alone), devices in groups.items()
    ]


def with_gpus(finding: Finding, devices: list[dict[str, Any]]) -> Finding:
    """A host-level finding that is about some GPUs (e.g. the Blackwell ones)."""
    return dataclasses.replace(finding, gpus=tuple(device.get("index") for device in devices))
