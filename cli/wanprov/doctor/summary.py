"""The `summary` block: what the Ansible roles and the workflow renderer read (a contract)."""

from __future__ import annotations

from typing import Any

from wanprov.compat import gpus, tables, torch_choice


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


def summarize(facts: dict[str, Any]) -> dict[str, Any]:
    device = torch_choice.primary_device(facts)
    gpu = None
    if device is not None:
        cc = device.get("compute_capability")
        gpu = {
            "name": device.get("name"),
            "compute_capability": cc,
            "vram_total_mib": device.get("vram_total_mib"),
            "arch": gpus.architecture(cc),
        }
    tier = vram_tier(gpu["vram_total_mib"] if gpu else 0)
    return {
        "gpu": gpu,
        "vram_tier": tier["tier"],
        "recommended_profile": tier["profile"],
        "recommended_quant": tier["quant"],
        "launch_flags": launch_flags(facts, tier),
        "torch": torch_choice.recommend(facts),
        "nvenc": _nvenc(facts),
        # which tool decided summary.nvenc: "ffmpeg" (the binary VHS uses) or "pyav" (ComfyUI core's)
        "nvenc_tool": (facts.get("nvenc") or {}).get("tool") if _nvenc(facts) is not None else None,
    }
