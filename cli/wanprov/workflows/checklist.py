"""The Wan 2.2 tuning checklist, item by item, judged on what the nodes really do (pure).

Each item says pass / fail / warn / n/a and why. Where a common tip is a no-op in the real node
(load_device on UnetLoaderGGUF, attention_mode on WanImageToVideo, max_skip_steps on TeaCache), the item
fails if the workflow relies on it and explains what does work instead.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from wanprov.workflows.graph import Prompt, inputs, is_link, nodes_of
from wanprov.workflows.schema import ObjectInfo

PASS, FAIL, WARN, NA = "pass", "fail", "warn", "n/a"

WAN_LOADERS = ("UnetLoaderGGUF", "UnetLoaderGGUFAdvanced", "UNETLoader", "WanVideoModelLoader")
LORA_LOADERS = ("LoraLoaderModelOnly", "LoraLoader", "WanVideoLoraSelect")
VIDEO_OUT = ("VHS_VideoCombine", "CreateVideo", "SaveAnimatedWEBP", "SaveWEBM")
INTERPOLATORS = ("RIFE VFI", "FILM VFI", "GMFSS Fortuna VFI", "IFRNet VFI", "IFUnet VFI", "AMT VFI")
_LIGHTNING = re.compile(r"lightning|lightx2v|4.?steps?", re.IGNORECASE)
LAUNCH_FLAG_HINT = "in core ComfyUI, VRAM behaviour is a launch flag (--highvram / --normalvram / --lowvram)"


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    status: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def family(prompt: Prompt) -> str:
    """wan22-i2v, flux or unknown: which checklist applies."""
    classes = {n.get("class_type") for n in prompt.values() if isinstance(n, dict)}
    if classes & {"WanImageToVideo", "WanVideoSampler", "WanVideoModelLoader", "WanVideoImageClipEncode"}:
        return "wan22-i2v"
    for _, node in nodes_of(prompt, "DualCLIPLoader", "DualCLIPLoaderGGUF"):
        if inputs(node).get("type") == "flux":
            return "flux"
    return "unknown"


def run_checklist(prompt: Prompt, schemas: ObjectInfo) -> list[Item]:
    kind = family(prompt)
    if kind == "wan22-i2v":
        return [
            _load_device(prompt),
            _gguf_loader(prompt),
            _lightning_pair(prompt),
            _four_step_split(prompt),
            _resolution(prompt),
            _fps(prompt),
            _length(prompt),
            _attention(prompt, schemas),
            _interpolation(prompt),
            _teacache_wan(prompt),
            _encoder(prompt),
            _video_encoder(prompt),
        ]
    if kind == "flux":
        return [_flux_steps(prompt), _teacache_flux(prompt, schemas)]
    return [
        Item(
            "family",
            "Workflow family",
            NA,
            "neither a Wan 2.2 I2V nor a Flux workflow; only the node schema checks apply",
        )
    ]


def _load_device(prompt: Prompt) -> Item:
    title = 'load_device "main_device" on the model loaders'
    fake = [i for i, n in nodes_of(prompt, "UnetLoaderGGUF", "UNETLoader") if "load_device" in inputs(n)]
    if fake:
        return Item(
            "load_device",
            title,
            FAIL,
            f"node(s) {', '.join(fake)} set load_device, which "
            f"UnetLoaderGGUF/UNETLoader do not have: ComfyUI drops it silently; {LAUNCH_FLAG_HINT}",
        )
    real = [inputs(n).get("load_device") for _, n in nodes_of(prompt, "WanVideoModelLoader")]
    if real:
        return Item(
            "load_device",
            title,
            PASS,
            f"WanVideoModelLoader load_device={', '.join(map(str, real))} (a real input on the wrapper)",
        )
    return Item(
        "load_device",
        title,
        PASS,
        f"not set, correctly: the core loaders have no such input; "
        f"{LAUNCH_FLAG_HINT} (wanprov doctor prints the flags for this GPU)",
    )


def _gguf_loader(prompt: Prompt) -> Item:
    title = "GGUF quantised experts (UnetLoaderGGUF)"
    loaders = nodes_of(prompt, *WAN_LOADERS)
    if not loaders:
        return Item("gguf_loader", title, FAIL, "no diffusion model loader found")
    plain = [i for i, n in loaders if n["class_type"] == "UNETLoader"]
    if plain:
        names = [str(inputs(prompt[i]).get("unet_name")) for i in plain]
        return Item(
            "gguf_loader",
            title,
            FAIL,
            f"node(s) {', '.join(plain)} load full-size weights "
            f"({', '.join(names)}) with UNETLoader; `wanprov workflow optimize` swaps in UnetLoaderGGUF "
            "with the profile's quant",
        )
    gguf = [str(inputs(n).get("unet_name") or inputs(n).get("model")) for _, n in loaders]
    return Item("gguf_loader", title, PASS, f"{len(loaders)} expert loader(s): {', '.join(gguf)}")


def _lora_nodes(prompt: Prompt) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for node_id, node in nodes_of(prompt, *LORA_LOADERS):
        name = str(inputs(node).get("lora_name") or inputs(node).get("lora") or "")
        if _LIGHTNING.search(name):
            out.append((node_id, node))
    return out


def _lightning_pair(prompt: Prompt) -> Item:
    title = "Lightning LoRA pair (HIGH + LOW) at strength 1.0"
    loras = _lora_nodes(prompt)
    names = [str(inputs(n).get("lora_name") or inputs(n).get("lora")) for _, n in loras]
    has_high = any(re.search("high", n, re.IGNORECASE) for n in names)
    has_low = any(re.search("low", n, re.IGNORECASE) for n in names)
    if not (has_high and has_low):
        return Item(
            "lightning_pair",
            title,
            FAIL,
            "found "
            + (", ".join(names) or "no Lightning LoRA")
            + "; Wan 2.2 A14B needs the HIGH LoRA on the high-noise expert and the LOW one on the low",
        )
    strengths = [inputs(n).get("strength_model", inputs(n).get("strength")) for _, n in loras]
    if any(s != 1.0 for s in strengths):
        return Item(
            "lightning_pair", title, WARN, f"strengths {strengths}; the 4-step LoRAs are trained for 1.0"
        )
    return Item("lightning_pair", title, PASS, ", ".join(names))


def _four_step_split(prompt: Prompt) -> Item:
    title = "4 steps split between the experts (high 0->2 with noise, low 2->end without), cfg 1.0"
    samplers = nodes_of(prompt, "KSamplerAdvanced")
    if not samplers:
        wrapped = nodes_of(prompt, "WanVideoSampler")
        if wrapped:
            steps = [inputs(n).get("steps") for _, n in wrapped]
            cfgs = [inputs(n).get("cfg") for _, n in wrapped]
            ok = max((s for s in steps if isinstance(s, int)), default=99) <= 4 and all(
                c == 1.0 for c in cfgs
            )
            return Item(
                "four_step_split", title, PASS if ok else FAIL, f"WanVideoSampler steps {steps}, cfg {cfgs}"
            )
        plain = nodes_of(prompt, "KSampler")
        steps = [inputs(n).get("steps") for _, n in plain]
        return Item(
            "four_step_split",
            title,
            FAIL,
            f"no KSamplerAdvanced pair (KSampler steps {steps}); Wan 2.2 "
            "A14B needs a high-noise pass then a low-noise pass",
        )
    high = [(i, inputs(n)) for i, n in samplers if inputs(n).get("add_noise") == "enable"]
    low = [(i, inputs(n)) for i, n in samplers if inputs(n).get("add_noise") == "disable"]
    if len(high) != 1 or len(low) != 1:
        return Item(
            "four_step_split",
            title,
            FAIL,
            f"expected one sampler adding noise and one not; found {len(high)} and {len(low)}",
        )
    (hid, h), (lid, lo) = high[0], low[0]
    problems = []
    steps = h.get("steps")
    if steps != 4 or lo.get("steps") != 4:
        problems.append(f"steps {steps}/{lo.get('steps')} (Lightning is 4)")
    split = steps // 2 if isinstance(steps, int) else None
    if h.get("start_at_step") != 0 or h.get("end_at_step") != split:
        problems.append(f"high runs {h.get('start_at_step')}->{h.get('end_at_step')} (want 0->{split})")
    if lo.get("start_at_step") != split or (lo.get("end_at_step") or 0) < (steps or 0):
        problems.append(f"low runs {lo.get('start_at_step')}->{lo.get('end_at_step')} (want {split}->10000)")
    if h.get("return_with_leftover_noise") != "enable":
        problems.append("high pass does not return leftover noise")
    if h.get("cfg") != 1.0 or lo.get("cfg") != 1.0:
        problems.append(f"cfg {h.get('cfg')}/{lo.get('cfg')} (Lightning wants 1.0; >1 doubles the work)")
    if not (is_link(lo.get("latent_image")) and str(lo["latent_image"][0]) == hid):
        problems.append(f"low pass (node {lid}) does not continue from the high pass (node {hid})")
    if problems:
        return Item("four_step_split", title, FAIL, "; ".join(problems))
    return Item(
        "four_step_split", title, PASS, f"node {hid} 0->{split} with noise, node {lid} {split}->end, cfg 1.0"
    )


def _wan_size(prompt: Prompt) -> tuple[Any, Any, Any] | None:
    for _, node in nodes_of(prompt, "WanImageToVideo"):
        i = inputs(node)
        return i.get("width"), i.get("height"), i.get("length")
    for _, node in nodes_of(prompt, "WanVideoImageClipEncode"):
        i = inputs(node)
        return i.get("generation_width"), i.get("generation_height"), i.get("num_frames")
    return None


def _resolution(prompt: Prompt) -> Item:
    title = "Resolution 480p (848x480) or 720p (1280x720)"
    size = _wan_size(prompt)
    if size is None or not all(isinstance(v, int) for v in size[:2]):
        return Item("resolution", title, NA, "no literal width/height on the image-to-video node")
    width, height = size[0], size[1]
    if width % 16 or height % 16:
        return Item("resolution", title, FAIL, f"{width}x{height}: Wan needs multiples of 16")
    if width * height > 1280 * 720:
        return Item(
            "resolution",
            title,
            FAIL,
            f"{width}x{height} is above 720p: generation time grows with "
            "pixels x frames; render at 720p or 480p",
        )
    return Item("resolution", title, PASS, f"{width}x{height}")


def _interp_multiplier(prompt: Prompt) -> int:
    factor = 1
    for _, node in nodes_of(prompt, *INTERPOLATORS):
        value = inputs(node).get("multiplier")
        factor *= value if isinstance(value, int) and value > 0 else 1
    return factor


def _fps(prompt: Prompt) -> Item:
    title = "Generated at 12-16 fps (RIFE x2 may deliver 24-32)"
    outs = nodes_of(prompt, *VIDEO_OUT)
    rates = [inputs(n).get("frame_rate", inputs(n).get("fps")) for _, n in outs]
    rates = [r for r in rates if isinstance(r, (int, float))]
    if not rates:
        return Item("fps", title, NA, "no literal frame rate on a video output node")
    factor = _interp_multiplier(prompt)
    generated = max(rates) / factor
    if generated > 16:
        return Item(
            "fps",
            title,
            FAIL,
            f"output {max(rates):g} fps = {generated:g} generated fps x{factor}; "
            "Wan 2.2 A14B generates at 16 fps natively: higher rates only make clips shorter, "
            "or use RIFE x2 from 12-16",
        )
    return Item(
        "fps",
        title,
        PASS,
        f"output {max(rates):g} fps" + (f" (generated {generated:g}, RIFE x{factor})" if factor > 1 else ""),
    )


def _length(prompt: Prompt) -> Item:
    title = "Length 4n+1 frames, 33-41 for speed (the usual 30-40)"
    size = _wan_size(prompt)
    length = size[2] if size else None
    if not isinstance(length, int):
        return Item("length", title, NA, "no literal length on the image-to-video node")
    if (length - 1) % 4:
        low = (length - 1) // 4 * 4 + 1
        return Item(
            "length",
            title,
            FAIL,
            f"{length} is not 4n+1: Wan rounds it down to {low} frames; use {low} or {low + 4}",
        )
    if length > 41:
        return Item(
            "length", title, WARN, f"{length} frames: slower than the usual 30-40 (fine on 48 GB+ GPUs)"
        )
    return Item("length", title, PASS, f"{length} frames")


def _attention(prompt: Prompt, schemas: ObjectInfo) -> Item:
    title = 'Attention "sdpa"'
    fake = []
    for node_id, node in prompt.items():
        schema = schemas.get(node.get("class_type", "")) if isinstance(node, dict) else None
        if schema and "attention_mode" in inputs(node) and schema.input("attention_mode") is None:
            fake.append(f"{node_id} ({node['class_type']})")
    if fake:
        return Item(
            "attention",
            title,
            FAIL,
            f"attention_mode on {', '.join(fake)} does nothing (no such input); "
            "core ComfyUI uses SDPA by default on NVIDIA, --use-pytorch-cross-attention forces it",
        )
    modes = [inputs(n).get("attention_mode") for _, n in nodes_of(prompt, "WanVideoModelLoader")]
    if modes:
        status = PASS if all(m in (None, "sdpa") for m in modes) else WARN
        return Item("attention", title, status, f"WanVideoModelLoader attention_mode {modes}")
    return Item(
        "attention",
        title,
        PASS,
        "core nodes: SDPA is ComfyUI's default on NVIDIA (a launch flag, "
        "--use-pytorch-cross-attention, not a node input)",
    )


def _interpolation(prompt: Prompt) -> Item:
    title = "Frame interpolation off, or x2 at most"
    factor = _interp_multiplier(prompt)
    if factor <= 1:
        return Item("interpolation", title, PASS, "off")
    if factor > 2:
        return Item(
            "interpolation",
            title,
            WARN,
            f"x{factor}: each extra multiple adds minutes; x2 from 12 fps gives 24",
        )
    return Item("interpolation", title, PASS, "RIFE x2 (pre-place its checkpoint: it downloads at first use)")


def _teacache_wan(prompt: Prompt) -> Item:
    title = "TeaCache (optional)"
    nodes = nodes_of(prompt, "TeaCache")
    if not nodes:
        return Item(
            "teacache",
            title,
            PASS,
            "omitted, correctly: TeaCache has no Wan 2.2 model_type (Wan 2.1 and "
            "Flux only), and a 4-step Lightning schedule leaves nothing to skip",
        )
    details = []
    for node_id, node in nodes:
        if "max_skip_steps" in inputs(node):
            details.append(f"node {node_id}: max_skip_steps is not a TeaCache input (dropped silently)")
        details.append(f"node {node_id}: model_type {inputs(node).get('model_type')!r} is not Wan 2.2")
    return Item("teacache", title, FAIL, "; ".join(details) + "; remove TeaCache from Wan 2.2 + Lightning")


def _encoder(prompt: Prompt) -> Item:
    title = "Text encoder (umt5-xxl, type wan)"
    nodes = nodes_of(prompt, "CLIPLoader", "CLIPLoaderGGUF", "LoadWanVideoT5TextEncoder")
    if not nodes:
        return Item("encoder", title, FAIL, "no umt5 text encoder loader found")
    node_id, node = nodes[0]
    i = inputs(node)
    name = str(i.get("clip_name") or i.get("model_name"))
    if node["class_type"] != "LoadWanVideoT5TextEncoder" and i.get("type") != "wan":
        return Item("encoder", title, FAIL, f"node {node_id} type {i.get('type')!r}: Wan needs type 'wan'")
    if "umt5" not in name.lower():
        return Item("encoder", title, WARN, f"{name} does not look like umt5-xxl")
    if i.get("device") == "cpu":
        return Item("encoder", title, WARN, f"{name} runs on the CPU (device=cpu): slow prompts, saves VRAM")
    return Item("encoder", title, PASS, f"{node['class_type']} {name}")


def _video_encoder(prompt: Prompt) -> Item:
    title = "Video encoder (NVENC only where it works)"
    formats = [str(inputs(n).get("format")) for _, n in nodes_of(prompt, "VHS_VideoCombine")]
    if not formats:
        return Item("video_encoder", title, NA, "no VHS_VideoCombine node")
    nvenc = [f for f in formats if "nvenc" in f]
    if nvenc:
        return Item(
            "video_encoder",
            title,
            WARN,
            f"{', '.join(nvenc)}: VHS lists nvenc formats even without "
            "hardware, and H100/A100 have no NVENC; keep it only if `wanprov doctor` shows NVENC works",
        )
    return Item("video_encoder", title, PASS, f"{', '.join(formats)} (software; works everywhere)")


def _flux_steps(prompt: Prompt) -> Item:
    title = "FLUX.1 schnell: 4 steps, cfg 1.0"
    samplers = [inputs(n) for _, n in nodes_of(prompt, "KSampler", "KSamplerAdvanced")]
    if not samplers:
        return Item("flux_steps", title, FAIL, "no sampler")
    steps = [s.get("steps") for s in samplers]
    ok = all(isinstance(s, int) and s <= 4 for s in steps)
    return Item("flux_steps", title, PASS if ok else FAIL, f"steps {steps}")


def _teacache_flux(prompt: Prompt, schemas: ObjectInfo) -> Item:
    title = "TeaCache (optional, model_type flux)"
    nodes = nodes_of(prompt, "TeaCache")
    if not nodes:
        return Item("teacache", title, NA, "not used")
    bad = [f"{i}: {inputs(n).get('model_type')!r}" for i, n in nodes if inputs(n).get("model_type") != "flux"]
    noop = [i for i, n in nodes if "max_skip_steps" in inputs(n)]
    if bad or noop:
        return Item(
            "teacache",
            title,
            FAIL,
            "; ".join(
                [*(f"model_type {b}" for b in bad), *(f"node {i}: max_skip_steps does nothing" for i in noop)]
            ),
        )
    return Item("teacache", title, PASS, "model_type flux")
