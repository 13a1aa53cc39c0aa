"""Template parameters: defaults from `manifests/workflows/defaults.yaml`, tier and preset layering, checks.

Layering (later wins): template defaults < VRAM-tier defaults < preset < explicit `--set key=value`.
Pure apart from reading the shipped YAML.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from wanprov.datafiles import read_yaml
from wanprov.errors import ManifestError, UsageError
from wanprov.resources import manifest_path

TIERS = ("none", "small", "medium", "large", "xlarge")

# key -> type of a `--set` value; anything else is refused (a typo would otherwise be a silent no-op too)
PARAM_TYPES: dict[str, type] = {
    "image": str,
    "prompt": str,
    "negative_prompt": str,
    "seed": int,
    "width": int,
    "height": int,
    "length": int,
    "fps": int,
    "steps": int,
    "shift": float,
    "rife": bool,
    "torch_compile": bool,
    "teacache": bool,
    "nvenc": bool,
    "filename_prefix": str,
    "profile": str,
    "preset": str,
}


class WorkflowParamError(UsageError):
    code = "bad_workflow_parameter"


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    description: str
    family: str
    defaults: dict[str, Any]
    tiers: dict[str, dict[str, Any]]

    @property
    def params(self) -> frozenset[str]:
        """The parameters this template takes: its defaults (the manifest lists every one) + the size."""
        return frozenset(self.defaults) | {"width", "height"}


def load_defaults(path: Path | None = None) -> tuple[dict[str, dict[str, int]], dict[str, TemplateInfo]]:
    """Return (presets, templates) from the shipped defaults manifest."""
    path = path or manifest_path("workflows", "defaults.yaml")
    try:
        data = read_yaml(path, what="workflow manifest")
        presets = {
            str(k): {"width": int(v["width"]), "height": int(v["height"])} for k, v in data["presets"].items()
        }
        templates = {
            name: TemplateInfo(
                name,
                str(t.get("description", "")),
                str(t["family"]),
                dict(t["defaults"]),
                {str(k): dict(v) for k, v in (t.get("tiers") or {}).items()},
            )
            for name, t in data["templates"].items()
        }
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ManifestError(
            f"workflow defaults {path} are invalid: {exc}",
            hint="restore manifests/workflows/defaults.yaml from the release",
        ) from exc
    return presets, templates


def parse_set(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Parse `key=value` strings into typed values."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise WorkflowParamError(f"--set {item!r} is not key=value", hint="e.g. --set length=41")
        if key not in PARAM_TYPES:
            raise WorkflowParamError(
                f"--set {key}: unknown parameter", hint=f"known parameters: {', '.join(sorted(PARAM_TYPES))}"
            )
        out[key] = coerce(key, raw)
    return out


def coerce(key: str, raw: Any) -> Any:
    kind = PARAM_TYPES[key]
    if isinstance(raw, kind) and not (kind is int and isinstance(raw, bool)):
        if isinstance(raw, float) and not math.isfinite(raw):
            raise WorkflowParamError(f"--set {key}={raw}: not a finite number", hint=f"give {key} a number")
        return raw
    text = str(raw).strip()
    try:
        if kind is bool:
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        value = kind(text)
        if kind is float and not math.isfinite(value):
            raise ValueError("not a finite number")  # NaN/inf would be written into the workflow as is
        return value
    except ValueError as exc:
        raise WorkflowParamError(
            f"--set {key}={text}: not a valid {kind.__name__} ({exc})",
            hint=f"give {key} a {kind.__name__} value",
        ) from exc


def resolve(
    template: TemplateInfo,
    presets: Mapping[str, Mapping[str, int]],
    *,
    tier: str | None = None,
    preset: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Layer the parameters and return the validated set the template renders with."""
    if tier is not None and tier not in TIERS:
        raise WorkflowParamError(f"unknown VRAM tier {tier!r}", hint=f"one of: {', '.join(TIERS)}")
    unknown = sorted(set(overrides or {}) - template.params)
    if unknown:
        # refused, not ignored: a setting that changes nothing is the silent no-op `check` reports
        raise WorkflowParamError(
            f"template {template.name} has no parameter {', '.join(unknown)}",
            hint=f"{template.name} takes: {', '.join(sorted(template.params))}",
        )
    params: dict[str, Any] = dict(template.defaults)
    if tier is not None:
        params.update(template.tiers.get(tier, {}))
    overrides = dict(overrides or {})
    if preset is not None:
        overrides.setdefault("preset", preset)
    params.update({k: v for k, v in overrides.items() if k not in ("width", "height")})
    chosen = params.get("preset")
    if chosen not in presets:
        raise WorkflowParamError(f"unknown preset {chosen!r}", hint=f"one of: {', '.join(presets)}")
    params.update(presets[chosen])
    params.update({k: v for k, v in overrides.items() if k in ("width", "height")})
    params = {k: coerce(k, v) if k in PARAM_TYPES else v for k, v in params.items()}
    check(params, template.family)
    return params


def nearest_4n1(length: int) -> int:
    """Wan's frame counts are 4n+1 (the VAE packs 4 frames per latent after the first)."""
    low = max(1, (length - 1) // 4 * 4 + 1)
    return low if length - low <= low + 4 - length else low + 4


def check(params: Mapping[str, Any], family: str) -> None:
    """Refuse values the model or nodes cannot use, saying the nearest valid value."""
    for key in ("width", "height"):
        value = params[key]
        if value <= 0 or value % 16:
            nearest = max(16, round(value / 16) * 16)
            raise WorkflowParamError(
                f"{key}={value} is not a multiple of 16",
                hint=f"use {key}={nearest} (the nearest multiple of 16)",
            )
    if params.get("steps", 1) < 1:
        raise WorkflowParamError(f"steps={params['steps']} must be at least 1", hint="use steps=4")
    if family != "wan22-i2v":
        return
    length = params["length"]
    if length < 1 or (length - 1) % 4:
        raise WorkflowParamError(
            f"length={length} frames is not 4n+1", hint=f"use length={nearest_4n1(length)} (the nearest 4n+1)"
        )
    if params["steps"] % 2:
        raise WorkflowParamError(
            f"steps={params['steps']} cannot be split evenly between the high- and low-noise experts",
            hint="use an even number, e.g. steps=4",
        )
    if not 1 <= params["fps"] <= 120:
        raise WorkflowParamError(f"fps={params['fps']} is out of range 1..120", hint="use fps=16")
