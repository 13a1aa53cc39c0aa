"""GPU facts from `nvidia-smi`, the fallback when NVML cannot be loaded."""

from __future__ import annotations

import re
from typing import Any

from wanprov.facts import process

# The field list recorded on the real H100 (shared/fixtures/hosts/*/nvidia-smi-query-nounits.txt).
QUERY_FIELDS = (
    "index,name,uuid,pci.bus_id,driver_version,vbios_version,memory.total,memory.used,memory.free,"
    "compute_cap,power.limit,clocks.max.sm,persistence_mode,mig.mode.current,pstate,temperature.gpu"
)
TIMEOUT_S = 10.0


def probe() -> dict[str, Any]:
    query = process.run(
        ["nvidia-smi", f"--query-gpu={QUERY_FIELDS}", "--format=csv,noheader,nounits"], timeout=TIMEOUT_S
    )
    if query.returncode is None:
        return {
            "status": "absent" if "not found" in (query.error or "") else "unknown",
            "reason": query.error,
            "source": "nvidia-smi",
            "devices": [],
        }
    if not query.ok:
        message = (query.stdout + query.stderr).strip().splitlines()
        return {
            "status": "unknown",
            "reason": f"nvidia-smi failed (rc={query.returncode}): {message[0] if message else 'no output'}",
            "source": "nvidia-smi",
            "devices": [],
        }
    devices = parse_query(query.stdout)
    version = process.run(["nvidia-smi", "--version"], timeout=TIMEOUT_S)
    cuda = parse_version_output(version.stdout).get("cuda") if version.ok else None
    return {
        "status": "ok" if devices else "absent",
        "reason": None if devices else "nvidia-smi lists no GPU",
        "source": "nvidia-smi",
        "driver_version": devices[0].pop("driver_version") if devices else None,
        "cuda_driver_version": cuda,
        "devices": [{k: v for k, v in d.items() if k != "driver_version"} for d in devices],
    }


def _int(text: str) -> int | None:
    try:
        return int(float(text))
    except ValueError:  # "[N/A]", "[Not Supported]"
        return None


def parse_query(text: str) -> list[dict[str, Any]]:
    """Parse `--query-gpu=QUERY_FIELDS --format=csv,noheader,nounits` output (one line per GPU)."""
    devices = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) != len(QUERY_FIELDS.split(",")) or not cells[0].isdigit():
            continue
        row = dict(zip(QUERY_FIELDS.split(","), cells, strict=True))
        index, name, uuid, bus_id, driver, cc, mig = (
            row[k]
            for k in (
                "index",
                "name",
                "uuid",
                "pci.bus_id",
                "driver_version",
                "compute_cap",
                "mig.mode.current",
            )
        )
        total, free = row["memory.total"], row["memory.free"]
        devices.append(
            {
                "index": int(index),
                "name": name,
                "uuid": uuid,
                "pci_bus_id": bus_id,
                "driver_version": driver,
                "compute_capability": cc if re.fullmatch(r"\d+\.\d+", cc) else None,
                "vram_total_mib": _int(total),
                "vram_free_mib": _int(free),
                "mig_mode": mig.lower() if mig.lower() in ("enabled", "disabled") else None,
            }
        )
    return devices


def parse_version_output(text: str) -> dict[str, str]:
    """`nvidia-smi --version` ("DRIVER version : X", "CUDA Version : Y") or the table header
    ("Driver Version: X     CUDA Version: Y")."""
    facts = {}
    driver = re.search(r"DRIVER version\s*:\s*([\d.]+)", text, re.IGNORECASE)
    cuda = re.search(r"CUDA Version\s*:\s*([\d.]+)", text, re.IGNORECASE)
    if driver:
        facts["driver"] = driver.group(1)
    if cuda:
        facts["cuda"] = cuda.group(1)
    return facts
