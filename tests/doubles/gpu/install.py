"""Lay out a fake GPU host in a folder: bin/ (nvidia-smi, ffmpeg), site/ (torch, dist-info of triton
etc.), host.json, and the /proc/driver/nvidia/version stand-in. Returns the env vars to use it."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

from doubles.gpu.specs import SPECS, GpuSpec, HostSpec

FILES = Path(__file__).with_name("files")
# The interpreter that would have torch on a fake host (the doctor's --python target): the system python3
# with the host's site/ on its path (files/bin/target-python); wanprov's own interpreter never sees that site.
TARGET_PYTHON = str(FILES / "bin" / "target-python")
# Recorded real hosts (tests/fixtures/README.md says where each came from).
RECORDED_HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"


def _recorded_body(path: Path) -> str:
    """A recording without its `$ COMMAND` first line and `[rc=N]` last line."""
    lines = path.read_text().split("\n")
    rc_line = [line for line in lines if line.startswith("[rc=")][-1]
    return "\n".join(lines[1 : lines.index(rc_line)]) + "\n"


NO_NVENC_PYAV = (  # what PyAV 18.1.0 raised on the recorded H100 (nvenc-pyav.txt)
    "ExternalError: [Errno 542398533] Generic error in an external library: 'avcodec_open2(\"%s\", {})'"
)


def _pyav_failures(spec: HostSpec, recorded: Path | None) -> dict[str, str]:
    """codec -> the error the fake PyAV raises at open() where it fails: every nvenc codec's error on a
    GPU without NVENC (replayed from the recording when there is one); libx264 when the control fails.
    Which GPU fails is the fake's own decision (host.json's gpus[].nvenc, per the encoder's `gpu`)."""
    if recorded is not None and (recorded / "nvenc-pyav.txt").exists():
        raw = json.loads(_recorded_body(recorded / "nvenc-pyav.txt"))
        failures = {codec: r["error"] for codec, r in raw.items() if isinstance(r, dict) and not r.get("ok")}
    else:
        failures = {codec: NO_NVENC_PYAV % codec for codec in ("h264_nvenc", "hevc_nvenc", "av1_nvenc")}
    if not spec.pyav_control:
        failures["libx264"] = (
            "PermissionError: [Errno 1] Operation not permitted: 'avcodec_open2(\"libx264\", {})'"
        )
    return failures


def _gpus(spec: HostSpec) -> list[dict[str, object]]:
    """Every GPU of the host in nvidia-smi's index order, each with its own uuid and PCI bus id."""
    if not spec.gpu_name:
        return []
    first = GpuSpec(
        spec.gpu_name, spec.cc or "", spec.vram_mib, spec.kernel_error, spec.nvenc, spec.nvenc_av1
    )
    gpus = []
    for index, gpu in enumerate((first, *spec.more_gpus)):
        if index == 0 and spec.uuid:
            uuid = spec.uuid
        elif spec.uuid:  # copies of a recorded GPU: its uuid with a distinct last group
            uuid = spec.uuid[:-4] + f"{index:04x}"
        else:
            uuid = f"GPU-00000000-fake-0000-{index:04d}-" + spec.name[:12].ljust(12, "0")
        if index == 0 and spec.bus_id:
            bus_id = spec.bus_id
        elif spec.bus_id:  # the recorded device's slot, then the next slots on the same bus
            domain_bus, slot = spec.bus_id.rsplit(":", 1)
            bus_id = f"{domain_bus}:{int(slot.split('.')[0], 16) + index:02X}.0"
        else:
            bus_id = f"00000000:{index + 1:02X}:00.0"
        gpus.append(
            {
                "index": index,
                "name": gpu.name,
                "cc": gpu.cc,
                "vram_mib": gpu.vram_mib,
                "vram_used_mib": 1,
                "mig": spec.mig,
                "uuid": uuid,
                "bus_id": bus_id,
                "kernel_error": gpu.kernel_error,
                # what a one-frame encode on this GPU does (a GPU without its own value: as GPU 0)
                "nvenc": bool(spec.nvenc if gpu.nvenc is None else gpu.nvenc),
                "nvenc_av1": bool(spec.nvenc_av1 if gpu.nvenc_av1 is None else gpu.nvenc_av1),
            }
        )
    return gpus


def _host_json(spec: HostSpec, recorded: Path | None = None) -> dict[str, object]:
    gpus = _gpus(spec)
    gpu = None
    if spec.gpu_name:
        gpu = {**gpus[0], "driver": spec.driver, "cuda": spec.cuda}
    torch = None
    if spec.torch_version:
        torch = {
            "version": spec.torch_version,
            "cuda": spec.torch_cuda,
            "arch_list": spec.arch_list,
            "cuda_available": spec.cuda_available and gpu is not None,
            "unavailable_error": spec.unavailable_error,
            # per device in PCI order; the fake reorders them as CUDA_DEVICE_ORDER says
            "devices": [
                {k: g[k] for k in ("name", "cc", "vram_mib", "uuid", "bus_id", "kernel_error")} for g in gpus
            ],
        }
    return {
        "spec": asdict(spec),
        "recorded": spec.recorded,
        "gpu": gpu,
        "gpus": [{**g, "driver": spec.driver, "cuda": spec.cuda} for g in gpus],
        "torch": torch,
        "nvenc": spec.nvenc,
        "nvenc_av1": spec.nvenc_av1,
        "pyav": spec.pyav
        and {"version": spec.pyav, "fail": _pyav_failures(spec, recorded), "misbehave": spec.pyav_misbehave},
    }


# Recordings whose body is one line per GPU; every other nvidia-smi recording describes one GPU only, so a
# multi-GPU host drops them (the fake then answers "no recording" rather than a one-GPU lie).
PER_GPU_RECORDINGS = ("nvidia-smi-query-nounits.txt", "nvidia-smi-query-csv.txt", "nvidia-smi-L.txt")


def _multiply_recording(folder: Path, gpus: list[dict[str, object]]) -> None:
    """Give each GPU after the first a copy of GPU 0's recorded line, with its own index, uuid, bus id."""
    first = gpus[0]
    for path in folder.glob("nvidia-smi*.txt"):
        if path.name not in PER_GPU_RECORDINGS:
            path.unlink()
            continue
        lines = path.read_text().split("\n")
        row = next(i for i, line in enumerate(lines) if str(first["uuid"]) in line)
        copies = []
        for gpu in gpus[1:]:
            line = lines[row].replace(str(first["uuid"]), str(gpu["uuid"]))
            line = line.replace(str(first["bus_id"]), str(gpu["bus_id"]))
            # the index leads the line: "0, NVIDIA H100 ..." (query) or "GPU 0: NVIDIA H100 ..." (-L)
            copies.append(re.sub(r"^(GPU )?0\b", rf"\g<1>{gpu['index']}", line, count=1))
        lines[row + 1 : row + 1] = copies
        path.write_text("\n".join(lines))


def _install_script(name: str, target: Path, python: str) -> None:
    """Copy a fake tool with an absolute shebang: `/usr/bin/env python3` may be a pyenv shim costing
    0.4 s a call; -S skips site-packages (the doubles use the standard library only)."""
    body = (FILES / "bin" / name).read_text().split("\n", 1)[1]
    target.write_text(f"#!{python} -S\n{body}")
    target.chmod(0o755)


def install_fake_host(root: Path, spec: HostSpec | str, *, python: str | None = None) -> dict[str, str]:
    """Write the fake host under `root`; return PATH / WANPROV_PROC_DRIVER_VERSION / WANPROV_FFMPEG /
    WANPROV_FAKE_GPU_HOST / WANPROV_FAKE_TARGET_SITE to use it
    (PATH keeps the caller's PATH after the fake bin/). `python` runs the fake tools (default: this one).

    No PYTHONPATH: a fake torch is never on wanprov's own interpreter's path, as on a real host. site/ (the
    spec's fake torch, PyAV, triton ...) is the package folder of the interpreter that would have torch,
    TARGET_PYTHON (the doctor's `--python` target), which finds it through WANPROV_FAKE_TARGET_SITE. A fleet
    host's ComfyUI venv gets its torch from the wheel-index double instead, whose torch asks "the driver"
    named by WANPROV_FAKE_GPU_HOST (this host.json) for the GPUs."""
    python = python or sys.executable
    spec = SPECS[spec] if isinstance(spec, str) else spec
    root = Path(root)
    (root / "bin").mkdir(parents=True, exist_ok=True)
    (root / "site").mkdir(exist_ok=True)
    recorded = RECORDED_HOSTS / spec.recorded if spec.recorded else None
    (root / "host.json").write_text(json.dumps(_host_json(spec, recorded), indent=2))
    if spec.gpu_name:
        _install_script("nvidia-smi", root / "bin" / "nvidia-smi", python)
    if spec.nvenc is not None and spec.ffmpeg_binary:
        _install_script("ffmpeg", root / "bin" / "ffmpeg", python)
    if spec.torch_version:
        shutil.copytree(
            FILES / "torch",
            root / "site" / "torch",
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    if spec.pyav:
        shutil.copytree(
            FILES / "av",
            root / "site" / "av",
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    for dist, version in {**spec.modules, **({"av": spec.pyav} if spec.pyav else {})}.items():
        info = root / "site" / f"{dist}-{version}.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    proc_version = root / "proc-driver-version"
    if recorded is not None:
        shutil.copytree(recorded, root / "recorded", dirs_exist_ok=True)
        if spec.more_gpus:
            _multiply_recording(root / "recorded", _gpus(spec))
        proc_version.write_text(_recorded_body(recorded / "proc-driver-version.txt"))
    elif spec.gpu_name:
        flavour = "Open Kernel Module" if spec.open_kernel_module else "Kernel Module"
        proc_version.write_text(
            f"NVRM version: NVIDIA UNIX {flavour} for x86_64  {spec.driver}  "
            "Release Build  (dvs-builder@fake)\n"
            "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"
        )
    return {
        "PATH": f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "WANPROV_FAKE_TARGET_SITE": str(root / "site"),
        "WANPROV_FAKE_GPU_HOST": str(root / "host.json"),
        "WANPROV_PROC_DRIVER_VERSION": str(proc_version),
        # "none": this machine's own ffmpeg must not stand in for a host that has no binary
        "WANPROV_FFMPEG": "" if spec.ffmpeg_binary else "none",
    }
