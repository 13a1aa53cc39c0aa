"""Pure facts about CUDA and drivers: which CUDA a driver runs, minor-version compatibility, branch EOL."""

from __future__ import annotations

import datetime as dt

from wanprov.compat import tables, versions


def driver_cuda(driver_version: str | None) -> str | None:
    """The highest CUDA toolkit whose GA minimum driver `driver_version` meets (from the release notes)."""
    best = None
    driver = versions.parse(driver_version)
    if driver is None:
        return None
    for cuda, minimum in tables.load("cuda-driver-minimums").items():
        if driver >= (versions.parse(minimum) or ()) and (
            best is None or versions.parse(cuda) > versions.parse(best)
        ):
            best = cuda
    return best


def minor_compat_floor(cuda_major: int) -> str | None:
    """Lowest driver that runs CUDA `cuda_major`.x under minor-version compatibility."""
    return tables.load("cuda-minor-compat").get(str(cuda_major))


def min_driver_for(cuda: str) -> str | None:
    """GA minimum Linux driver of toolkit `cuda` ('12.8' -> '570.26')."""
    return tables.load("cuda-driver-minimums").get(cuda)


def branch_end_of_life(driver_version: str | None) -> tuple[str, dt.date] | None:
    """(branch, end-of-life date) when the driver's branch is in the lifecycle table, else None."""
    parsed = versions.parse(driver_version)
    if not parsed:
        return None
    row = tables.load("driver-branches").get(str(parsed[0]))
    if not row:
        return None
    return str(parsed[0]), dt.date.fromisoformat(str(row["end_of_life"]))
