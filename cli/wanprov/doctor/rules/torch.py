"""Rules about the torch install of the target interpreter (compat.md section 8, rules 1-5 and 8)."""

from __future__ import annotations

from typing import Any

from wanprov.compat import cuda, gpus, tables, torch_choice, versions
from wanprov.doctor.findings import Finding, fail, info, passed, warn
from wanprov.doctor.rules.context import Context
from wanprov.doctor.rules.per_gpu import each_gpu


def torch_installed(ctx: Context) -> list[Finding]:
    torch = ctx.torch
    status = torch.get("status")
    python = torch.get("python")
    if status == "skipped":
        return [info("torch_installed", f"torch not probed ({torch.get('reason')})")]
    if status == "missing":
        return [fail("torch_installed", f"torch is not installed in {python}", ctx.install_fix())]
    if status != "ok":
        return [
            warn(
                "torch_installed",
                f"torch facts unknown for {python}: {torch.get('reason')}",
                f"run {python} -c 'import torch' and fix the error it prints",
            )
        ]
    return [
        passed(
            "torch_installed",
            f"torch {torch.get('version')} (CUDA {torch.get('cuda') or 'none'}) in {python}",
        )
    ]


def torch_recommendation(ctx: Context) -> list[Finding]:
    """The wheel this host should run (INFO), or FAIL when no current wheel can work here."""
    if ctx.device is None:
        return []
    choice = ctx.recommendation
    if choice is None:
        return [
            fail(
                "torch_recommendation",
                f"no current torch wheel runs on driver {ctx.driver} with CC {ctx.judged_ccs}",
                "upgrade the NVIDIA driver to >= 580.65.06 (R580) and rerun wanprov doctor",
            )
        ]
    return [
        info(
            "torch_recommendation",
            f"recommended: torch {choice['torch']} {choice['variant']} ({choice['reason']})",
            choice["pip_install"],
        )
    ]


def _gpu_and_torch(ctx: Context) -> bool:
    return ctx.device is not None and ctx.torch_ok


def torch_cuda_build(ctx: Context) -> list[Finding]:
    if not _gpu_and_torch(ctx) or ctx.wheel_variant:
        return []
    return [
        fail(
            "torch_cuda_build",
            f"torch {ctx.torch.get('version')} is a CPU-only build on a GPU host",
            ctx.install_fix("replace it with"),
        )
    ]


def torch_cuda_major(ctx: Context) -> list[Finding]:
    """Rule 1: a wheel built for a newer CUDA major than the driver runs cannot start at all."""
    wheel = versions.cuda_of_variant(ctx.wheel_variant or "")
    driver_cuda = versions.parse(ctx.driver_cuda)
    if not _gpu_and_torch(ctx) or wheel is None or driver_cuda is None:
        return []
    if wheel[0] > driver_cuda[0]:
        needed = cuda.minor_compat_floor(wheel[0]) or "a newer driver"
        return [
            fail(
                "torch_cuda_major",
                f"torch {ctx.torch.get('version')} is built for CUDA {wheel[0]}.{wheel[1]}, but driver "
                f"{ctx.driver} runs CUDA {ctx.driver_cuda}: CUDA {wheel[0]} wheels need driver >= {needed}",
                f"upgrade the driver to >= {needed}, or {ctx.install_fix()}",
            )
        ]
    return [passed("torch_cuda_major", f"CUDA {wheel[0]}.x wheel on a CUDA {ctx.driver_cuda} driver")]


def torch_cuda_minor(ctx: Context) -> list[Finding]:
    """Rule 2: same major, newer minor runs under minor-version compatibility (PTX JIT fails): WARN;
    below the minor-compat floor it does not run: FAIL."""
    wheel = versions.cuda_of_variant(ctx.wheel_variant or "")
    driver_cuda = versions.parse(ctx.driver_cuda)
    if not _gpu_and_torch(ctx) or wheel is None or driver_cuda is None or wheel[0] != driver_cuda[0]:
        return []
    if wheel <= driver_cuda[:2]:
        return [
            passed("torch_cuda_minor", f"wheel CUDA {wheel[0]}.{wheel[1]} <= driver CUDA {ctx.driver_cuda}")
        ]
    floor = cuda.minor_compat_floor(wheel[0])
    native = cuda.min_driver_for(f"{wheel[0]}.{wheel[1]}")
    if floor and not versions.at_least(ctx.driver, floor):
        return [
            fail(
                "torch_cuda_minor",
                f"driver {ctx.driver} is below {floor}, the minimum for any CUDA {wheel[0]}.x wheel",
                f"upgrade the driver to >= {native or floor}",
            )
        ]
    return [
        warn(
            "torch_cuda_minor",
            f"torch is built for CUDA {wheel[0]}.{wheel[1]} but driver {ctx.driver} runs CUDA "
            f"{ctx.driver_cuda}: it runs under CUDA minor-version compatibility, where PTX JIT fails "
            "(cudaErrorUnsupportedPtxVersion) and some kernels or torch.compile may not load",
            f"upgrade the driver to >= {native} for native CUDA {wheel[0]}.{wheel[1]}, or "
            f"{ctx.install_fix()}",
        )
    ]


def torch_arch_coverage(ctx: Context) -> list[Finding]:
    """Rule 3: each GPU's CC must be covered by a cubin of the same major or an older PTX."""
    if not _gpu_and_torch(ctx) or not ctx.torch.get("arch_list"):
        return []
    return each_gpu(ctx, _arch_coverage)


def _arch_coverage(ctx: Context, device: dict[str, Any]) -> list[Finding]:
    arch_list = ctx.torch.get("arch_list") or []
    cc = device.get("compute_capability")
    covered = gpus.arch_covers(arch_list, cc)
    if covered is None:
        return [info("torch_arch_coverage", f"compute capability unknown; arch list {' '.join(arch_list)}")]
    cc_tag = (cc or "").replace(".", "")
    if not covered:
        return [
            fail(
                "torch_arch_coverage",
                f"torch {ctx.torch.get('version')} has no kernels for sm_{cc_tag} (CC {cc}): its arch list "
                f"is {' '.join(arch_list)} ('no kernel image is available for execution on the device')",
                ctx.install_fix(),
            )
        ]
    return [passed("torch_arch_coverage", f"sm_{cc_tag} covered by {' '.join(arch_list)}")]


def legacy_gpu_wheel(ctx: Context) -> list[Finding]:
    """Rule 5: Maxwell/Pascal/Volta with cu128+/cu130 wheels that dropped them: use cu126."""
    if not _gpu_and_torch(ctx) or ctx.wheel_variant not in ("cu128", "cu129", "cu130"):
        return []
    return each_gpu(ctx, _legacy_gpu_wheel)


def _legacy_gpu_wheel(ctx: Context, device: dict[str, Any]) -> list[Finding]:
    cc = device.get("compute_capability")
    parsed = gpus.parse_cc(cc)
    variant = ctx.wheel_variant or ""
    if parsed is None or parsed >= (7, 5):
        return []
    arch_list = (
        ctx.torch.get("arch_list") or torch_choice.arch_list_for(variant, ctx.torch.get("version")) or []
    )
    if variant != "cu130" and gpus.arch_covers(arch_list, cc):
        return []
    cu126 = dict(tables.load("torch-recommended")["cu126"])
    return [
        fail(
            "legacy_gpu_wheel",
            f"CC {cc} ({gpus.architecture(cc)}) is not built into {variant} wheels: use cu126",
            f"install the cu126 wheel: {torch_choice.pip_install_line(cu126)}",
        )
    ]


def torch_runtime(ctx: Context) -> list[Finding]:
    """cuda.is_available() and a tiny kernel launched on every judged device index: the proof that torch
    really runs on each GPU (a mixed host can run on one card and not on the other)."""
    if not _gpu_and_torch(ctx) or not ctx.wheel_variant:
        return []
    torch = ctx.torch
    if not torch.get("cuda_available"):
        why = torch.get("cuda_error") or "torch.cuda.is_available() is False"
        return [
            fail(
                "torch_runtime",
                f"torch cannot use the GPU: {why}",
                "check the driver is loaded (nvidia-smi) and the wheel matches it; " + ctx.install_fix(),
            )
        ]
    return each_gpu(ctx, _kernel)


def _kernel(ctx: Context, device: dict[str, Any]) -> list[Finding]:
    seen = ctx.torch_device(device)
    if seen is None:
        count = len(ctx.torch.get("devices") or [])
        return [
            fail(
                "torch_runtime",
                f"torch does not see this GPU (it sees {count} device(s), matched by uuid and PCI bus id)",
                "check the GPU's state in nvidia-smi and the kernel log (Xid errors, fallen off the bus), "
                "reset or reseat it; or leave it out with --gpus",
            )
        ]
    kernel = seen.get("kernel") or {}
    if kernel.get("ok") is False:
        return [fail("torch_runtime", f"a tiny CUDA kernel failed: {kernel.get('error')}", ctx.install_fix())]
    if kernel.get("ok") is None:
        error = seen.get("error") or kernel.get("error") or "not run"
        return [warn("torch_runtime", f"test kernel not run: {error}", "rerun wanprov doctor")]
    return [passed("torch_runtime", "CUDA available, test kernel ran")]


def triton_version(ctx: Context) -> list[Finding]:
    """Rule 8a: torch.compile (and SageAttention) need the triton release torch pins."""
    if not ctx.torch_ok:
        return []
    installed = (ctx.torch.get("modules") or {}).get("triton")
    expected = tables.load("triton-pins").get(versions.minor_key(ctx.torch.get("version")) or "")
    if installed is None:
        return [
            info("triton_version", "triton is not installed: torch.compile and SageAttention are unavailable")
        ]
    if expected is None:
        return [
            info("triton_version", f"triton {installed}; no pin known for torch {ctx.torch.get('version')}")
        ]
    if not _matches_prefix(installed, expected):
        return [
            fail(
                "triton_version",
                f"triton {installed} is not the {expected} that torch {ctx.torch.get('version')} pins: "
                "torch.compile will fail",
                f"pip install triton=={expected if expected.count('.') == 2 else expected + '.*'}",
            )
        ]
    return [passed("triton_version", f"triton {installed} matches torch {ctx.torch.get('version')}")]


def _matches_prefix(version: str, expected: str) -> bool:
    have, want = versions.parse(version) or (), versions.parse(expected) or ()
    return have[: len(want)] == want


def xformers_torch(ctx: Context) -> list[Finding]:
    """Rule 8b: an xformers wheel pins one exact torch; another torch makes it fail to load."""
    modules = ctx.torch.get("modules") or {}
    if not ctx.torch_ok or not modules.get("xformers"):
        return []
    torch_base = str(ctx.torch.get("version") or "").split("+")[0]
    pins = [req.split(";")[0].replace(" ", "") for req in ctx.torch.get("xformers_requires") or []]
    exact = [pin.split("==", 1)[1] for pin in pins if "==" in pin]
    if exact and exact[0].split("+")[0] != torch_base:
        return [
            fail(
                "xformers_torch",
                f"xformers {modules['xformers']} is built for torch {exact[0]}, not {torch_base}",
                "pip uninstall -y xformers (ComfyUI uses PyTorch SDPA by default), or install the "
                f"xformers release built for torch {torch_base}",
            )
        ]
    return [passed("xformers_torch", f"xformers {modules['xformers']} fits torch {torch_base}")]
