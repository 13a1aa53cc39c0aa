"""Host facts -> render choices (VRAM tier, NVENC, recommended profile), via the doctor's summary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HostChoice:
    tier: str | None
    nvenc: bool | None  # None: unknown (render falls back to software x264)
    profile: str | None


def from_facts(path: Path) -> HostChoice:
    """Read a facts file saved by `wanprov doctor --save-facts` and summarise it the doctor's way."""
    from wanprov.doctor.summary import summarize
    from wanprov.facts.snapshot import load

    summary = summarize(load(path))
    nvenc = summary.get("nvenc")
    return HostChoice(
        tier=summary.get("vram_tier"),
        nvenc=None if nvenc is None else bool(nvenc.get("h264_nvenc")),
        profile=summary.get("recommended_profile"),
    )
