"""Host specs for the fake GPU host. Only the H100 is recorded (replayed byte for byte from
tests/fixtures/hosts/; h100x8 replays it with seven derived copies of its GPU); the others are
synthesized from these few facts. Each spec states torch's
run-time behaviour explicitly (is_available, the kernel error text real torch raises) so a reader sees
what the double will do."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

NO_KERNEL_IMAGE = (
    "CUDA error: no kernel image is available for execution on the device\n"
    "CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below "
    "might be incorrect."
)
TORCH_ARCH = {
    "cu124": ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"],
    "cu126": ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"],
    "cu128-2.7": ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120"],
    "cu128-2.9": ["sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"],
    "cu130": ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"],
}


@dataclass(frozen=True)
class GpuSpec:
    """One more GPU of a multi-GPU host (GPU 0 is described by the HostSpec's own fields)."""

    name: str
    cc: str
    vram_mib: int
    kernel_error: str | None = None  # what torch raises on a kernel launch on this device
    nvenc: bool | None = None  # its own NVENC (None: as GPU 0); the fake ffmpeg and PyAV encode per GPU
    nvenc_av1: bool | None = None


@dataclass(frozen=True)
class HostSpec:
    name: str
    gpu_name: str | None  # None: no NVIDIA GPU or driver
    cc: str | None = None
    vram_mib: int = 0
    driver: str | None = None
    cuda: str | None = None  # the CUDA version the driver reports
    open_kernel_module: bool = True
    mig: str = "[N/A]"
    nvenc: bool | None = None  # None: no fake ffmpeg (the real one on PATH, if any, is used)
    ffmpeg_binary: bool = True  # False: no ffmpeg binary at all (WANPROV_FFMPEG=none hides this machine's)
    pyav: str | None = None  # a fake PyAV of this version in the target's site (encodes per `nvenc`)
    pyav_control: bool = True  # the libx264 control encode works
    pyav_misbehave: str | None = None  # "crash" (dies at `import av`) or "hang"
    nvenc_av1: bool = True
    torch_version: str | None = None  # None: torch not installed in the target interpreter
    torch_cuda: str | None = None
    arch_list: list[str] = field(default_factory=list)
    cuda_available: bool = True
    unavailable_error: str | None = None
    kernel_error: str | None = None
    modules: dict[str, str] = field(default_factory=dict)  # dist name -> version (triton, xformers ...)
    recorded: str | None = None  # folder under tests/fixtures/hosts/ replayed by the fake nvidia-smi
    uuid: str | None = None  # GPU 0's (default: synthesized from the spec's name)
    bus_id: str | None = None  # GPU 0's (default: 00000000:01:00.0)
    more_gpus: tuple[GpuSpec, ...] = ()  # GPUs 1..N, in PCI bus order (nvidia-smi's index order)
    # the filesystem the models go to (doubles/disk.py mounts one of this size where the doctor measures)
    disk_gib: float = 500.0

    @property
    def gpu_count(self) -> int:
        return (1 + len(self.more_gpus)) if self.gpu_name else 0


H100 = "NVIDIA H100 80GB HBM3"
RTX5090 = GpuSpec("NVIDIA GeForce RTX 5090", "12.0", 32607)

SPECS: dict[str, HostSpec] = {
    spec.name: spec
    for spec in (
        HostSpec(
            "h100",
            "NVIDIA H100 80GB HBM3",
            "9.0",
            81559,
            "580.159.04",
            "13.0",
            mig="Disabled",
            nvenc=False,
            ffmpeg_binary=False,  # which.txt: "ffmpeg: missing"; PyAV replays nvenc-pyav.txt
            pyav="18.1.0",
            torch_version="2.11.0+cu130",
            torch_cuda="13.0",
            arch_list=TORCH_ARCH["cu130"],
            modules={"triton": "3.6.0"},
            recorded="h100-80gb-hbm3-driver580",
            uuid="GPU-4b0dc88c-b48b-de6b-841d-77bb9734c3f4",
            bus_id="00000000:00:06.0",
        ),
        HostSpec(
            "rtx5090_torch251_cu124",
            "NVIDIA GeForce RTX 5090",
            "12.0",
            32607,
            "570.124.06",
            "12.8",
            nvenc=True,
            torch_version="2.5.1+cu124",
            torch_cuda="12.4",
            arch_list=TORCH_ARCH["cu124"],
            kernel_error=NO_KERNEL_IMAGE,
            modules={"triton": "3.1.0"},
        ),
        HostSpec(
            "rtx5090_torch270_cu128_driver570",
            "NVIDIA GeForce RTX 5090",
            "12.0",
            32607,
            "570.124.06",
            "12.8",
            nvenc=True,
            torch_version="2.7.0+cu128",
            torch_cuda="12.8",
            arch_list=TORCH_ARCH["cu128-2.7"],
            modules={"triton": "3.3.0"},
        ),
        HostSpec(
            "rtx4090_driver535_cu130",
            "NVIDIA GeForce RTX 4090",
            "8.9",
            24564,
            "535.183.01",
            "12.2",
            open_kernel_module=False,
            nvenc=True,
            torch_version="2.9.1+cu130",
            torch_cuda="13.0",
            arch_list=TORCH_ARCH["cu130"],
            cuda_available=False,
            unavailable_error="The NVIDIA driver on your system is too old (found version 12020). Please "
            "update your GPU driver by downloading and installing a new version from the URL: "
            "http://www.nvidia.com/Download/index.aspx",
            modules={"triton": "3.5.0"},
        ),
        HostSpec(
            "rtx4090_driver535_cu128",
            "NVIDIA GeForce RTX 4090",
            "8.9",
            24564,
            "535.183.01",
            "12.2",
            open_kernel_module=False,
            nvenc=True,
            torch_version="2.9.1+cu128",
            torch_cuda="12.8",
            arch_list=TORCH_ARCH["cu128-2.9"],
            modules={"triton": "3.5.0"},
        ),
        HostSpec(
            # A workstation with two GPU classes: RTX 4090 (GPU 0, 24 GiB: tier large) + RTX 4070 Ti SUPER
            # (GPU 1, 16 GiB: tier medium), so its two ComfyUI instances need different profiles.
            "rtx4090_rtx4070tis_cu128",
            "NVIDIA GeForce RTX 4090",
            "8.9",
            24564,
            "570.124.06",
            "12.8",
            nvenc=True,
            torch_version="2.9.1+cu128",
            torch_cuda="12.8",
            arch_list=TORCH_ARCH["cu128-2.9"],
            modules={"triton": "3.5.0"},
            more_gpus=(GpuSpec("NVIDIA GeForce RTX 4070 Ti SUPER", "8.9", 16376),),
        ),
        HostSpec(
            "rtx4090_pyav_only",  # ComfyUI venv with PyAV, no ffmpeg binary installed
            "NVIDIA GeForce RTX 4090",
            "8.9",
            24564,
            "570.124.06",
            "12.8",
            nvenc=True,
            ffmpeg_binary=False,
            pyav="18.1.0",
            torch_version="2.9.1+cu128",
            torch_cuda="12.8",
            arch_list=TORCH_ARCH["cu128-2.9"],
            modules={"triton": "3.5.0"},
        ),
        HostSpec(
            "gtx1080_cu128",
            "NVIDIA GeForce GTX 1080",
            "6.1",
            8192,
            "580.95.05",
            "13.0",
            open_kernel_module=False,
            nvenc=True,
            nvenc_av1=False,
            torch_version="2.9.1+cu128",
            torch_cuda="12.8",
            arch_list=TORCH_ARCH["cu128-2.9"],
            kernel_error=NO_KERNEL_IMAGE,
            modules={"triton": "3.5.0"},
        ),
        HostSpec(
            "t4_cu130_driver580",
            "Tesla T4",
            "7.5",
            15360,
            "580.95.05",
            "13.0",
            nvenc=True,
            nvenc_av1=False,
            torch_version="2.9.1+cu130",
            torch_cuda="13.0",
            arch_list=TORCH_ARCH["cu130"],
            modules={"triton": "3.5.0"},
        ),
        HostSpec(
            # An 8 x H100 node built from the recorded H100: GPU 0 is the recording; GPUs 1-7 are its
            # copies with their own index, uuid and bus id (install.py derives the nvidia-smi replies).
            "h100x8",
            H100,
            "9.0",
            81559,
            "580.159.04",
            "13.0",
            mig="Disabled",
            nvenc=False,
            ffmpeg_binary=False,
            pyav="18.1.0",
            torch_version="2.11.0+cu130",
            torch_cuda="13.0",
            arch_list=TORCH_ARCH["cu130"],
            modules={"triton": "3.6.0"},
            recorded="h100-80gb-hbm3-driver580",
            uuid="GPU-4b0dc88c-b48b-de6b-841d-77bb9734c3f4",
            bus_id="00000000:00:06.0",
            more_gpus=tuple(GpuSpec(H100, "9.0", 81559) for _ in range(7)),
        ),
        HostSpec(
            # A workstation: RTX 4090 (GPU 0) + RTX 5090 (GPU 1); torch 2.6.0+cu126 has no sm_120
            # (compat.md section 4), so only the 5090's kernels fail.
            "rtx4090_rtx5090_torch260_cu126",
            "NVIDIA GeForce RTX 4090",
            "8.9",
            24564,
            "570.124.06",
            "12.8",
            nvenc=True,
            torch_version="2.6.0+cu126",
            torch_cuda="12.6",
            arch_list=TORCH_ARCH["cu126"],
            modules={"triton": "3.2.0"},
            more_gpus=(dataclasses.replace(RTX5090, kernel_error=NO_KERNEL_IMAGE),),
        ),
        HostSpec(
            # A mixed host in PCI order: RTX 4090 (GPU 0, NVENC) + H100 (GPU 1, no NVENC hardware). CUDA's
            # default order is fastest first (the H100 first), so only CUDA_DEVICE_ORDER=PCI_BUS_ID makes
            # the encoders' `gpu` index nvidia-smi's; their `any` device encodes on the 4090.
            "rtx4090_h100",
            "NVIDIA GeForce RTX 4090",
            "8.9",
            24564,
            "580.95.05",
            "13.0",
            nvenc=True,
            torch_version="2.9.1+cu130",
            torch_cuda="13.0",
            arch_list=TORCH_ARCH["cu130"],
            modules={"triton": "3.5.0"},
            more_gpus=(GpuSpec(H100, "9.0", 81559, nvenc=False),),
        ),
        HostSpec(
            "no_gpu",
            None,
            nvenc=False,
            torch_version="2.9.1+cu130",
            torch_cuda="13.0",
            arch_list=TORCH_ARCH["cu130"],
            cuda_available=False,
            unavailable_error="Found no NVIDIA driver on your system. Please check that you have an NVIDIA "
            "GPU and installed a driver from http://www.nvidia.com/Download/index.aspx",
        ),
    )
}
# One H100 of the recorded 8-GPU host: a single-GPU host (one ComfyUI instance) for the fleet tests.
SPECS["h100_single"] = dataclasses.replace(SPECS["h100"], name="h100_single", more_gpus=())
# The same mixed host with PyAV in the ComfyUI venv and no ffmpeg binary (the encodes go through PyAV).
SPECS["rtx4090_h100_pyav_only"] = dataclasses.replace(
    SPECS["rtx4090_h100"], name="rtx4090_h100_pyav_only", ffmpeg_binary=False, pyav="18.1.0"
)
