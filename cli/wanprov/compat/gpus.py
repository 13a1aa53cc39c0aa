"""Pure facts about GPUs: architecture family and whether a torch arch list covers a device."""

from __future__ import annotations

import re

from wanprov.compat import tables


def parse_cc(text: str | None) -> tuple[int, int] | None:
    """'9.0' -> (9, 0); '12.0' -> (12, 0)."""
    match = re.fullmatch(r"\s*(\d+)\.(\d+)\s*", str(text or ""))
    return (int(match.group(1)), int(match.group(2))) if match else None


def architecture(cc: str | None) -> str | None:
    """Family name ('hopper', 'blackwell', ...) from the compute capability, via gpu-architectures.yaml."""
    parsed = parse_cc(cc)
    if parsed is None:
        return None
    rows = tables.load("gpu-architectures")
    return rows.get(f"{parsed[0]}.{parsed[1]}") or rows.get(str(parsed[0]))


def is_blackwell(cc: str | None) -> bool:
    return architecture(cc) == "blackwell"


def arch_covers(arch_list: list[str], cc: str | None) -> bool | None:
    """Whether torch can run on a device of compute capability `cc` with this arch list.

    A cubin sm_XY runs on the same major with minor >= Y; PTX compute_XY is JIT-compiled for any CC >= XY
    (compat.md section 4). None when the CC is unknown.
    """
    device = parse_cc(cc)
    if device is None:
        return None
    for entry in arch_list:
        match = re.fullmatch(r"(sm|compute)_(\d+?)(\d)a?", entry.strip())
        if not match:
            continue
        kind, major, minor = match.group(1), int(match.group(2)), int(match.group(3))
        if kind == "sm" and major == device[0] and minor <= device[1]:
            return True
        if kind == "compute" and (major, minor) <= device:
            return True
    return False


def known_without_nvenc(name: str | None) -> bool:
    """True for GPUs the NVENC table lists as having no encoder (only used to explain a failed encode)."""
    return any(row["match"] in (name or "") and not row["nvenc"] for row in tables.load("nvenc"))
