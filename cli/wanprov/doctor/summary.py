"""The `summary` block: what the Ansible roles and the workflow renderer read (a contract)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wanprov.compat import gpus, tables, torch_choice
from wanprov.doctor.findings import Finding
from wanprov.errors import UsageError


def vram_tier(vram_total_mib: int | None) -> dict[str, Any]:
    """The vram-tiers.yaml row for this much VRAM (rows are ordered from the largest tier down)."""
    rows = tables.load("vram-tiers")
    for row in rows:
        if (vram_total_mib or 0) >= row["min_vram_mib"]:
            return row
    return rows[-1]


def _nvenc(facts: dict[str, Any]) -> dict[str, bool] | None:
    nvenc = facts.get("nvenc") or {}
    encoders = nvenc.get("encoders") or {}
    if nvenc.get("status") != "ok" or not encoders:
        return None
    return {codec: bool(result.get("ok")) for codec, result in encoders.items()}


def launch_flags(facts: dict[str, Any], tier: dict[str, Any]) -> list[str]:
    """The tier's VRAM flags, plus SageAttention when the target interpreter has it (with triton)."""
    flags = list(tier["launch_flags"])
    torch = facts.get("torch") or {}
    modules = torch.get("modules") or {}
    if (
        torch.get("status") == "ok"
        and torch.get("cuda")
        and modules.get("sageattention")
        and modules.get("triton")
    ):
        flags.append("--use-sage-attention")
    return flags


def all_devices(facts: dict[str, Any]) -> list[dict[str, Any]]:
    """Every GPU the probe found, in nvidia-smi's index order (empty when the GPU probe failed)."""
    gpu = facts.get("gpu") or {}
    return list(gpu.get("devices") or []) if gpu.get("status") == "ok" else []


def judged_devices(facts: dict[str, Any], selection: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """The GPUs being judged: all of them, or those whose index is in `selection` (--gpus)."""
    devices = all_devices(facts)
    if selection is None:
        return devices
    chosen = set(selection)
    return [device for device in devices if device.get("index") in chosen]


def _gpu(device: dict[str, Any]) -> dict[str, Any]:
    """The GPU as summary.gpu has always carried it (the roles and the workflow renderer read these keys)."""
    cc = device.get("compute_capability")
    return {
        "name": device.get("name"),
        "compute_capability": cc,
        "vram_total_mib": device.get("vram_total_mib"),
        "arch": gpus.architecture(cc),
    }


def _gpu_entry(facts: dict[str, Any], device: dict[str, Any]) -> dict[str, Any]:
    """One summary.gpus[] entry: identity, tier and profile of one GPU (evaluate() adds its verdict)."""
    tier = vram_tier(device.get("vram_total_mib"))
    return {
        "index": device.get("index"),
        "uuid": device.get("uuid"),
        "pci_bus_id": device.get("pci_bus_id"),
        **_gpu(device),
        "vram_tier": tier["tier"],
        "recommended_profile": tier["profile"],
        "recommended_quant": tier["quant"],
        "launch_flags": launch_flags(facts, tier),
    }


def summarize(facts: dict[str, Any], selection: Sequence[int] | None = None) -> dict[str, Any]:
    """The host's summary. The flat fields (gpu, vram_tier, ...) describe the first judged GPU, as they
    described GPU 0 before per-GPU judging; `gpus` has one entry per GPU found (judged or not)."""
    judged = judged_devices(facts, selection)
    device = judged[0] if judged else None
    gpu = _gpu(device) if device is not None else None
    tier = vram_tier(gpu["vram_total_mib"] if gpu else 0)
    return {
        "gpu": gpu,
        "vram_tier": tier["tier"],
        "recommended_profile": tier["profile"],
        "recommended_quant": tier["quant"],
        "launch_flags": launch_flags(facts, tier),
        # one venv for every judged GPU: the wheel must cover them all
        "torch": torch_choice.recommend(facts, judged),
        "nvenc": _nvenc(facts),
        # which tool decided summary.nvenc: "ffmpeg" (the binary VHS uses) or "pyav" (ComfyUI core's)
        "nvenc_tool": (facts.get("nvenc") or {}).get("tool") if _nvenc(facts) is not None else None,
        "gpus": [_gpu_entry(facts, each) for each in all_devices(facts)],
    }


def check_selection(facts: dict[str, Any], selection: Sequence[int] | None) -> tuple[int, ...] | None:
    """--gpus as a tuple, or UsageError naming the indices this host does not have. Without any GPU
    found, any --gpus is a usage error too."""
    if selection is None:
        return None
    present = [device.get("index") for device in all_devices(facts)]
    missing = sorted(set(selection) - set(present))
    if missing and not present:
        raise UsageError(
            f"--gpus {','.join(map(str, selection))}: this host has no NVIDIA GPU to select",
            hint="leave --gpus out: the doctor then says what keeps the GPU from being seen",
        )
    if missing:
        raise UsageError(
            f"--gpus {','.join(map(str, selection))}: no GPU {', '.join(map(str, missing))} on this host "
            f"(it has GPU {', '.join(map(str, present))}, as nvidia-smi numbers them)",
            hint="pick indices from `nvidia-smi -L`, or leave --gpus out to judge every GPU",
        )
    return tuple(sorted(set(selection)))


def add_verdicts(
    summary: dict[str, Any], findings: list[Finding], selection: Sequence[int] | None, *, strict: bool = False
) -> None:
    """Give each summary.gpus[] entry its verdict: "ready" (no FAIL names it; under --strict no WARN
    either), "fail" (with `failed_checks`), or "excluded" (left out by --gpus); and list the ready GPUs in
    summary.usable_gpus, the GPUs a ComfyUI instance may run on when the report is ok."""
    blocking = ("fail", "warn") if strict else ("fail",)
    failed_by_gpu: dict[int, list[str]] = {}  # one pass over the findings, not one per GPU
    for finding in findings:
        if finding.severity in blocking:
            for gpu in dict.fromkeys(finding.gpus):
                failed_by_gpu.setdefault(gpu, []).append(finding.check)
    for entry in summary["gpus"]:
        index = entry["index"]
        failed = failed_by_gpu.get(index, [])
        if selection is not None and index not in selection:
            entry["verdict"], entry["failed_checks"] = "excluded", []
        else:
            entry["verdict"], entry["failed_checks"] = ("fail" if failed else "ready"), failed
    summary["usable_gpus"] = [entry["index"] for entry in summary["gpus"] if entry["verdict"] == "ready"]
