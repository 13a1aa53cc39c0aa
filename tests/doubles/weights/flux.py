"""FLUX.1 [schnell] at the smallest size its loaders take, in each container the catalog ships.

comfy/model_detection.py:176-195: a Flux file is known by `double_blocks.0.img_attn.norm.key_norm.scale`;
its width is fixed in the code (hidden 3072, 24 heads, context 4096, vec_in 768), only the block counts come
from the file (count_blocks of double_blocks / single_blocks), and no `guidance_in` means schnell. So one
double and one single block at full width: the table shapes/flux_1x1.json, recorded from comfy/ldm/flux.
- flux1-schnell.safetensors (UNETLoader): bare keys, BF16 like the published file.
- flux1-schnell-Q4_K_S.gguf (UnetLoaderGGUF, arch "flux", ComfyUI-GGUF loader.py:12): 2-D weights whose rows
  are multiples of 256 (QK_K) Q4_K, other 2-D F16, 1-D F32 (tools/convert.py:272-285; Flux is never
  reshaped, convert.py:287).
- flux1-schnell-fp8.safetensors (CheckpointLoaderSimple): the model under `model.diffusion_model.` with
  F8_E4M3 2-D weights, the VAE under `first_stage_model.` (supported_models.py Flux: vae_key_prefix),
  CLIP-L and T5-XXL under `text_encoders.clip_l.transformer.` / `text_encoders.t5xxl.transformer.`
  (supported_models.py:715-718, text_encoder_key_prefix).
"""

from __future__ import annotations

import math

import gguf

from .fixed_models import clip_l, default_fill, flux_ae, shape_table, t5xxl_fp8
from .gguf_file import QK_K, GGUFTensor
from .tensors import TensorSpec

Q = gguf.GGMLQuantizationType


def flux_safetensors(dtype: str = "BF16", prefix: str = "") -> list[TensorSpec]:
    """Every tensor in `dtype`; for F8_E4M3 (the fp8 checkpoint) only the 2-D weights, the rest BF16."""
    specs = []
    for name, shape in shape_table("flux_1x1").items():
        tensor_dtype = dtype
        if dtype == "F8_E4M3" and len(shape) != 2:
            tensor_dtype = "BF16"
        specs.append(TensorSpec(prefix + name, tensor_dtype, shape, default_fill(name, shape)))
    return specs


def flux_gguf_type(shape: tuple[int, ...]) -> gguf.GGMLQuantizationType:
    if len(shape) == 1 or math.prod(shape) <= 1024:
        return Q.F32
    return Q.Q4_K if shape[-1] % QK_K == 0 else Q.F16


def flux_gguf() -> list[GGUFTensor]:
    return [
        GGUFTensor(name, flux_gguf_type(shape), shape, default_fill(name, shape))
        for name, shape in shape_table("flux_1x1").items()
    ]


def flux_checkpoint() -> list[TensorSpec]:
    return [
        *flux_safetensors("F8_E4M3", "model.diffusion_model."),
        *flux_ae("first_stage_model.", "BF16"),
        *clip_l("text_encoders.clip_l.transformer."),
        *t5xxl_fp8("text_encoders.t5xxl.transformer."),
    ]
