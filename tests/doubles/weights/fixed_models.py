"""The fixed-configuration models, written at full size from shape tables recorded from the real modules
(shapes/*.json, see record_shapes.py), with the dtypes of the published files:

- umt5-xxl "scaled fp8" (CLIPLoader type wan): comfy/sd.py:919-924 takes a file for T5-XXL only if
  `encoder.block.23.layer.1.DenseReluDense.wi_1.weight` has shape[-1] 4096 (anything smaller is T5-base and
  fails with a size mismatch), so the whole 24-layer d_model-4096 encoder is written (umt5_config_xxl.json).
  comfy/text_encoders/sd3_clip.py:28-30: a `scaled_fp8` tensor switches to scaled fp8 ops, its dtype the
  weights'; each block linear is F8_E4M3 with `<layer>.scale_weight` (F32 scalar, comfy/ops.py
  scaled_fp8_ops).
  sd.py:1020: the SentencePiece model travels in the file as the U8 tensor `spiece_model`.
- t5xxl fp8 (Flux's DualCLIPLoader): the same detection; plain F8_E4M3 block linears without scales, so the
  fp8 values themselves are about 1/sqrt(fan_in).
- CLIP-L (sd.py:909-910, `text_model.encoder.layers.0.mlp.fc1.weight`): comfy/sd1_clip_config.json, F16.
- Wan 2.1 VAE (sd.py:476-490: `decoder.middle.0.residual.0.gamma` without
  `decoder.upsamples.0.upsamples.0.residual.2.weight`, dim 96 z_dim 16): BF16.
- Flux's VAE ae.safetensors (sd.py:366-380, z_channels from decoder.conv_in.weight): F32.
- rife49.pth: vfi_models/rife/__init__.py:10-12 maps it to arch 4.7 and :131-132 loads it strictly into
  IFNet(arch_ver="4.7"): every key, no more. F32.
"""

from __future__ import annotations

import json
import math
import re
from functools import cache
from pathlib import Path

from .tensors import TensorSpec, const_fill, fan_in_fill, random_fill

SHAPES = Path(__file__).resolve().parent / "shapes"


@cache
def shape_table(model: str) -> dict[str, tuple[int, ...]]:
    document = json.loads((SHAPES / f"{model}.json").read_text())
    return {name: tuple(shape) for name, shape in document["tensors"].items()}


def default_fill(name: str, shape: tuple[int, ...]):
    """Values that keep a random network's activations finite and non-constant: norms and gains 1, biases
    small, weights about 1/sqrt(fan_in), embeddings about 1."""
    leaf = name.rsplit(".", 1)[-1]
    if leaf in ("gamma", "beta", "scale") or (len(shape) <= 1 and leaf == "weight"):
        return const_fill(1.0)  # RMS/Layer/Group norm gains, RIFE's beta, PReLU slopes (identity)
    if leaf == "bias" or len(shape) <= 1:
        return random_fill(0.01)
    if "embed" in name or name.endswith("shared.weight") or "relative_attention_bias" in name:
        return random_fill(0.5)
    return fan_in_fill(math.prod(shape[1:]))


def plain(model: str, dtype: str, prefix: str = "") -> list[TensorSpec]:
    return [
        TensorSpec(prefix + name, dtype, shape, default_fill(name, shape))
        for name, shape in shape_table(model).items()
    ]


def is_block_linear(name: str, shape: tuple[int, ...]) -> bool:
    return len(shape) == 2 and re.search(r"\.block\.\d+\.layer\.\d+\..*\.weight$", name) is not None


def umt5_scaled_fp8(spiece_model: bytes) -> list[TensorSpec]:
    specs = [TensorSpec("scaled_fp8", "F8_E4M3", (0,), const_fill(0.0))]
    for name, shape in shape_table("umt5xxl").items():
        if is_block_linear(name, shape):
            specs += [
                TensorSpec(name, "F8_E4M3", shape, random_fill(1.0)),  # |w| in [1, 2) ...
                TensorSpec(
                    name.removesuffix("weight") + "scale_weight",
                    "F32",
                    (),
                    const_fill(1.0 / math.sqrt(shape[1])),
                ),
            ]  # ... times 1/sqrt(fan_in)
        else:
            # 2-byte norms and embedding: the published file's size (6735906897 B) has room for no more
            specs.append(TensorSpec(name, "BF16", shape, default_fill(name, shape)))
    specs.append(TensorSpec("spiece_model", "U8", (len(spiece_model),), _raw(spiece_model)))
    return specs


def t5xxl_fp8(prefix: str = "") -> list[TensorSpec]:
    specs = []
    for name, shape in shape_table("t5xxl").items():
        if is_block_linear(name, shape):
            specs.append(TensorSpec(prefix + name, "F8_E4M3", shape, fan_in_fill(shape[1])))
        else:
            specs.append(TensorSpec(prefix + name, "F16", shape, default_fill(name, shape)))
    return specs


def _raw(data: bytes):
    from .tensors import Fill

    return Fill("raw", data=data)


def clip_l(prefix: str = "") -> list[TensorSpec]:
    return plain("clip_l", "F16", prefix)


def wan21_vae() -> list[TensorSpec]:
    return plain("wan21_vae", "BF16")


def flux_ae(prefix: str = "", dtype: str = "F32") -> list[TensorSpec]:
    return plain("flux_ae", dtype, prefix)


def rife47() -> list[TensorSpec]:
    return plain("rife47", "F32")
