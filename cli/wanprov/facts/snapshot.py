"""Save and load a facts snapshot (JSON, `"schema": "wanprov.facts/1"`), so a host can be judged elsewhere."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from wanprov.datafiles import write_json_output
from wanprov.errors import ManifestError
from wanprov.strict import loads_json

SCHEMA = "wanprov.facts/1"
SECTIONS = ("gpu", "driver", "torch", "ffmpeg", "nvenc", "memory", "disk", "comfyui")


class FactsFileError(ManifestError):
    """A --facts file that is missing, not JSON, or not a wanprov.facts/1 document (exit 10)."""

    code = "bad_facts"


def save(facts: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write atomically (never a half-written file), keys sorted so snapshots diff cleanly."""
    write_json_output(Path(path), facts, what="facts", sort_keys=True)


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise FactsFileError(
            f"cannot read facts file {source}: {exc.strerror}",
            hint="give a file written by `wanprov doctor --save-facts`",
        ) from exc
    try:
        facts = loads_json(text)
    except RecursionError as exc:
        raise FactsFileError(f"facts file {source} is nested too deeply", hint=_HINT) from exc
    except ValueError as exc:
        raise FactsFileError(
            f"facts file {source} is not JSON: {exc}",
            hint="give a file written by `wanprov doctor --save-facts`",
        ) from exc
    validate(facts, str(source))
    return facts


def validate(facts: Any, where: str) -> None:
    if not isinstance(facts, dict):
        raise FactsFileError(
            f"facts file {where} holds a {type(facts).__name__}, not an object",
            hint="give a file written by `wanprov doctor --save-facts`",
        )
    if facts.get("schema") != SCHEMA:
        raise FactsFileError(
            f"facts file {where} has schema {facts.get('schema')!r}, expected {SCHEMA!r}",
            hint="re-record the host with this wanprov version: wanprov doctor --save-facts FILE",
        )
    for section in SECTIONS:
        if not isinstance(facts.get(section), dict):
            raise FactsFileError(
                f"facts file {where}: section {section!r} is missing or not an object",
                hint="re-record the host: wanprov doctor --save-facts FILE",
            )
    for section in FIELDS:
        problem = section_problem(section, facts[section] if section in SECTIONS else facts)
        if problem:
            raise FactsFileError(f"facts file {where}: {problem}", hint=_HINT)
    for index, pack in enumerate(facts["comfyui"].get("custom_nodes") or []):
        if not isinstance(pack.get("name"), str):
            raise FactsFileError(f"facts file {where}: comfyui.custom_nodes[{index}] has no name", hint=_HINT)
    for index, entry in enumerate(facts["nvenc"].get("gpus") or []):  # absent before per-GPU encodes
        for key, kind in NVENC_GPU_FIELDS.items():
            problem = _type_problem(entry.get(key), kind)
            if problem:
                raise FactsFileError(
                    f"facts file {where}: nvenc.gpus[{index}].{key} is {_show(entry.get(key))}: {problem}",
                    hint=_HINT,
                )
    for index, device in enumerate(facts["gpu"].get("devices") or []):
        for key, kind in DEVICE_FIELDS.items():
            problem = _type_problem(device.get(key), kind)
            if problem:
                raise FactsFileError(
                    f"facts file {where}: gpu.devices[{index}].{key} is {_show(device.get(key))}: {problem}",
                    hint=_HINT,
                )


_HINT = "re-record the host: wanprov doctor --save-facts FILE"

# The fields the rules, the summary and `workflow --facts` read, by type; every one may also be null
# (a probe that could not tell). Numbers must be finite and not negative: a NaN or negative VRAM would
# otherwise pick a tier, or reach a rule's arithmetic as a wanprov bug.
FIELDS: dict[str, dict[str, str]] = {
    "top": {"collected_at": "str"},
    "gpu": {
        "status": "str",
        "driver_version": "str",
        "cuda_driver_version": "str",
        "devices": "list[dict]",
    },
    "driver": {"status": "str", "flavour": "str", "version": "str", "reason": "str"},
    "torch": {
        "status": "str",
        "version": "str",
        "cuda": "str",
        "arch_list": "list[str]",
        "cuda_available": "bool",
        "device_capability": "str",
        "kernel": "dict",
        "modules": "dict",
        "xformers_requires": "list",
    },
    "ffmpeg": {"status": "str", "path": "str", "version": "str"},
    "nvenc": {
        "status": "str",
        "tool": "str",
        "encoders": "dict[dict]",
        "reason": "str",
        "gpus": "list[dict]",  # one entry per GPU, each NVENC_GPU_FIELDS (absent in older facts)
    },
    "memory": {"status": "str", "total_bytes": "count", "available_bytes": "count"},
    "disk": {
        "status": "str",
        "path": "str",
        "free_bytes": "count",
        "total_bytes": "count",
        "verified": "dict[dict]",  # relpath -> {sha256, size}: model files there and verified
    },
    "comfyui": {
        "status": "str",
        "dir": "str",
        "custom_nodes": "list[dict]",
        "launch_flags": "list[str]",
        "version": "str",
        "commit": "str",
    },
}
DEVICE_FIELDS: dict[str, str] = {
    "index": "count",
    "name": "str",
    "compute_capability": "str",
    "vram_total_mib": "count",
    "vram_free_mib": "count",
    "mig_mode": "str",
}
NVENC_GPU_FIELDS: dict[str, str] = {
    "index": "count",
    "status": "str",
    "reason": "str",
    "encoders": "dict[dict]",
}
_TYPES: dict[str, type | tuple[type, ...]] = {"str": str, "list": list, "dict": dict, "bool": bool}


def section_problem(section: str, values: dict[str, Any]) -> str | None:
    """What is wrong with the types of one section (a probe's output or a file's), or None."""
    for key, kind in FIELDS[section].items():
        problem = _type_problem(values.get(key), kind)
        if problem:
            return f"{section}.{key} is {_show(values.get(key))}: {problem}"
    return None


def _type_problem(value: Any, kind: str) -> str | None:
    """Why `value` is not a `kind` (None when it is, or when it is null)."""
    if value is None:
        return None
    if kind == "count":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "expected a number"
        if not math.isfinite(value) or value < 0:
            return "expected a finite number >= 0"
        return None
    outer, _, inner = kind.rstrip("]").partition("[")
    if not isinstance(value, _TYPES[outer]):
        return f"expected {kind}"
    items = value.values() if isinstance(value, dict) else value
    if inner and not all(isinstance(item, _TYPES[inner]) for item in items):
        return f"expected {kind}"
    return None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
