"""Host facts -> render/optimize choices (VRAM tier, NVENC), via the doctor's summary, with the reasons.

Explicit flags win over the facts; every choice taken from (or overridden against) the facts comes with a
note, so a user sees why the workflow was rendered the way it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wanprov.errors import UsageError
from wanprov.facts.snapshot import FactsFileError


@dataclass(frozen=True)
class HostChoice:
    """What a facts file says about the host, as the doctor summarises it."""

    source: str
    tier: str | None
    nvenc: bool | None  # None: unknown (probe skipped, no ffmpeg, ...): render falls back to software x264
    nvenc_reason: str  # why nvenc is what it is, in words
    gpu: str | None  # "NVIDIA H100 80GB HBM3, 81559 MiB"


@dataclass(frozen=True)
class HostSettings:
    """The tier and NVENC verdict a render/optimize uses after layering flags over facts."""

    tier: str | None = None
    nvenc: bool | None = None
    notes: list[str] = field(default_factory=list)


def from_facts(path: Path, gpu: int | None = None) -> HostChoice:
    """Read a facts file saved by `wanprov doctor --save-facts` and summarise it the doctor's way: for GPU
    `gpu` (its own tier and NVENC), else the first GPU (the summary's flat fields).

    FactsFileError (exit 10) names the file when it is missing, not JSON, or not a facts document;
    UsageError when it has no GPU `gpu`."""
    from wanprov.doctor.summary import gpu_nvenc, per_gpu_nvenc, summarize, verdicts
    from wanprov.facts.snapshot import load

    facts = load(path)
    try:
        summary = summarize(facts)
        entry = _gpu_entry(summary, gpu, path) if gpu is not None else None
        described = entry if entry is not None else (summary.get("gpu") or None)
        if entry is not None:
            section = gpu_nvenc(facts, gpu)
            found = verdicts(section)
        else:
            # summary.nvenc is the first GPU's verdict: its own section explains it
            listed = summary.get("gpus") or []
            per_gpu = per_gpu_nvenc(facts) and listed
            section = gpu_nvenc(facts, listed[0].get("index")) if per_gpu else (facts.get("nvenc") or {})
            found = summary.get("nvenc")
        h264 = ((section.get("encoders") or {}).get("h264_nvenc")) or {}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # load() checked the envelope; a hand-edited section can still hold the wrong types
        raise FactsFileError(
            f"facts file {path} cannot be summarised: {type(exc).__name__}: {exc}",
            hint="re-record the host: wanprov doctor --save-facts FILE",
        ) from exc
    on = f" on GPU {gpu}" if gpu is not None else ""
    if found is None:
        nvenc = None
        status = section.get("status", "missing")
        why = f" ({section['reason']})" if section.get("reason") else ""
        reason = f"the NVENC probe{on} was {status}{why}"
    else:
        nvenc = bool(found.get("h264_nvenc"))
        reason = (
            f"a one-frame h264_nvenc encode worked{on}"
            if nvenc
            else f"the h264_nvenc test encode failed{on}: {h264.get('error') or 'no h264_nvenc verdict'}"
        )
    return HostChoice(
        source=str(path),
        tier=entry["vram_tier"] if entry is not None else summary.get("vram_tier"),
        nvenc=nvenc,
        nvenc_reason=reason,
        gpu=f"{described.get('name')}, {described.get('vram_total_mib')} MiB" if described else None,
    )


def _gpu_entry(summary: dict[str, Any], gpu: int, path: Path) -> dict[str, Any]:
    """summary.gpus[] entry of GPU `gpu`, or UsageError naming the GPUs the file has."""
    entries = {entry.get("index"): entry for entry in summary.get("gpus") or []}
    if gpu in entries:
        return entries[gpu]
    present = ", ".join(str(index) for index in entries) or "none"
    raise UsageError(
        f"--gpu {gpu}: the facts file {path} has no GPU {gpu} (its GPUs: {present})",
        hint="pick an index from the facts file's gpu.devices (nvidia-smi's numbering), or leave --gpu out",
    )


def settings(
    facts_file: Path | None,
    *,
    tier: str | None = None,
    nvenc: bool | None = None,
    uses_nvenc: bool = True,
    gpu: int | None = None,
) -> HostSettings:
    """Layer explicit `--tier` / `--nvenc` over a facts file: GPU `gpu`'s tier and NVENC (default: the
    first GPU's). `uses_nvenc=False` (an image template) leaves the facts' NVENC verdict out."""
    if facts_file is None:
        return HostSettings(tier, nvenc)
    host = from_facts(facts_file, gpu)
    notes: list[str] = []
    seen = host.gpu or "no NVIDIA GPU"
    if tier is None:
        tier = host.tier
        notes.append(f"VRAM tier {tier} from {host.source} ({seen})")
    elif tier != host.tier:
        notes.append(f"--tier {tier} overrides the facts' tier {host.tier} ({seen})")
    if not uses_nvenc:
        return HostSettings(tier, nvenc, notes)
    if nvenc is None:
        nvenc = bool(host.nvenc)  # unknown counts as "does not work": software x264 runs everywhere
        if host.nvenc is None:
            notes.append(
                f"NVENC unknown in {host.source}: {host.nvenc_reason}; using software x264 "
                "(re-run `wanprov doctor --save-facts` without --no-nvenc, or pass --nvenc if it works)"
            )
        else:
            notes.append(
                f"NVENC {'works' if nvenc else 'does not work'} per {host.source}: {host.nvenc_reason}"
            )
    elif nvenc != host.nvenc:
        notes.append(f"--{'' if nvenc else 'no-'}nvenc overrides the facts ({host.nvenc_reason})")
    return HostSettings(tier, nvenc, notes)
