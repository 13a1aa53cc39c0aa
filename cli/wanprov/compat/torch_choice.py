"""Choose the torch wheel (CUDA variant and exact versions) for a host, from the cited tables.

Order of preference (compat.md sections 1, 3, 4, 7): cu130 where the driver runs CUDA 13 and the GPU is
Turing or newer (ComfyUI's own recommendation); cu128 where the driver runs 12.8 (Blackwell needs that
anyway); cu126 for Maxwell/Pascal/Volta (CUDA 13 dropped them) or older 12.x drivers.
"""

from __future__ import annotations

from typing import Any

from wanprov.compat import cuda, gpus, tables, versions


def pip_install_line(choice: dict[str, Any]) -> str:
    return (
        f"pip install torch=={choice['torch']} torchvision=={choice['torchvision']} "
        f"torchaudio=={choice['torchaudio']} --index-url {choice['index_url']}"
    )


def arch_list_for(variant: str, torch_version: str | None) -> list[str] | None:
    """The published arch list of wheel `variant` for this torch release (torch-arch-lists.yaml)."""
    key = versions.parse(versions.minor_key(torch_version))
    for row in tables.load("torch-arch-lists"):
        low, high = (versions.parse(bound) for bound in row["torch"])
        if row["variant"] == variant and key is not None and low <= key <= high:
            return list(row["arch_list"])
    return None


def variants_of(torch_version: str | None) -> list[str]:
    """CUDA variants published for this torch minor (empty when unknown)."""
    return list(tables.load("torch-cuda-variants").get(versions.minor_key(torch_version) or "", []))


def primary_device(facts: dict[str, Any]) -> dict[str, Any] | None:
    """GPU 0: ComfyUI runs on the first visible device unless told otherwise (--cuda-device)."""
    gpu = facts.get("gpu") or {}
    devices = gpu.get("devices") or []
    return devices[0] if gpu.get("status") == "ok" and devices else None


def recommend(facts: dict[str, Any], devices: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """The torch wheel to install on this host, or None when no current wheel can work here.

    One venv serves every GPU of the host, so the wheel must cover all of `devices` (default: GPU 0)."""
    devices = [d for d in ([primary_device(facts)] if devices is None else devices) if d is not None]
    driver = (facts.get("gpu") or {}).get("driver_version")
    if not devices or versions.parse(driver) is None:
        return None
    ccs = sorted(
        {str(d.get("compute_capability")) for d in devices}, key=lambda c: gpus.parse_cc(c) or (0, 0)
    )
    cc = " and ".join(ccs)
    known = [parsed for parsed in (gpus.parse_cc(c) for c in ccs) if parsed is not None]
    parsed_cc = min(known) if known else None
    floor = cuda.minor_compat_floor(12) or "525.60.13"
    if not versions.at_least(driver, floor):
        return None
    blackwell = any(gpus.is_blackwell(c) for c in ccs)
    if blackwell and not versions.at_least(driver, cuda.min_driver_for("12.8") or "570.26"):
        return None

    driver_runs_13 = versions.at_least(driver, cuda.min_driver_for("13.0") or "580.65.06")
    driver_runs_128 = versions.at_least(driver, cuda.min_driver_for("12.8") or "570.26")
    if parsed_cc is not None and parsed_cc < (7, 5):
        variant = "cu126"
        reason = f"compute capability {cc} is below 7.5: only the cu126 wheels still ship sm_50/sm_60/sm_70"
    elif driver_runs_13:
        variant = "cu130"
        reason = f"driver {driver} runs CUDA 13.0 and the GPU (CC {cc}) is in the cu130 arch list"
    elif driver_runs_128:
        variant = "cu128"
        reason = f"driver {driver} runs CUDA 12.8 but not 13.0 (cu130 needs driver >= 580.65.06)"
    else:
        variant = "cu126"
        native = versions.at_least(driver, cuda.min_driver_for("12.6") or "560.28.03")
        reason = (
            f"driver {driver} runs CUDA 12.6 natively"
            if native
            else f"driver {driver} predates CUDA 12.6; cu126 runs under minor-version compatibility "
            "(upgrade the driver to >= 580 for cu130)"
        )

    row = dict(tables.load("torch-recommended")[variant])
    arch_list = arch_list_for(variant, row["torch"])
    if arch_list is not None and any(gpus.arch_covers(arch_list, c) is False for c in ccs):
        return None
    choice = {
        "variant": variant,
        "index_url": row["index_url"],
        "torch": row["torch"],
        "torchvision": row["torchvision"],
        "torchaudio": row["torchaudio"],
    }
    choice["pip_install"] = pip_install_line(choice)
    choice["reason"] = reason
    return choice
