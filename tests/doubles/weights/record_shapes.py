"""Record the state-dict shapes of the fixed-configuration models the weights double writes at full size,
from the REAL modules of the pinned ComfyUI and Frame-Interpolation (instantiated on the meta device: no
memory, no values). Run it under a ComfyUI venv (torch there), from the repository root:

    <comfyui venv>/bin/python tests/doubles/weights/record_shapes.py --comfyui <checkout> \\
        --frame-interpolation <checkout>/custom_nodes/ComfyUI-Frame-Interpolation

It writes tests/doubles/weights/shapes/<model>.json: {"source": ..., "tensors": {name: [shape]}}. The
generator reads those tables; the tests check them against the loaders' detection rules.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "shapes"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--comfyui", type=Path, required=True)
    parser.add_argument("--frame-interpolation", type=Path, required=True)
    opts = parser.parse_args()
    sys.path[:0] = [str(opts.comfyui), str(opts.frame_interpolation)]
    sys.argv = [sys.argv[0], "--cpu"]
    import comfy.options
    import torch

    comfy.options.enable_args_parsing()  # as main.py does: --cpu, no CUDA probe
    import comfy.clip_model
    import comfy.ldm.flux.model
    import comfy.ldm.models.autoencoder
    import comfy.ldm.wan.vae
    import comfy.ops
    import comfy.text_encoders.t5

    meta = torch.device("meta")
    ops = comfy.ops.manual_cast
    te = Path(comfy.text_encoders.t5.__file__).parent
    models = {
        # comfy/sd.py:486-490 (Wan 2.1 VAE: dim 96, z_dim 16)
        "wan21_vae": lambda: comfy.ldm.wan.vae.WanVAE(
            dim=96,
            z_dim=16,
            dim_mult=[1, 2, 4, 4],
            num_res_blocks=2,
            attn_scales=[],
            temperal_downsample=[False, True, True],
            dropout=0.0,
        ),
        # comfy/sd.py:368-380 (the default VAE branch; z_channels from decoder.conv_in.weight = 16 for Flux)
        "flux_ae": lambda: comfy.ldm.models.autoencoder.AutoencodingEngine(
            regularizer_config={"target": "comfy.ldm.models.autoencoder.DiagonalGaussianRegularizer"},
            encoder_config={
                "target": "comfy.ldm.modules.diffusionmodules.model.Encoder",
                "params": _flux_dd(),
            },
            decoder_config={
                "target": "comfy.ldm.modules.diffusionmodules.model.Decoder",
                "params": _flux_dd(),
            },
        ),
        # comfy/sd1_clip_config.json (CLIP-L: the fixed config every CLIP_L file is loaded into)
        "clip_l": lambda: comfy.clip_model.CLIPTextModel(
            json.loads((Path(comfy.clip_model.__file__).parent / "sd1_clip_config.json").read_text()),
            torch.float16,
            meta,
            ops,
        ),
        # comfy/text_encoders/t5_config_xxl.json, umt5_config_xxl.json
        "t5xxl": lambda: comfy.text_encoders.t5.T5(
            json.loads((te / "t5_config_xxl.json").read_text()), torch.float16, meta, ops
        ),
        "umt5xxl": lambda: comfy.text_encoders.t5.T5(
            json.loads((te / "umt5_config_xxl.json").read_text()), torch.float16, meta, ops
        ),
        # comfy/model_detection.py:176-195: Flux's width is fixed; only the block counts come from the file
        "flux_1x1": lambda: comfy.ldm.flux.model.Flux(
            in_channels=16,
            out_channels=16,
            vec_in_dim=768,
            context_in_dim=4096,
            hidden_size=3072,
            mlp_ratio=4.0,
            num_heads=24,
            depth=1,
            depth_single_blocks=1,
            axes_dim=[16, 56, 56],
            theta=10000,
            patch_size=2,
            qkv_bias=True,
            guidance_embed=False,
            dtype=torch.bfloat16,
            device=meta,
            operations=ops,
        ),
    }
    commit = subprocess.run(
        ["git", "-C", str(opts.comfyui), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    OUT.mkdir(exist_ok=True)
    for name, build in models.items():
        with torch.device(meta):
            module = build()
        _dump(name, module, f"ComfyUI {commit}")
    from vfi_models.rife.rife_arch import IFNet  # vfi_models/rife/__init__.py:10-12, 131

    with torch.device(meta):
        module = IFNet(arch_ver="4.7")
    fi_commit = subprocess.run(
        ["git", "-C", str(opts.frame_interpolation), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    _dump("rife47", module, f"ComfyUI-Frame-Interpolation {fi_commit} IFNet(arch_ver='4.7')")
    return 0


def _flux_dd() -> dict:
    return {
        "double_z": True,
        "z_channels": 16,
        "resolution": 256,
        "in_channels": 3,
        "out_ch": 3,
        "ch": 128,
        "ch_mult": [1, 2, 4, 4],
        "num_res_blocks": 2,
        "attn_resolutions": [],
        "dropout": 0.0,
    }


def _dump(name: str, module: object, source: str) -> None:
    tensors = {key: list(value.shape) for key, value in module.state_dict().items()}  # type: ignore[attr-defined]
    document = {"source": f"recorded by record_shapes.py from {source}", "tensors": tensors}
    lines = ",\n".join(f"  {json.dumps(key)}: {json.dumps(shape)}" for key, shape in tensors.items())
    (OUT / f"{name}.json").write_text(
        f'{{\n"source": {json.dumps(document["source"])},\n"tensors": {{\n{lines}\n}}\n}}\n'
    )
    print(name, len(tensors), "tensors")


if __name__ == "__main__":
    sys.exit(main())
