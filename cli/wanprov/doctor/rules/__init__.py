"""The rules: pure functions `Context -> list[Finding]`, run in this order (the report's order)."""

from __future__ import annotations

from collections.abc import Callable

from wanprov.doctor.findings import Finding
from wanprov.doctor.rules import gpu, host, torch
from wanprov.doctor.rules.context import Context

Rule = Callable[[Context], list[Finding]]

RULES: tuple[Rule, ...] = (
    gpu.gpu_detected,
    gpu.driver_flavour,
    gpu.driver_branch_eol,  # compat.md section 8, rule 10
    gpu.mig_mode,
    torch.torch_installed,
    torch.torch_recommendation,
    torch.torch_cuda_build,
    torch.torch_cuda_major,  # rule 1
    torch.torch_cuda_minor,  # rule 2
    torch.torch_arch_coverage,  # rule 3
    gpu.blackwell_support,  # rule 4
    torch.legacy_gpu_wheel,  # rule 5
    torch.torch_runtime,
    gpu.precision,  # rule 6
    torch.triton_version,  # rule 8
    torch.xformers_torch,  # rule 8
    host.nvenc,  # rule 7
    host.ffmpeg_present,
    host.memory,
    host.disk_space,
    host.comfyui_install,
    host.comfyui_launch_flags,  # rule 9
    host.vram_tier,
    host.profile_fit,
)

__all__ = ["RULES", "Context", "Rule"]
