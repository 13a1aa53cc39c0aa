"""The smoke's run of a template: the same graph, loaders, nodes and formats as the user's run, at a size a
CPU can prove in minutes (`smoke`), or at the user's own size (`full`, the seconds-per-video figure of a
GPU host).

The smoke size keeps what tells the runs apart: the tier's or preset's shape and the tier's frame count are
scaled down (manifests/workflows/defaults.yaml `smoke:`), so each preset and each tier still renders its own
width x height and length, only smaller. Widths and heights stay multiples of 16, what `workflow render`
demands of any run (Wan: the VAE's 8x and the patch's 2x; Flux: the same); RIFE pads its input to 64 itself
(Frame-Interpolation vfi_models/rife/rife_arch.py IFNet.forward), so it takes any of them.

Both shipped templates sample at cfg 1.0, where ComfyUI never evaluates the negative prompt
(comfy/samplers.py sampling_function: `uncond_ = None` when cond_scale is 1.0). Where the manifest says so
(`negative_as_positive`), the smoke gives the negative prompt the positive's text: the two CLIPTextEncode
nodes then have the same inputs and ComfyUI's cache runs the text encoder once (comfy_execution/caching.py
keys a node by its inputs, not its id). On CPU one umt5-xxl encode (every Wan prompt is padded to 512
tokens) is most of a cold smoke.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wanprov.workflows.params import WorkflowParamError, load_defaults, nearest_4n1, resolve

SIZES = ("smoke", "full")
MULTIPLE = 16  # params.check: width and height are multiples of 16
MIN_SIDE = 64
MIN_LENGTH = 5  # 4n+1 and more than one frame: RIFE has a pair to interpolate, the VAE a temporal step


def smoke_table(template: str) -> dict[str, Any]:
    """The template's `smoke:` entry of the shipped defaults manifest."""
    from wanprov.datafiles import read_yaml_mapping
    from wanprov.resources import manifest_path

    table = read_yaml_mapping(manifest_path("workflows", "defaults.yaml"), what="workflow manifest").get(
        "smoke"
    )
    if not isinstance(table, dict) or template not in table:
        known = ", ".join(sorted(table or {}))
        raise WorkflowParamError(f"no smoke parameters for template {template!r}", hint=f"one of: {known}")
    return dict(table[template])


def shrink(side: int, scale: float) -> int:
    """`side` / `scale`, rounded half up to a multiple of 16, at least 64."""
    return max(MIN_SIDE, int(side / scale / MULTIPLE + 0.5) * MULTIPLE)


def smoke_overrides(
    template: str,
    *,
    tier: str | None = None,
    preset: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    size: str = "smoke",
) -> dict[str, Any]:
    """The overrides that turn the user's run of `template` (tier < preset < `overrides`) into the smoke's.

    `smoke`: width, height and (Wan) length scaled from the resolved run, the smoke's steps, the negative
    prompt = the positive (one text encode, see above); `full`: the user's run as it is. Both write under
    the smoke's filename prefix. An explicit override (`--set`) wins over all of it."""
    if size not in SIZES:
        raise WorkflowParamError(f"unknown smoke size {size!r}", hint=f"one of: {', '.join(SIZES)}")
    presets, templates = load_defaults()
    if template not in templates:
        raise WorkflowParamError(
            f"unknown workflow template {template!r}", hint=f"one of: {', '.join(sorted(templates))}"
        )
    info = templates[template]
    table = smoke_table(template)
    user = dict(overrides or {})
    out: dict[str, Any] = {"filename_prefix": table["filename_prefix"]}
    if size == "smoke":
        run = resolve(info, presets, tier=tier, preset=preset, overrides=user)
        scale = float(table["scale"])
        out.update(width=shrink(run["width"], scale), height=shrink(run["height"], scale))
        if "length" in info.params:
            out["length"] = max(MIN_LENGTH, nearest_4n1(round(run["length"] / float(table["length_scale"]))))
        out["steps"] = int(table["steps"])
        if table.get("negative_as_positive") and "negative_prompt" in info.params:
            out["negative_prompt"] = run["prompt"]
    out.update(user)
    return out
