"""Render a workflow template (Jinja2 -> ComfyUI API-format JSON) for a profile and a host.

Every render is validated against the node schemas before it is returned: a template that does not
validate is a bug, and the caller gets the findings instead of a file ComfyUI would half-accept.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wanprov.datafiles import read_yaml
from wanprov.errors import ManifestError, WanprovError
from wanprov.resources import manifest_path, template_path
from wanprov.workflows.names import names_for_profile
from wanprov.workflows.params import TemplateInfo, WorkflowParamError, load_defaults, resolve
from wanprov.workflows.schema import ObjectInfo, load_object_info
from wanprov.workflows.validator import ValidationResult, validate_prompt


class TemplateError(WanprovError):
    """A shipped template rendered into something invalid (a wanprov bug, not the user's)."""

    code = "bad_template"


@dataclass
class Rendered:
    name: str
    prompt: dict[str, Any]
    params: dict[str, Any]
    profile: str
    validation: ValidationResult
    notes: list[str] = field(default_factory=list)


def list_templates() -> list[TemplateInfo]:
    _, templates = load_defaults()
    return [templates[name] for name in sorted(templates)]


def video_format(nvenc: bool) -> dict[str, Any]:
    """The VHS format (and its per-format widgets): nvenc only when the host's NVENC really encodes."""
    data = read_yaml(manifest_path("workflows", "defaults.yaml"), what="workflow manifest")
    return dict(data["video_formats"]["nvenc" if nvenc else "software"])


def render(
    name: str,
    *,
    preset: str | None = None,
    profile: str | None = None,
    tier: str | None = None,
    nvenc: bool | None = None,
    overrides: Mapping[str, Any] | None = None,
    schemas: ObjectInfo | None = None,
    names: Mapping[str, str] | None = None,
) -> Rendered:
    """Render template `name`. `names` (role -> file) replaces the catalog lookup when given."""
    presets, templates = load_defaults()
    if name not in templates:
        raise WorkflowParamError(
            f"unknown workflow template {name!r}",
            hint=f"one of: {', '.join(sorted(templates))} (see `wanprov workflow list`)",
        )
    info = templates[name]
    overrides = dict(overrides or {})
    if profile is not None:
        overrides["profile"] = profile
    if nvenc is not None:
        overrides.setdefault("nvenc", nvenc)
    params = resolve(info, presets, tier=tier, preset=preset, overrides=overrides)
    notes: list[str] = []
    chosen_profile = params["profile"]
    files = dict(names) if names is not None else names_for_profile(chosen_profile)
    schemas = schemas or load_object_info()
    context: dict[str, Any] = {"p": params, "n": _Names(files, chosen_profile)}
    if info.family == "wan22-i2v":
        _require(
            files,
            chosen_profile,
            ("high_noise_unet", "low_noise_unet", "high_noise_lora", "low_noise_lora", "text_encoder", "vae"),
        )
        context["encoder_class"] = (
            "CLIPLoaderGGUF" if files["text_encoder"].endswith(".gguf") else "CLIPLoader"
        )
        context["video"] = video_format(bool(params.get("nvenc", False)))
        notes.append(
            f"video format {context['video']['format']}"
            + (
                " (NVENC works on this host)"
                if params.get("nvenc")
                else " (software x264; pass --nvenc if NVENC works on this host)"
            )
        )
        if params.get("rife"):
            # RIFE VFI downloads a missing checkpoint at first use: the profile must provision it
            _require(files, chosen_profile, ("rife",))
            notes.append(
                f"RIFE x2: generated at {params['fps']} fps, delivered at {params['fps'] * 2} fps "
                f"({files['rife']}, placed by `wanprov fetch-models --profile {chosen_profile}`)"
            )
    else:
        context["src"] = _flux_sources(files, chosen_profile)
        if params.get("teacache"):
            _require_teacache_type(schemas, "flux")
    try:
        text = _environment().get_template(f"{name}.json.j2").render(**context)
        prompt = json.loads(text)
    except Exception as exc:  # jinja2 and json errors alike: the shipped template is broken
        raise TemplateError(
            f"template {name} did not render to JSON: {exc}", hint="report this as a wanprov bug"
        ) from exc
    validation = validate_prompt(prompt, schemas)
    if not validation.ok:
        details = "; ".join(f"{i.where()}: {i.message}" for i in validation.errors[:5])
        if overrides and all(i.kind in _VALUE_ERRORS for i in validation.errors):
            # a value the user set (--set seed=-1, a huge width) is outside what the node accepts: usage
            raise WorkflowParamError(
                f"the values set are outside what the nodes accept: {details}",
                hint="use values within the ranges the node schema gives",
            )
        raise TemplateError(
            f"template {name} does not validate against {schemas.source}: {details}",
            hint="the node schema differs from the pinned one; render against the pinned "
            "stack or report the mismatch",
        )
    return Rendered(name, prompt, params, chosen_profile, validation, notes)


_VALUE_ERRORS = frozenset(
    {"value_smaller_than_min", "value_bigger_than_max", "value_not_in_list", "invalid_input_type"}
)


class _Names(dict):
    """Role -> file name; a role the profile lacks renders as None (the template decides if that is ok)."""

    def __init__(self, files: Mapping[str, str], profile: str) -> None:
        super().__init__(files)
        self.profile = profile

    def __getattr__(self, role: str) -> str | None:
        return self.get(role)


def _require(files: Mapping[str, str], profile: str, roles: tuple[str, ...]) -> None:
    missing = [r for r in roles if r not in files]
    if missing:
        raise ManifestError(
            f"profile {profile!r} has no {', '.join(missing)} file for this template",
            hint="pick a Wan 2.2 I2V profile (wanprov models list) or add the roles to it",
        )


def _flux_sources(files: Mapping[str, str], profile: str) -> dict[str, Any]:
    """Which loader provides MODEL, CLIP and VAE for a flux profile's files."""
    unet = files.get("unet") or files.get("diffusion_model")
    checkpoint = files.get("checkpoint")
    src: dict[str, Any] = {
        "model_loader": None,
        "model_file": unet,
        "weight_dtype": "default",
        "clip_loader": None,
    }
    if unet:
        src["model_loader"] = "UnetLoaderGGUF" if unet.endswith(".gguf") else "UNETLoader"
        src["model"] = ["1", 0]
    elif checkpoint:
        src["model"] = ["4", 0]
    else:
        raise ManifestError(
            f"profile {profile!r} has no diffusion model for flux1-schnell",
            hint="use a flux profile (flux1-schnell, flux1-schnell-gguf, ...)",
        )
    if files.get("clip_l") and files.get("t5"):
        src["clip_loader"] = "DualCLIPLoaderGGUF" if files["t5"].endswith(".gguf") else "DualCLIPLoader"
        src["clip"] = ["2", 0]
    elif checkpoint:
        src["clip"] = ["4", 1]
    else:
        raise ManifestError(f"profile {profile!r} has no text encoders", hint="add clip_l and t5 roles")
    if files.get("vae"):
        src["vae"] = ["3", 0]
    elif checkpoint:
        src["vae"] = ["4", 2]
    else:
        raise ManifestError(f"profile {profile!r} has no VAE", hint="add a vae (or checkpoint) role")
    return src


def _require_teacache_type(schemas: ObjectInfo, model_type: str) -> None:
    node = schemas.get("TeaCache")
    spec = node.input("model_type") if node else None
    if spec is None or model_type not in (spec.options or ()):
        raise WorkflowParamError(
            f"TeaCache has no model_type {model_type!r} in {schemas.source}",
            hint="install welltop-cn/ComfyUI-TeaCache, or render with --set teacache=false",
        )


def _environment() -> Any:
    import jinja2  # deferred: only rendering needs it

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_path("workflows"))),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # JSON, not HTML; every string goes through |tojson
        keep_trailing_newline=True,
    )
