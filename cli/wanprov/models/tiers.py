"""Which VRAM tiers a model profile is recommended for, from the doctor's tier table (pure).

`models list` shows this instead of hand-written GPU sizes in the profile descriptions, so the two cannot
disagree: a GPU gets a profile by its tier's lower bound (manifests/compat/vram-tiers.yaml)."""

from __future__ import annotations

from typing import Any

from wanprov.compat import tables


def profile_tiers(profile: str) -> list[dict[str, Any]]:
    """The tiers recommending `profile`, smallest first: {tier, min_vram_mib, max_vram_mib} (max exclusive;
    None for the largest tier). Empty for a profile no tier recommends (Flux, your own)."""
    rows = sorted(tables.load("vram-tiers"), key=lambda row: row["min_vram_mib"])
    found = []
    for position, row in enumerate(rows):
        if row["profile"] != profile:
            continue
        upper = rows[position + 1]["min_vram_mib"] if position + 1 < len(rows) else None
        found.append({"tier": row["tier"], "min_vram_mib": row["min_vram_mib"], "max_vram_mib": upper})
    return found


def describe_tiers(tiers: list[dict[str, Any]]) -> str:
    """'doctor tier large (20-40 GB), xlarge (40 GB and up)'; '' when no tier recommends the profile."""
    if not tiers:
        return ""

    def size(row: dict[str, Any]) -> str:
        low, high = _gib(row["min_vram_mib"]), row["max_vram_mib"]
        if high is None:
            return f"{low} GB and up"
        return f"under {_gib(high)} GB" if row["min_vram_mib"] <= 1 else f"{low}-{_gib(high)} GB"

    return "doctor tier " + ", ".join(f"{row['tier']} ({size(row)})" for row in tiers)


def _gib(mib: int) -> str:
    return f"{mib / 1024:g}"
