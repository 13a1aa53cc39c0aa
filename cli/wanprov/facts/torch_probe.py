"""torch facts from the target interpreter, run as a subprocess (wanprov's own python may differ)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from wanprov.facts import process, snapshot
from wanprov.strict import loads_json

TIMEOUT_S = 90.0  # a cold `import torch` plus CUDA init can take tens of seconds on a busy host
SCRIPT = Path(__file__).with_name("torch_script.py")


def default_python(comfyui_dir: str | None) -> tuple[str, str]:
    """(python, why): the ComfyUI venv's python when one is found in --comfyui-dir, else the current one."""
    if comfyui_dir:
        for venv in (".venv", "venv"):
            candidate = Path(comfyui_dir) / venv / "bin" / "python"
            if candidate.exists():
                return str(candidate), f"the ComfyUI venv ({candidate})"
        return sys.executable, f"no venv in {comfyui_dir}; wanprov's own interpreter"
    return sys.executable, "wanprov's own interpreter (give --python or --comfyui-dir for ComfyUI's)"


def probe(python: str) -> dict[str, Any]:
    if not (Path(python).is_file() and os.access(python, os.X_OK)):
        return process.unknown(f"target interpreter {python} is not an executable file", python=python)
    return read_output(process.run([python, str(SCRIPT)], timeout=TIMEOUT_S), python)


def read_output(result: process.Result, python: str) -> dict[str, Any]:
    """The probe script's output -> the `torch` section; anything malformed is "unknown", never an error."""
    if result.returncode is None:
        return process.unknown(result.error or "did not run", python=python)
    try:
        raw = loads_json(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError, RecursionError):
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        return process.unknown(f"torch probe crashed (rc={result.returncode}): {tail[0]}", python=python)
    if not isinstance(raw, dict) or not all(
        isinstance(raw.get(key), (str, type(None))) for key in ("torch", "torch_import_error", "torch_cuda")
    ):
        return process.unknown("torch probe printed an unexpected document", python=python)
    facts = normalize(raw, python)
    problem = snapshot.section_problem("torch", facts)
    if problem:  # a probe answering in the wrong types is as good as no answer
        return process.unknown(f"torch probe answered {problem}", python=python)
    return facts


def normalize(raw: dict[str, Any], python: str) -> dict[str, Any]:
    """The script's output -> the facts' `torch` section."""
    facts: dict[str, Any] = {
        "python": python,
        "python_version": raw.get("python_version"),
        "modules": raw.get("modules") or {},
        "xformers_requires": raw.get("xformers_requires") or [],
    }
    if "torch" not in raw:
        error = raw.get("torch_import_error") or "torch is not installed"
        missing = error.startswith(("ModuleNotFoundError", "ImportError: No module"))
        return {"status": "missing" if missing else "unknown", "reason": error, **facts}
    facts.update(
        status="ok",
        reason=None,
        version=raw.get("torch"),
        cuda=raw.get("torch_cuda"),
        arch_list=raw.get("arch_list") or [],
        cuda_available=raw.get("cuda_available"),
        cuda_error=raw.get("cuda_error"),
        cuda_warnings=raw.get("cuda_warnings") or [],
        device_name=raw.get("device_name"),
        device_capability=raw.get("device_capability"),
        kernel=raw.get("kernel") or {"ok": None, "error": "not run: CUDA not available"},
        # per device index (CUDA_DEVICE_ORDER=PCI_BUS_ID, so index N is nvidia-smi's GPU N): index, name,
        # capability, uuid, pci_bus_id, kernel {ok, error}
        devices=raw.get("devices") or [],
        cuda_visible_devices=raw.get("cuda_visible_devices"),
        bf16_supported=raw.get("bf16_supported"),
    )
    return facts
