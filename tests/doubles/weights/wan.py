"""Wan 2.2 A14B experts (GGUF) and the Lightning LoRAs, at small dimensions with the real names and types.

Shape rules, from the pinned ComfyUI (a125cd84) and ComfyUI-GGUF (795e451):
- comfy/model_detection.py:377-388: `head.modulation` marks Wan and its last dim is `dim`; heads = dim // 128;
  ffn_dim = blocks.0.ffn.0.weight.shape[0]; layers = the count of `blocks.N.`; in_dim =
  patch_embedding.weight.shape[1] (36 for I2V: 16 noise + 4 mask + 16 image latent channels);
  out_dim = head.head.weight.shape[0] // 4 (patch (1, 2, 2) times 16 channels). :405-409: no
  `img_emb.proj.0.bias` -> the t2v class with in_dim 36 (Wan 2.2 I2V has no CLIP-vision input).
- comfy/ldm/wan/model.py:30-57 (attention: q k v o Linear(dim, dim), RMSNorm norm_q/norm_k of dim),
  :171-209 (block: norm3 LayerNorm with affine, ffn.0 Linear(dim, ffn), ffn.2 Linear(ffn, dim), modulation
  (1, 6, dim)), :331-346 (head: head.head Linear(dim, 64), modulation (1, 2, dim)), :475-483 (patch_embedding
  Conv3d(in_dim, dim, (1, 2, 2)) kept float32, text_embedding Linear(4096, dim) + Linear(dim, dim),
  time_embedding Linear(256, dim) + Linear(dim, dim), time_projection Linear(dim, 6 dim)).
- ComfyUI-GGUF loader.py:12 accepts general.architecture "wan"; tools/convert.py:102-104 and :272-285 keep
  1-D, small (<= 1024 elements) and `.modulation` tensors F32, the rest F16 before quantising; the 5-D
  patch_embedding cannot be quantised (convert.py:264, MAX_TENSOR_DIMS 4) and is stored F32 as it is.
- Quantised: the 2-D block weights; K-quant rows must be multiples of 256 (QK_K), so dim >= 256.
  Q5_K_S: all Q5_K; Q3_K_S: all Q3_K; Q4_K_M: Q4_K with Q6_K for `.v.weight` and `.ffn.2.weight`
  (llama.cpp's use_more_bits rule for attn_v / ffn_down, as city96's lcpp.patch applies it).
"""

from __future__ import annotations

from dataclasses import dataclass

import gguf

from .gguf_file import QK_K, GGUFTensor
from .tensors import TensorSpec, const_fill, fan_in_fill, random_fill

Q = gguf.GGMLQuantizationType
HEAD_DIM = 128  # model_detection.py:383: num_heads = dim // 128
TEXT_DIM = 4096  # model.py:401 text_dim (umt5-xxl's d_model)
FREQ_DIM = 256  # model_detection.py:385
I2V_IN_DIM = 36
OUT_CHANNELS = 16
PATCH = (1, 2, 2)


@dataclass(frozen=True)
class WanDims:
    dim: int = 256
    ffn_dim: int = 512
    layers: int = 2
    in_dim: int = I2V_IN_DIM

    def __post_init__(self) -> None:
        if self.dim % HEAD_DIM or self.dim % QK_K or self.ffn_dim % QK_K:
            raise ValueError(f"dim and ffn_dim must be multiples of {QK_K} (K-quant rows) and of {HEAD_DIM}")


# the catalog's quantisation name -> (type of most block weights, {name suffix: type})
QUANT_RULES: dict[str, tuple[gguf.GGMLQuantizationType, dict[str, gguf.GGMLQuantizationType]]] = {
    "Q5_K_S": (Q.Q5_K, {}),
    "Q3_K_S": (Q.Q3_K, {}),
    "Q4_K_M": (Q.Q4_K, {".v.weight": Q.Q6_K, ".ffn.2.weight": Q.Q6_K}),
    "Q4_K_S": (Q.Q4_K, {}),
}


def block_weight_type(name: str, quant: str) -> gguf.GGMLQuantizationType:
    default, special = QUANT_RULES[quant]
    return next((qtype for suffix, qtype in special.items() if name.endswith(suffix)), default)


def _linear(name: str, rows: int, cols: int, qtype: gguf.GGMLQuantizationType) -> list[GGUFTensor]:
    return [
        GGUFTensor(f"{name}.weight", qtype, (rows, cols), fan_in_fill(cols)),
        GGUFTensor(f"{name}.bias", Q.F32, (rows,), random_fill(0.01)),
    ]


def wan_expert(quant: str, dims: WanDims = WanDims()) -> list[GGUFTensor]:
    """The tensors of one A14B expert (high or low noise: the same layout), in the order convert.py writes."""
    d, f = dims.dim, dims.ffn_dim
    tensors = [
        GGUFTensor("patch_embedding.weight", Q.F32, (d, dims.in_dim, *PATCH), fan_in_fill(dims.in_dim * 4)),
        GGUFTensor("patch_embedding.bias", Q.F32, (d,), random_fill(0.01)),
        *_linear("text_embedding.0", d, TEXT_DIM, Q.F16),
        *_linear("text_embedding.2", d, d, Q.F16),
        *_linear("time_embedding.0", d, FREQ_DIM, Q.F16),
        *_linear("time_embedding.2", d, d, Q.F16),
        *_linear("time_projection.1", 6 * d, d, Q.F16),
    ]
    for block in range(dims.layers):
        prefix = f"blocks.{block}"
        for attn in ("self_attn", "cross_attn"):
            for proj in ("q", "k", "v", "o"):
                name = f"{prefix}.{attn}.{proj}"
                tensors += _linear(name, d, d, block_weight_type(f"{name}.weight", quant))
            tensors += [
                GGUFTensor(f"{prefix}.{attn}.norm_q.weight", Q.F32, (d,), const_fill(1.0)),
                GGUFTensor(f"{prefix}.{attn}.norm_k.weight", Q.F32, (d,), const_fill(1.0)),
            ]
        tensors += [
            GGUFTensor(f"{prefix}.norm3.weight", Q.F32, (d,), const_fill(1.0)),
            GGUFTensor(f"{prefix}.norm3.bias", Q.F32, (d,), const_fill(0.0)),
        ]
        tensors += _linear(f"{prefix}.ffn.0", f, d, block_weight_type(f"{prefix}.ffn.0.weight", quant))
        tensors += _linear(f"{prefix}.ffn.2", d, f, block_weight_type(f"{prefix}.ffn.2.weight", quant))
        tensors.append(GGUFTensor(f"{prefix}.modulation", Q.F32, (1, 6, d), random_fill(0.01)))
    tensors += [
        *_linear("head.head", OUT_CHANNELS * 4, d, Q.F16),
        GGUFTensor("head.modulation", Q.F32, (1, 2, d), random_fill(0.01)),
    ]
    return tensors


# --- Lightning LoRAs ----------------------------------------------------------------------------------------
# comfy/lora.py:175-186: Wan has no model-specific key map, the generic one applies: `diffusion_model.<path>`
# (or `lora_unet_<path with _>`). comfy/weight_adapter/lora.py:93-130: `.lora_up.weight`/`.lora_down.weight`
# or `.lora_B.weight`/`.lora_A.weight`, plus `.alpha`; down/A is (rank, in), up/B is (out, rank).
LORA_STYLES = {
    "up_down": ("lora_down.weight", "lora_up.weight"),  # Kijai's Lightning conversions
    "a_b": ("lora_A.weight", "lora_B.weight"),  # Comfy-Org's lightx2v repackaging (PEFT names)
}


def wan_lora(style: str, dims: WanDims = WanDims(), rank: int = 16) -> list[TensorSpec]:
    """A LoRA over every attention projection and FFN linear of each block, fp16, alpha = rank."""
    down_name, up_name = LORA_STYLES[style]
    specs = []
    for block in range(dims.layers):
        targets = [
            (f"blocks.{block}.{attn}.{proj}", dims.dim, dims.dim)
            for attn in ("self_attn", "cross_attn")
            for proj in ("q", "k", "v", "o")
        ]
        targets += [
            (f"blocks.{block}.ffn.0", dims.ffn_dim, dims.dim),
            (f"blocks.{block}.ffn.2", dims.dim, dims.ffn_dim),
        ]
        for path, out_features, in_features in targets:
            key = f"diffusion_model.{path}"
            specs += [
                TensorSpec(f"{key}.{down_name}", "F16", (rank, in_features), fan_in_fill(in_features)),
                TensorSpec(f"{key}.{up_name}", "F16", (out_features, rank), random_fill(0.01 / rank)),
                TensorSpec(f"{key}.alpha", "F32", (), const_fill(float(rank))),
            ]
    return specs
