"""Rules about the GPU and the driver."""

from __future__ import annotations

from collections import Counter
from typing import Any

from wanprov.compat import cuda, gpus, versions
from wanprov.doctor.findings import Finding, fail, info, passed, warn
from wanprov.doctor.rules.context import Context
from wanprov.doctor.rules.per_gpu import each_gpu, label, with_gpus

DRIVER_FIX = (
    "install the NVIDIA driver (>= 580 for CUDA 13; the open kernel modules for Blackwell) and reboot"
)


def gpu_detected(ctx: Context) -> list[Finding]:
    device = ctx.device
    if device is None:
        reason = ctx.gpu.get("reason") or "no NVIDIA GPU found"
        nvml = ctx.gpu.get("nvml_reason")
        detail = f"{reason}; {nvml}" if nvml and nvml not in reason else reason
        return [fail("gpu_detected", f"no usable NVIDIA GPU: {detail}", DRIVER_FIX)]
    found = ctx.gpu.get("devices") or []
    driver = f"driver {ctx.driver} (CUDA {ctx.driver_cuda}), via {ctx.gpu.get('source')}"
    if len(found) == 1:
        return [
            passed(
                "gpu_detected",
                f"{device.get('name')}, CC {device.get('compute_capability')}, "
                f"{device.get('vram_total_mib')} MiB VRAM, {driver}",
            )
        ]
    models = Counter(
        f"{d.get('name')} (CC {d.get('compute_capability')}, {d.get('vram_total_mib')} MiB)" for d in found
    )
    inventory = ", ".join(f"{count} x {model}" for model, count in models.items())
    judged = ctx.devices
    judged_ids = {id(d) for d in judged}  # by identity: `d not in judged` compares dicts, quadratic
    excluded = [d for d in found if id(d) not in judged_ids]
    scope = f"judging {label(judged)}" + (f"; excluded by --gpus: {label(excluded)}" if excluded else "")
    return [passed("gpu_detected", f"{len(found)} GPUs: {inventory}; {driver}; {scope}")]


def driver_flavour(ctx: Context) -> list[Finding]:
    flavour = (ctx.facts.get("driver") or {}).get("flavour")
    if ctx.device is None:
        return []
    if flavour is None:
        reason = (ctx.facts.get("driver") or {}).get("reason") or "unknown"
        return [info("driver_flavour", f"kernel module flavour unknown: {reason}")]
    blackwell = [d for d in ctx.devices if gpus.is_blackwell(d.get("compute_capability"))]
    if flavour == "proprietary" and blackwell:
        finding = fail(
            "driver_flavour",
            f"Blackwell {label(blackwell)} on the proprietary kernel module, which does not drive Blackwell",
            "install the open kernel modules (e.g. nvidia-open / nvidia-driver-570-open or newer)",
        )
        return [with_gpus(finding, blackwell)]
    return [passed("driver_flavour", f"{flavour} kernel module")]


def driver_branch_eol(ctx: Context) -> list[Finding]:
    """Rule 10: a driver branch past its end of life gets no security or bug fixes."""
    eol = cuda.branch_end_of_life(ctx.driver)
    if ctx.driver is None:
        return []
    if eol is None:
        return [info("driver_branch_eol", f"driver {ctx.driver}: branch not in the lifecycle table")]
    branch, end = eol
    if ctx.today >= end:
        return [
            warn(
                "driver_branch_eol",
                f"driver branch R{branch} reached end of life on {end}",
                "move to a supported branch: R580 (LTSB, supported to June 2028)",
            )
        ]
    return [passed("driver_branch_eol", f"driver branch R{branch} supported until {end}")]


def mig_mode(ctx: Context) -> list[Finding]:
    return each_gpu(ctx, _mig_mode)


def _mig_mode(ctx: Context, device: dict[str, Any]) -> list[Finding]:
    if device.get("mig_mode") != "enabled":
        return []
    index = device.get("index")
    return [
        warn(
            "mig_mode",
            "MIG is enabled: ComfyUI sees a slice, not the GPU",
            f"disable MIG: sudo nvidia-smi -i {index} -mig 0 (then reset the GPU or reboot)",
        )
    ]


def blackwell_support(ctx: Context) -> list[Finding]:
    """Rule 4: Blackwell needs torch >= 2.7 built with CUDA >= 12.8, and driver >= 570."""
    return each_gpu(ctx, _blackwell_support)


def _blackwell_support(ctx: Context, device: dict[str, Any]) -> list[Finding]:
    cc = device.get("compute_capability")
    if not gpus.is_blackwell(cc):
        return []
    problems = []
    if not versions.at_least(ctx.driver, cuda.min_driver_for("12.8") or "570.26"):
        problems.append(f"driver {ctx.driver} < 570.26")
    if ctx.torch_ok:
        if not versions.at_least(ctx.torch.get("version"), "2.7"):
            problems.append(f"torch {ctx.torch.get('version')} < 2.7")
        if not versions.at_least(ctx.torch.get("cuda"), "12.8"):
            problems.append(f"torch built for CUDA {ctx.torch.get('cuda') or 'none (CPU)'} < 12.8")
    if not problems:
        return [passed("blackwell_support", f"Blackwell (CC {cc}): driver and torch are new enough")]
    return [
        fail(
            "blackwell_support",
            f"Blackwell GPU (CC {cc}) needs torch >= 2.7 with a CUDA >= 12.8 build (cu128 or newer) "
            f"and driver >= 570: {', '.join(problems)}",
            ctx.install_fix(),
        )
    ]


def precision(ctx: Context) -> list[Finding]:
    """Rule 6: fp8 is upcast below CC 8.9 (works, no speed-up); bf16 needs CC >= 8.0."""
    return each_gpu(ctx, _precision)


def _precision(ctx: Context, device: dict[str, Any]) -> list[Finding]:
    cc = device.get("compute_capability")
    parsed = gpus.parse_cc(cc)
    if parsed is None:
        return []
    if parsed < (8, 0):
        return [
            warn(
                "precision",
                f"CC {cc} has no bf16: Wan runs in fp16/fp32 (slower, risk of overflow)",
                "use a GPU with CC >= 8.0 (Ampere or newer) for Wan 2.2",
            )
        ]
    if parsed < (8, 9):
        return [
            info(
                "precision",
                f"CC {cc} has bf16 but no fp8 matmul: fp8 weights are upcast "
                "(they work, without the fp8 speed-up)",
            )
        ]
    return [passed("precision", f"CC {cc}: bf16 and fp8 matmul supported")]
