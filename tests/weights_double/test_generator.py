"""The weights double read back with the formats' own readers (the `gguf` package's GGUFReader, the
`safetensors` package) and checked against what the real loaders' detection code needs: the rules cited in
tests/doubles/weights (comfy/model_detection.py, comfy/sd.py, ComfyUI-GGUF loader.py, Frame-Interpolation).
Small files are written; the full-size text encoders and checkpoint are written sparse (header, then a hole)
so their headers are checked without writing gigabytes."""

from __future__ import annotations

import io
import math
import pickle
import re
import zipfile
from pathlib import Path

import gguf
import numpy as np
import pytest
import yaml
from safetensors import safe_open

from doubles.weights import LARGE, Options, generate, shipped_profiles, writer_for
from doubles.weights.build import shipped
from doubles.weights.fixed_models import shape_table
from doubles.weights.gguf_file import unit_std
from doubles.weights.tensors import TensorSpec, const_fill, random_fill, tensor_chunks
from doubles.weights.wan import QUANT_RULES

Q = gguf.GGMLQuantizationType
SHIPPED_FILES, SHIPPED_PROFILES = shipped()
WAN_EXPERTS = sorted(i for i in SHIPPED_FILES if i.startswith("wan22-i2v-a14b-") and i in
                     {f for p in SHIPPED_PROFILES.values() for f in p["files"].values()})  # fmt: skip


BLOCK_WEIGHT = re.compile(r"blocks\.\d+\.((self|cross)_attn\.[qkvo]|ffn\.[02])\.weight")
LORAS = sorted({f for p in SHIPPED_PROFILES.values() for r, f in p["files"].items() if r.endswith("_lora")})


def write_entry(tmp_path: Path, entry_id: str, sparse: bool = False) -> Path:
    target = tmp_path / Path(SHIPPED_FILES[entry_id]["path"]).name
    writer_for(entry_id, SHIPPED_FILES[entry_id])(target, Options(spiece_model=b"spm", sparse=sparse), 7)
    return target


def gguf_tensors(path: Path) -> tuple[gguf.GGUFReader, dict[str, gguf.ReaderTensor]]:
    reader = gguf.GGUFReader(path)
    return reader, {tensor.name: tensor for tensor in reader.tensors}


def torch_shape(tensor: gguf.ReaderTensor) -> tuple[int, ...]:
    """The shape ComfyUI-GGUF gives the tensor (loader.py:103: the GGUF dims reversed)."""
    return tuple(int(v) for v in reversed(tensor.shape))


def arch(reader: gguf.GGUFReader) -> str:
    field = reader.get_field("general.architecture")
    assert field is not None
    return str(bytes(field.parts[field.data[-1]]), encoding="utf-8")


def count_blocks(names: set[str], prefix: str) -> int:
    """comfy/model_detection.py count_blocks: the number of consecutive `prefix{N}.` present."""
    count = 0
    while any(name.startswith(f"{prefix}{count}.") for name in names):
        count += 1
    return count


# --- every entry of every shipped profile has a writer ---


def test_every_file_of_every_shipped_profile_has_a_writer() -> None:
    for name, profile in SHIPPED_PROFILES.items():
        for role, entry_id in profile["files"].items():
            assert writer_for(entry_id, SHIPPED_FILES[entry_id]), (name, role)


# --- Wan 2.2 experts (GGUF) ---


@pytest.mark.parametrize("entry_id", WAN_EXPERTS)
def test_wan_expert_is_detected_as_wan_with_its_catalog_quantisation(tmp_path: Path, entry_id: str) -> None:
    reader, tensors = gguf_tensors(write_entry(tmp_path, entry_id))
    names = set(tensors)
    assert arch(reader) == "wan"  # ComfyUI-GGUF loader.py:12 (else compat mode or refused)
    # comfy/model_detection.py:377-388
    dim = torch_shape(tensors["head.modulation"])[-1]
    assert dim % 128 == 0 and dim // 128 >= 1
    assert torch_shape(tensors["head.head.weight"])[0] // 4 == 16  # out_dim
    ffn = torch_shape(tensors["blocks.0.ffn.0.weight"])[0]
    layers = count_blocks(names, "blocks.")
    assert layers >= 1
    assert torch_shape(tensors["patch_embedding.weight"]) == (dim, 36, 1, 2, 2)  # in_dim 36: I2V
    assert "img_emb.proj.0.bias" not in names  # :405-409: no CLIP-vision branch (Wan 2.2 I2V)
    for block in range(layers):
        assert torch_shape(tensors[f"blocks.{block}.modulation"]) == (1, 6, dim)
        assert torch_shape(tensors[f"blocks.{block}.ffn.2.weight"]) == (dim, ffn)
        for attn in ("self_attn", "cross_attn"):
            for proj in "qkvo":
                assert torch_shape(tensors[f"blocks.{block}.{attn}.{proj}.weight"]) == (dim, dim)
    assert torch_shape(tensors["text_embedding.0.weight"]) == (dim, 4096)
    assert torch_shape(tensors["time_projection.1.weight"]) == (6 * dim, dim)
    # the catalog's quantisation: the file name says it; city96's per-tensor rules
    quant = re.search(r"(Q\d_K_[SM])\.gguf$", SHIPPED_FILES[entry_id]["path"])[1]
    default, special = QUANT_RULES[quant]
    for name, tensor in tensors.items():
        shape = torch_shape(tensor)
        if re.fullmatch(
            r"blocks\.\d+\.(self_attn|cross_attn)\.[qkvo]\.weight|blocks\.\d+\.ffn\.[02]\.weight", name
        ):
            wanted = next((t for suffix, t in special.items() if name.endswith(suffix)), default)
            assert tensor.tensor_type == wanted, name
            assert shape[-1] % 256 == 0, name  # QK_K
        elif len(shape) == 1 or name.endswith(".modulation") or name == "patch_embedding.weight":
            assert tensor.tensor_type == Q.F32, name
        else:
            assert tensor.tensor_type == Q.F16, name


@pytest.mark.parametrize("entry_id", WAN_EXPERTS)
def test_wan_expert_values_are_finite_and_scaled(tmp_path: Path, entry_id: str) -> None:
    _, tensors = gguf_tensors(write_entry(tmp_path, entry_id))
    for name, tensor in tensors.items():
        values = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
        assert np.isfinite(values).all(), name
        shape = torch_shape(tensor)
        if name.endswith(".weight") and len(shape) == 2:
            wanted = 1 / math.sqrt(shape[1])
            assert wanted / 4 < float(np.std(values)) < wanted * 4, (name, float(np.std(values)))


def test_k_quant_scales_are_calibrated_for_every_type() -> None:
    for qtype in (Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K):
        assert np.isfinite(unit_std(qtype)) and unit_std(qtype) > 0


# --- Lightning LoRAs ---


@pytest.mark.parametrize("lora_id", LORAS)
def test_lora_keys_reach_the_expert_weights_they_patch(tmp_path: Path, lora_id: str) -> None:
    """comfy/lora.py:175-186 (generic map: `diffusion_model.<path>`) and weight_adapter/lora.py:93-130
    (up/B is (out, rank), down/A is (rank, in)): every pair must match an expert weight's shape, else the
    loader skips it ("lora key not loaded") and the LoRA does nothing."""
    _, expert = gguf_tensors(write_entry(tmp_path, WAN_EXPERTS[0]))
    path = write_entry(tmp_path, lora_id)
    with safe_open(path, "np") as lora:
        keys = set(lora.keys())
        downs = [k for k in keys if re.search(r"\.(lora_down|lora_A)\.weight$", k)]
        assert downs
        for down in downs:
            base = re.sub(r"\.(lora_down|lora_A)\.weight$", "", down)
            up = base + (".lora_up.weight" if down.endswith("lora_down.weight") else ".lora_B.weight")
            assert base.startswith("diffusion_model.")
            out_features, in_features = torch_shape(expert[base.removeprefix("diffusion_model.") + ".weight"])
            rank = lora.get_slice(down).get_shape()[0]
            assert lora.get_slice(down).get_shape() == [rank, in_features]
            assert lora.get_slice(up).get_shape() == [out_features, rank]
            assert float(lora.get_tensor(base + ".alpha")) == rank
            assert np.isfinite(lora.get_tensor(down)).all() and np.isfinite(lora.get_tensor(up)).all()


# --- fixed-size models (full size) ---


def header(path: Path) -> dict[str, tuple[str, list[int]]]:
    with safe_open(path, "np") as handle:
        return {k: (handle.get_slice(k).get_dtype(), handle.get_slice(k).get_shape()) for k in handle.keys()}  # noqa: SIM118 - not a dict


def test_umt5_is_taken_for_t5_xxl_with_scaled_fp8(tmp_path: Path) -> None:
    """comfy/sd.py:919-924 (block 23's wi_1 with shape[-1] 4096, else T5-base and a size mismatch),
    sd3_clip.py:28-30 (`scaled_fp8` switches to scaled fp8 ops), sd.py:1020 (`spiece_model` in the file)."""
    tensors = header(write_entry(tmp_path, "umt5-xxl-fp8-e4m3fn-scaled", sparse=True))
    assert tensors["encoder.block.23.layer.1.DenseReluDense.wi_1.weight"] == ("F8_E4M3", [10240, 4096])
    assert tensors["scaled_fp8"][0] == "F8_E4M3"
    assert tensors["spiece_model"][0] == "U8"
    assert tensors["shared.weight"][1] == [256384, 4096]  # umt5_config_xxl.json vocab_size
    table = shape_table("umt5xxl")
    assert {
        k for k in tensors if k not in ("scaled_fp8", "spiece_model") and not k.endswith("scale_weight")
    } == set(table)
    for name, (dtype, _) in tensors.items():
        if dtype == "F8_E4M3" and name != "scaled_fp8":
            assert tensors[name.removesuffix("weight") + "scale_weight"] == ("F32", [])


def test_t5xxl_and_clip_l_are_detected_at_full_size(tmp_path: Path) -> None:
    t5 = header(write_entry(tmp_path, "flux-t5xxl-fp8-e4m3fn", sparse=True))
    assert t5["encoder.block.23.layer.1.DenseReluDense.wi_1.weight"] == ("F8_E4M3", [10240, 4096])
    assert "scaled_fp8" not in t5
    assert set(t5) == set(shape_table("t5xxl"))
    clip = header(write_entry(tmp_path, "flux-clip-l"))
    assert "text_model.encoder.layers.0.mlp.fc1.weight" in clip  # sd.py:909-910 CLIP_L
    assert "text_model.encoder.layers.22.mlp.fc1.weight" not in clip  # not CLIP-H/G
    assert {k: v[1] for k, v in clip.items()} == {k: list(v) for k, v in shape_table("clip_l").items()}


def test_wan21_vae_is_the_16_channel_vae_in_bf16(tmp_path: Path) -> None:
    """comfy/sd.py:476-490: decoder.middle.0.residual.0.gamma -> Wan; without
    decoder.upsamples.0.upsamples.0.residual.2.weight -> the 2.1 VAE, z_dim 16."""
    path = write_entry(tmp_path, "wan21-vae")
    tensors = header(path)
    assert "decoder.middle.0.residual.0.gamma" in tensors
    assert "decoder.upsamples.0.upsamples.0.residual.2.weight" not in tensors
    assert tensors["conv2.weight"][1][0] == 16  # z_dim
    assert {v[0] for v in tensors.values()} == {"BF16"}
    assert {k: v[1] for k, v in tensors.items()} == {k: list(v) for k, v in shape_table("wan21_vae").items()}
    raw = path.read_bytes()  # numpy has no bf16: read the bits
    start = 8 + int.from_bytes(raw[:8], "little")
    bits = np.frombuffer(raw[start:], dtype=np.uint16)
    assert not ((bits & 0x7F80) == 0x7F80).any()  # no Inf/NaN exponent anywhere


def test_flux_files_are_detected_as_schnell(tmp_path: Path) -> None:
    """model_detection.py:176-195: Flux by its key norm; width fixed (hidden 3072); no guidance_in:
    schnell."""
    reader, tensors = gguf_tensors(write_entry(tmp_path, "flux1-schnell-q4ks-gguf"))
    assert arch(reader) == "flux"
    names = set(tensors)
    assert (
        "double_blocks.0.img_attn.norm.key_norm.scale" in names and "guidance_in.in_layer.weight" not in names
    )
    assert torch_shape(tensors["img_in.weight"]) == (3072, 64)  # in_channels 16 x patch 2 x 2
    assert count_blocks(names, "double_blocks.") == 1 and count_blocks(names, "single_blocks.") == 1
    assert tensors["double_blocks.0.img_mlp.0.weight"].tensor_type == Q.Q4_K
    for tensor in tensors.values():  # one of each type, the smaller ones (dequantizing 500M values is slow)
        if tensor.n_elements <= 3072 * 3072:
            assert np.isfinite(gguf.quants.dequantize(tensor.data, tensor.tensor_type)).all(), tensor.name
    unet = header(write_entry(tmp_path, "flux1-schnell", sparse=True))
    assert set(unet) == names
    ae = header(write_entry(tmp_path, "flux1-ae"))
    assert ae["decoder.conv_in.weight"][1][1] == 16  # sd.py:375 z_channels
    ckpt = header(write_entry(tmp_path, "flux1-schnell-fp8-checkpoint", sparse=True))
    assert "model.diffusion_model.double_blocks.0.img_attn.norm.key_norm.scale" in ckpt
    assert ckpt["model.diffusion_model.double_blocks.0.img_attn.qkv.weight"][0] == "F8_E4M3"
    assert "first_stage_model.decoder.conv_in.weight" in ckpt
    assert "text_encoders.clip_l.transformer.text_model.encoder.layers.0.mlp.fc1.weight" in ckpt
    assert (
        ckpt["text_encoders.t5xxl.transformer.encoder.block.23.layer.1.DenseReluDense.wi_1.weight"][1][-1]
        == 4096
    )


class _TorchStandIns(pickle.Unpickler):
    """torch.load's view of a state dict, without torch: storages and tensors as plain records."""

    def find_class(self, module: str, name: str):
        allowed = {
            ("collections", "OrderedDict"),
            ("torch._utils", "_rebuild_tensor_v2"),
            ("torch", "FloatStorage"),
        }
        assert (module, name) in allowed, (module, name)
        if name == "_rebuild_tensor_v2":
            return lambda storage, offset, size, stride, grad, hooks: (
                storage,
                offset,
                tuple(size),
                tuple(stride),
            )
        if name == "FloatStorage":
            return "float32"
        return dict

    def persistent_load(self, pid):
        kind, storage_type, key, location, numel = pid
        assert (kind, location) == ("storage", "cpu")
        return (storage_type, key, numel)


def test_rife49_is_a_strict_ifnet_47_state_dict(tmp_path: Path) -> None:
    """vfi_models/rife/__init__.py:10-12 (rife49.pth -> arch 4.7) and :131-132 (load_state_dict, strict):
    exactly IFNet(arch_ver="4.7")'s keys and shapes, each storage its tensor's size, values finite."""
    path = write_entry(tmp_path, "rife49")
    with zipfile.ZipFile(path) as archive:
        state = _TorchStandIns(io.BytesIO(archive.read("archive/data.pkl"))).load()
        assert {k: v[2] for k, v in state.items()} == shape_table("rife47")
        for (storage_type, key, numel), offset, size, _ in state.values():
            data = np.frombuffer(archive.read(f"archive/data/{key}"), dtype=storage_type)
            assert offset == 0 and data.size == numel == math.prod(size)
            assert np.isfinite(data).all()


# --- values ---


@pytest.mark.parametrize("dtype", ["F32", "F16", "BF16", "F8_E4M3"])
@pytest.mark.parametrize("scale", [1e-3, 1 / math.sqrt(10240), 0.02, 0.5, 1.0])
def test_random_values_are_never_inf_or_nan(dtype: str, scale: float) -> None:
    raw = b"".join(tensor_chunks(TensorSpec("w", dtype, (4096,), random_fill(scale)), 3))
    if dtype == "F8_E4M3":
        bits = np.frombuffer(raw, dtype=np.uint8)
        assert not ((bits & 0x7F) == 0x7F).any()  # e4m3fn NaN
        exponent = (bits >> 3) & 0x0F
        values = np.where(bits & 0x80, -1, 1) * np.ldexp(1 + (bits & 7) / 8, exponent.astype(int) - 7)
    elif dtype == "BF16":
        values = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
    else:
        values = np.frombuffer(raw, dtype={"F32": np.float32, "F16": np.float16}[dtype]).astype(np.float64)
    assert np.isfinite(values).all()
    assert np.abs(values).max() < max(4 * scale, 2**-5)  # fp8: the smallest normal exponent at least
    assert len(np.unique(values)) >= 16  # alive, not constant


def test_constants_are_exact() -> None:
    raw = b"".join(tensor_chunks(TensorSpec("g", "BF16", (8,), const_fill(1.0)), 0))
    assert (np.frombuffer(raw, dtype=np.uint16) == 0x3F80).all()


# --- the set: manifest, lock, Hub layout ---


def test_generated_set_has_its_own_manifest_and_lock(tmp_path: Path) -> None:
    profiles = {"tiny": {"files": {"high_noise_unet": "wan22-i2v-a14b-high-q3ks", "rife": "rife49"}}}
    manifest = generate(tmp_path / "hub", tmp_path / "manifest", profiles)
    document = yaml.safe_load(manifest.read_text())
    lock = yaml.safe_load(manifest.with_name("weights-double.lock.yaml").read_text())["files"]
    assert document["profiles"] == profiles
    for entry_id, entry in document["files"].items():
        served = tmp_path / "hub" / entry["repo"] / entry["path"]
        assert served.stat().st_size == entry["size"] == lock[entry_id]["size"]
        assert lock[entry_id]["sha256"] == entry["sha256"] and re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])
        assert lock[entry_id]["commit"] == entry["revision"]
        assert entry["folder"] == SHIPPED_FILES[entry_id]["folder"]


def test_the_shipped_profiles_are_all_served(tmp_path: Path) -> None:
    every = shipped_profiles(SHIPPED_PROFILES)
    assert set(every) == set(SHIPPED_PROFILES)
    assert {f for p in every.values() for f in p["files"].values()} >= LARGE
