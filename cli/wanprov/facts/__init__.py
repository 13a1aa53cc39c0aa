"""Facts: probes of the host. Each probe has a timeout and never raises; it yields a value, or
`{"status": "unknown", "reason": ...}`. `collect()` runs the independent probes concurrently."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

SCHEMA = "wanprov.facts/1"


@dataclass(frozen=True)
class ProbeOptions:
    comfyui_dir: str | None = None
    models_dir: str | None = None
    python: str | None = None  # target interpreter; default from comfyui_dir, else the current one
    torch: bool = True
    nvenc: bool = True
    proc_driver_version: str | None = None  # override of /proc/driver/nvidia/version (tests, replays)


def _guard(name: str, probe: Any, *args: Any) -> dict[str, Any]:
    """Probes never raise: an unexpected bug in one becomes that section's "unknown" reason."""
    try:
        return probe(*args)
    except Exception as exc:  # a probe bug must not take the whole report down
        return {"status": "unknown", "reason": f"{name} probe error: {type(exc).__name__}: {exc}"}


def probe_gpu() -> dict[str, Any]:
    """NVML first; `nvidia-smi` when NVML cannot be loaded (keeping NVML's reason beside the result)."""
    from wanprov.facts import gpu_nvml, gpu_smi

    nvml = gpu_nvml.probe()
    if nvml["status"] == "ok":
        return nvml
    smi = gpu_smi.probe()
    smi["nvml_reason"] = nvml.get("reason")
    return smi


def target_python(options: ProbeOptions) -> tuple[str, str]:
    """(python, why): the interpreter whose torch and PyAV are probed."""
    from wanprov.facts import torch_probe

    if options.python:
        return options.python, "--python"
    return torch_probe.default_python(options.comfyui_dir)


def _probe_torch(options: ProbeOptions) -> dict[str, Any]:
    from wanprov.facts import torch_probe

    python, why = target_python(options)
    if not options.torch:
        return {"status": "skipped", "reason": "--no-torch", "python": python}
    facts = torch_probe.probe(python)
    facts["python_chosen_by"] = why
    return facts


def _gpu_indices(gpu: dict[str, Any]) -> list[int]:
    """The GPUs the NVENC encodes are tried on, by nvidia-smi index (none: the encoders pick one)."""
    if gpu.get("status") != "ok":
        return []
    indices = [device.get("index") for device in gpu.get("devices") or []]
    return [i for i in indices if isinstance(i, int) and not isinstance(i, bool)]


def _probe_nvenc(
    options: ProbeOptions, gpu_future: Future[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    from wanprov.facts import nvenc

    ffmpeg = nvenc.probe_ffmpeg()  # the encodes report its version; --no-nvenc keeps it at None
    if not options.nvenc:
        return ffmpeg, {"status": "skipped", "reason": "--no-nvenc", "tool": None, "encoders": {}}
    gpus = _gpu_indices(gpu_future.result())  # NVML answers in milliseconds: the encodes wait for it
    if ffmpeg["status"] == "ok":
        return ffmpeg, nvenc.probe(ffmpeg, gpus=gpus)
    # No binary: PyAV in the target interpreter, a separate process beside the torch probe (see
    # docs/doctor.md: concurrent, and a crashing NVENC driver cannot take the torch facts with it).
    python, _why = target_python(options)
    facts = nvenc.probe_pyav(python, gpus=gpus)
    if facts["status"] == "absent":
        no_binary = f"no ffmpeg binary ({ffmpeg.get('reason')})"
        reason = f"nothing to test with: {no_binary} and {facts['reason']}"
        facts = {**facts, "status": "unknown", "reason": reason}
    return ffmpeg, facts


def models_dir_of(options: ProbeOptions) -> str:
    if options.models_dir:
        return options.models_dir
    if options.comfyui_dir:
        return f"{options.comfyui_dir.rstrip('/')}/models"
    return "."


def collect(options: ProbeOptions | None = None) -> dict[str, Any]:
    """Probe everything (concurrently: nvidia-smi, the torch subprocess and ffmpeg are independent)."""
    from wanprov import __version__
    from wanprov.facts import comfyui, driver, host

    options = options or ProbeOptions()
    with ThreadPoolExecutor(max_workers=8) as pool:
        torch_future = pool.submit(_guard, "torch", _probe_torch, options)
        gpu_future = pool.submit(_guard, "gpu", probe_gpu)
        nvenc_future = pool.submit(_probe_nvenc, options, gpu_future)
        facts: dict[str, Any] = {
            "schema": SCHEMA,
            "collected_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "wanprov_version": __version__,
            "hostname": host.hostname(),
            "driver": _guard("driver", driver.probe, options.proc_driver_version),
            "memory": _guard("memory", host.probe_memory),
            "disk": _guard("disk", host.probe_disk, models_dir_of(options)),
            "comfyui": _guard("comfyui", comfyui.probe, options.comfyui_dir),
        }
        try:
            facts["ffmpeg"], facts["nvenc"] = nvenc_future.result()
        except Exception as exc:
            facts["ffmpeg"] = {"status": "unknown", "reason": f"ffmpeg probe error: {exc}"}
            facts["nvenc"] = {"status": "unknown", "reason": f"nvenc probe error: {exc}", "encoders": {}}
        facts["gpu"] = gpu_future.result()
        facts["torch"] = torch_future.result()
    return facts
