"""Rewrite an existing Wan 2.2 I2V workflow (API format) by the tuning checklist, saying what changed.

Pure: takes a prompt, the profile's file names and the schemas; returns a new prompt and the change log.
The result is meant to pass `workflow check`; the command verifies that before writing.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wanprov.errors import UsageError
from wanprov.workflows.checklist import INTERPOLATORS, LORA_LOADERS, WAN_LOADERS, family
from wanprov.workflows.graph import inputs, is_link, model_chain, next_free_id, nodes_of
from wanprov.workflows.params import nearest_4n1
from wanprov.workflows.render import video_format
from wanprov.workflows.schema import ObjectInfo
from wanprov.workflows.validator import is_format_widget

_LIGHTNING = re.compile(r"lightning|lightx2v|4.?steps?", re.IGNORECASE)
MAX_PIXELS = 1280 * 720


class OptimizeError(UsageError):
    code = "cannot_optimize"


@dataclass
class Optimized:
    prompt: dict[str, Any]
    changes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Limits:
    max_length: int = 41  # the usual "30-40 frames", as 4n+1
    max_fps: int = 16  # Wan 2.2 A14B's native rate


DEFAULT_PROFILE = "wan22-i2v-a14b-q5-lightning"
# the template whose per-tier choices optimize follows (profile by VRAM tier)
TIER_TEMPLATE = "wan22-i2v-gguf-lightning"


def profile_for_tier(tier: str | None) -> str:
    """The profile render would pick for this VRAM tier (DEFAULT_PROFILE when the tier is unknown)."""
    from wanprov.workflows.params import load_defaults

    if tier is None:
        return DEFAULT_PROFILE
    return str(load_defaults()[1][TIER_TEMPLATE].tiers.get(tier, {}).get("profile", DEFAULT_PROFILE))


def optimize(
    prompt: Mapping[str, Any],
    names: Mapping[str, str],
    schemas: ObjectInfo,
    limits: Limits = Limits(),
    *,
    nvenc: bool | None = None,
) -> Optimized:
    """`nvenc`: True/False sets the VHS encoder the way render picks it; None (host unknown) keeps it."""
    if family(prompt) != "wan22-i2v" or not nodes_of(prompt, "WanImageToVideo"):
        raise OptimizeError(
            "optimize rewrites Wan 2.2 image-to-video workflows on core nodes "
            "(WanImageToVideo + KSamplerAdvanced); this one is not such a workflow",
            hint="render a tuned one instead: wanprov workflow render wan22-i2v-gguf-lightning",
        )
    out = Optimized(copy.deepcopy(dict(prompt)))
    work = out.prompt
    _drop_noop_inputs(work, schemas, out.changes)
    _drop_teacache(work, out.changes)
    experts = _experts(work)
    for role, sampler_id in experts.items():
        _fix_loader(work, sampler_id, role, names, out.changes)
        _ensure_lora(work, sampler_id, role, names, out.changes)
    _fix_samplers(work, experts, out.changes)
    _fix_size(work, limits, out.changes)
    _fix_fps(work, limits, out.changes)
    _fix_encoder(work, names, out.changes)
    if nvenc is not None:
        _fix_video(work, nvenc, schemas, out.changes)
    return out


def _set(node: dict[str, Any], node_id: str, key: str, value: Any, changes: list[str]) -> None:
    old = inputs(node).get(key, "<unset>")
    if old != value:
        node["inputs"][key] = value
        changes.append(f"node {node_id} ({node['class_type']}): {key} {old!r} -> {value!r}")


def _drop_noop_inputs(work: dict[str, Any], schemas: ObjectInfo, changes: list[str]) -> None:
    for node_id, node in work.items():
        schema = schemas.get(node.get("class_type", ""))
        if schema is None:
            continue
        for name in [n for n in inputs(node) if n not in schema.inputs]:
            if not is_format_widget(schema, inputs(node), name):
                del node["inputs"][name]
                changes.append(
                    f"node {node_id} ({node['class_type']}): removed {name!r} "
                    "(not an input of this node: ComfyUI ignored it)"
                )


def _consumers(work: dict[str, Any], node_id: str, slot: int = 0) -> list[tuple[str, str]]:
    return [
        (cid, key)
        for cid, c in work.items()
        for key, v in inputs(c).items()
        if is_link(v) and str(v[0]) == node_id and v[1] == slot
    ]


def _drop_teacache(work: dict[str, Any], changes: list[str]) -> None:
    for node_id, node in nodes_of(work, "TeaCache"):
        source = inputs(node).get("model")
        for cid, key in _consumers(work, node_id):
            work[cid]["inputs"][key] = source
        del work[node_id]
        changes.append(
            f"node {node_id} (TeaCache): removed - no Wan 2.2 model_type, and a 4-step schedule has "
            "nothing to skip"
        )


def _experts(work: dict[str, Any]) -> dict[str, str]:
    """role (high|low) -> sampler node id."""
    samplers = nodes_of(work, "KSamplerAdvanced")
    if len(samplers) != 2:
        raise OptimizeError(
            f"found {len(samplers)} KSamplerAdvanced node(s); a Wan 2.2 A14B workflow has two "
            "(high-noise then low-noise)",
            hint="render a tuned one instead: wanprov workflow render wan22-i2v-gguf-lightning",
        )
    (a_id, a), (b_id, b) = samplers
    # the low pass continues from the high pass's latent
    if is_link(inputs(b).get("latent_image")) and str(inputs(b)["latent_image"][0]) == a_id:
        return {"high": a_id, "low": b_id}
    if is_link(inputs(a).get("latent_image")) and str(inputs(a)["latent_image"][0]) == b_id:
        return {"high": b_id, "low": a_id}
    if inputs(a).get("add_noise") == "disable":
        return {"high": b_id, "low": a_id}
    return {"high": a_id, "low": b_id}


def _loader_of(work: dict[str, Any], sampler_id: str) -> tuple[str, dict[str, Any]]:
    for node_id, node in model_chain(work, sampler_id):
        if node.get("class_type") in WAN_LOADERS:
            return node_id, node
    raise OptimizeError(
        f"sampler {sampler_id} has no diffusion model loader upstream",
        hint="connect a UNETLoader/UnetLoaderGGUF to its model input",
    )


def _fix_loader(
    work: dict[str, Any], sampler_id: str, role: str, names: Mapping[str, str], changes: list[str]
) -> None:
    node_id, node = _loader_of(work, sampler_id)
    wanted = names[f"{role}_noise_unet"]
    if node["class_type"] != "UnetLoaderGGUF":
        old = f"{node['class_type']} {inputs(node).get('unet_name')!r}"
        node["class_type"] = "UnetLoaderGGUF"
        node["inputs"] = {"unet_name": wanted}
        changes.append(
            f"node {node_id}: {old} -> UnetLoaderGGUF {wanted!r} ({role}-noise expert, GGUF quant)"
        )
    else:
        _set(node, node_id, "unet_name", wanted, changes)


def _ensure_lora(
    work: dict[str, Any], sampler_id: str, role: str, names: Mapping[str, str], changes: list[str]
) -> None:
    wanted = names[f"{role}_noise_lora"]
    chain = model_chain(work, sampler_id)
    for node_id, node in chain:
        if node.get("class_type") in LORA_LOADERS and _LIGHTNING.search(
            str(inputs(node).get("lora_name", ""))
        ):
            _set(node, node_id, "lora_name", wanted, changes)
            _set(node, node_id, "strength_model", 1.0, changes)
            return
    loader_id, _ = _loader_of(work, sampler_id)
    new_id = str(next_free_id(work))
    consumers = _consumers(work, loader_id)
    work[new_id] = {
        "class_type": "LoraLoaderModelOnly",
        "_meta": {"title": f"Lightning LoRA {role.upper()}"},
        "inputs": {"model": [loader_id, 0], "lora_name": wanted, "strength_model": 1.0},
    }
    for cid, key in consumers:
        work[cid]["inputs"][key] = [new_id, 0]
    changes.append(f"node {new_id}: inserted LoraLoaderModelOnly {wanted!r} at 1.0 after loader {loader_id}")


def _fix_samplers(work: dict[str, Any], experts: Mapping[str, str], changes: list[str]) -> None:
    high, low = work[experts["high"]], work[experts["low"]]
    wanted_high = {
        "add_noise": "enable",
        "steps": 4,
        "cfg": 1.0,
        "sampler_name": "euler",
        "scheduler": "simple",
        "start_at_step": 0,
        "end_at_step": 2,
        "return_with_leftover_noise": "enable",
    }
    wanted_low = {
        **wanted_high,
        "add_noise": "disable",
        "start_at_step": 2,
        "end_at_step": 10000,
        "return_with_leftover_noise": "disable",
    }
    for key, value in wanted_high.items():
        _set(high, experts["high"], key, value, changes)
    end = inputs(low).get("end_at_step")
    if isinstance(end, int) and not isinstance(end, bool) and end >= wanted_low["steps"]:
        wanted_low["end_at_step"] = end  # "to the end": the UI template's 4 means the same as 10000
    for key, value in wanted_low.items():
        _set(low, experts["low"], key, value, changes)
    _set(low, experts["low"], "latent_image", [experts["high"], 0], changes)


def _fix_size(work: dict[str, Any], limits: Limits, changes: list[str]) -> None:
    for node_id, node in nodes_of(work, "WanImageToVideo"):
        i = inputs(node)
        width, height, length = i.get("width"), i.get("height"), i.get("length")
        if isinstance(width, int) and isinstance(height, int):
            if width * height > MAX_PIXELS:
                scale = (MAX_PIXELS / (width * height)) ** 0.5
                width, height = int(width * scale), int(height * scale)
            _set(node, node_id, "width", max(16, width // 16 * 16), changes)
            _set(node, node_id, "height", max(16, height // 16 * 16), changes)
        if isinstance(length, int):
            _set(node, node_id, "length", min(nearest_4n1(length), limits.max_length), changes)


def _fix_fps(work: dict[str, Any], limits: Limits, changes: list[str]) -> None:
    factor = 1
    for _, node in nodes_of(work, *INTERPOLATORS):
        value = inputs(node).get("multiplier")
        factor *= value if isinstance(value, int) and value > 0 else 1
    for node_id, node in nodes_of(work, "VHS_VideoCombine", "CreateVideo", "SaveAnimatedWEBP"):
        key = "frame_rate" if "frame_rate" in inputs(node) else "fps"
        rate = inputs(node).get(key)
        if isinstance(rate, (int, float)) and rate / factor > limits.max_fps:
            _set(node, node_id, key, type(rate)(limits.max_fps * factor), changes)


def _fix_encoder(work: dict[str, Any], names: Mapping[str, str], changes: list[str]) -> None:
    wanted = names["text_encoder"]
    cls = "CLIPLoaderGGUF" if wanted.endswith(".gguf") else "CLIPLoader"
    for node_id, node in nodes_of(work, "CLIPLoader", "CLIPLoaderGGUF"):
        if node["class_type"] != cls:
            changes.append(f"node {node_id}: {node['class_type']} -> {cls}")
            node["class_type"] = cls
            node["inputs"].pop("device", None)
        _set(node, node_id, "clip_name", wanted, changes)
        _set(node, node_id, "type", "wan", changes)
    for node_id, node in nodes_of(work, "VAELoader"):
        _set(node, node_id, "vae_name", names["vae"], changes)


def _format_widgets(schemas: ObjectInfo, fmt: Any) -> set[str]:
    schema = schemas.get("VHS_VideoCombine")
    spec = schema.input("format") if schema else None
    formats = spec.meta.get("formats") if spec is not None else None
    chosen = formats.get(fmt) if isinstance(formats, Mapping) else None
    return {w[0] for w in chosen or [] if isinstance(w, list) and w}


def _fix_video(work: dict[str, Any], nvenc: bool, schemas: ObjectInfo, changes: list[str]) -> None:
    """NVENC only where it works: nvenc_* -> software h264 on a host without it; software h264 -> nvenc
    h264 where it works. Other formats (webm, gif, ProRes ...) are the user's choice and stay."""
    wanted = video_format(nvenc)
    for node_id, node in nodes_of(work, "VHS_VideoCombine"):
        current = inputs(node).get("format")
        if not isinstance(current, str) or current == wanted["format"]:
            continue
        if not ("nvenc" in current if not nvenc else current == video_format(False)["format"]):
            continue
        stale = _format_widgets(schemas, current) - _format_widgets(schemas, wanted["format"])
        for name in sorted(stale & set(inputs(node))):
            del node["inputs"][name]
        _set(node, node_id, "format", wanted["format"], changes)
        for name, value in wanted["widgets"].items():
            node["inputs"].setdefault(name, value)
        if stale:
            changes.append(
                f"node {node_id} (VHS_VideoCombine): dropped {', '.join(sorted(stale))} of {current}"
            )
