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


def verdicts(section: dict[str, Any]) -> dict[str, bool] | None:
    """codec -> whether its one-frame encode worked; None when the probe could not tell."""
    encoders = section.get("encoders") or {}
    if section.get("status") != "ok" or not encoders:
        return None
    return {codec: bool(result.get("ok")) for codec, result in encoders.items()}


def per_gpu_nvenc(facts: dict[str, Any]) -> bool:
    """Whether the facts hold one NVENC verdict per GPU (facts saved before that hold one for the host)."""
    return isinstance((facts.get("nvenc") or {}).get("gpus"), list)


def gpu_nvenc(facts: dict[str, Any], index: Any) -> dict[str, Any]:
    """The NVENC section of one GPU: its own encodes' result. Facts saved before per-GPU encodes hold one
    result from the encoders' `any` device (the first GPU that could encode): it is every GPU's when no
    GPU could encode or the host has one GPU; on a multi-GPU host where something encoded, it says
    nothing about which GPU did, so that GPU's NVENC is unknown."""
    section = facts.get("nvenc") or {}
    if per_gpu_nvenc(facts):
        for entry in section["gpus"]:
            if isinstance(entry, dict) and entry.get("index") == index:
                tested_with = {key: section.get(key) for key in ("tool", "binary", "python", "av_version")}
                return {**tested_with, **entry}
        return {"status": "unknown", "reason": f"GPU {index} was not in the NVENC probe", "encoders": {}}
    found = verdicts(section)
    if found is None or len(all_devices(facts)) <= 1 or not any(found.values()):
        return section
    return {
        "status": "unknown",
        "reason": "these facts hold one NVENC result for the whole host (recorded before each GPU was "
        "tested): some GPU encoded, which one is not known",
        "tool": section.get("tool"),
        "encoders": {},
    }


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
        # this GPU's own one-frame encodes (null: unknown): the video format its workflows use
        "nvenc": verdicts(gpu_nvenc(facts, device.get("index"))),
    }


def summarize(facts: dict[str, Any], selection: Sequence[int] | None = None) -> dict[str, Any]:
    """The host's summary. The flat fields (gpu, vram_tier, ...) describe the first judged GPU, as they
    described GPU 0 before per-GPU judging; `gpus` has one entry per GPU found (judged or not)."""
    judged = judged_devices(facts, selection)
    device = judged[0] if judged else None
    gpu = _gpu(device) if device is not None else None
    tier = vram_tier(gpu["vram_total_mib"] if gpu else 0)
    # the first judged GPU's NVENC, as the other flat fields; facts without per-GPU encodes: the host's
    nvenc = gpu_nvenc(facts, device.get("index")) if device is not None and per_gpu_nvenc(facts) else None
    nvenc = nvenc or (facts.get("nvenc") or {})
    return {
        "gpu": gpu,
        "vram_tier": tier["tier"],
        "recommended_profile": tier["profile"],
        "recommended_quant": tier["quant"],
        "launch_flags": launch_flags(facts, tier),
        # one venv for every judged GPU: the wheel must cover them all
        "torch": torch_choice.recommend(facts, judged),
        "nvenc": verdicts(nvenc),
        # which tool decided summary.nvenc: "ffmpeg" (the binary VHS uses) or "pyav" (ComfyUI core's)
        "nvenc_tool": nvenc.get("tool") if verdicts(nvenc) is not None else None,
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
