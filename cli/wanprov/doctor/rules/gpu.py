"""Rules about the GPU and the driver."""

from __future__ import annotations

from wanprov.compat import cuda, gpus, versions
from wanprov.doctor.findings import Finding, fail, info, passed, warn
from wanprov.doctor.rules.context import Context

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
    count = len(ctx.gpu.get("devices") or [])
    extra = f" (+{count - 1} more; ComfyUI uses GPU 0)" if count > 1 else ""
    return [
        passed(
            "gpu_detected",
            f"{device.get('name')}, CC {device.get('compute_capability')}, "
            f"{device.get('vram_total_mib')} MiB VRAM, driver {ctx.driver} "
            f"(CUDA {ctx.driver_cuda}), via {ctx.gpu.get('source')}{extra}",
        )
    ]


def driver_flavour(ctx: Context) -> list[Finding]:
    flavour = (ctx.facts.get("driver") or {}).get("flavour")
    if ctx.device is None:
        return []
    if flavour is None:
        reason = (ctx.facts.get("driver") or {}).get("reason") or "unknown"
        return [info("driver_flavour", f"kernel module flavour unknown: {reason}")]
    if flavour == "proprietary" and gpus.is_blackwell(ctx.cc):
        return [
            fail(
                "driver_flavour",
                f"Blackwell GPU (CC {ctx.cc}) on the proprietary kernel module, "
                "which does not drive Blackwell",
                "install the open kernel modules (e.g. nvidia-open / nvidia-driver-570-open or newer)",
            )
        ]
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
    device = ctx.device
    if device is None or device.get("mig_mode") != "enabled":
        return []
    return [
        warn(
            "mig_mode",
            f"MIG is enabled on GPU 0 ({device.get('name')}): ComfyUI sees a slice, not the GPU",
            "disable MIG: sudo nvidia-smi -i 0 -mig 0 (then reset the GPU or reboot)",
        )
    ]


def blackwell_support(ctx: Context) -> list[Finding]:
    """Rule 4: Blackwell needs torch >= 2.7 built with CUDA >= 12.8, and driver >= 570."""
    if not gpus.is_blackwell(ctx.cc):
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
        return [passed("blackwell_support", f"Blackwell (CC {ctx.cc}): driver and torch are new enough")]
    return [
        fail(
            "blackwell_support",
            f"Blackwell GPU (CC {ctx.cc}) needs torch >= 2.7 with a CUDA >= 12.8 build (cu128 or newer) "
            f"and driver >= 570: {', '.join(problems)}",
            ctx.install_fix(),
        )
    ]


def precision(ctx: Context) -> list[Finding]:
    """Rule 6: fp8 is upcast below CC 8.9 (works, no speed-up); bf16 needs CC >= 8.0."""
    parsed = gpus.parse_cc(ctx.cc)
    if parsed is None:
        return []
    if parsed < (8, 0):
        return [
            warn(
                "precision",
                f"CC {ctx.cc} has no bf16: Wan runs in fp16/fp32 (slower, risk of overflow)",
                "use a GPU with CC >= 8.0 (Ampere or newer) for Wan 2.2",
            )
        ]
    if parsed < (8, 9):
        return [
            info(
                "precision",
                f"CC {ctx.cc} has bf16 but no fp8 matmul: fp8 weights are upcast "
                "(they work, without the fp8 speed-up)",
            )
        ]
    return [passed("precision", f"CC {ctx.cc}: bf16 and fp8 matmul supported")]
