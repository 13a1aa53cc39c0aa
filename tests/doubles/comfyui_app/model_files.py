"""TEST DOUBLE part: refuse a malformed model file when its loader node runs, with the real loader's error.

The double runs no models, but the real loaders parse each file's header before anything else, and a file
of the right name with the wrong bytes fails there. Checked here, with the real messages (measured with
safetensors 0.8 and gguf 0.19, the versions the pinned stack installs):
- safetensors files (VAELoader, CLIPLoader, DualCLIPLoader, UNETLoader, LoraLoader*, CheckpointLoaderSimple;
  comfy/utils.py load_torch_file -> safetensors): SafetensorError "Error while deserializing header: ..."
  "header too small" (< 8 bytes), "header too large" (length > 100,000,000), "invalid header length"
  (past the end), "invalid UTF-8 in header", "invalid JSON in header", "incomplete metadata, file not fully
  covered" (the tensors' data does not end at the end of the file);
- GGUF files (ComfyUI-GGUF's UnetLoaderGGUF / CLIPLoaderGGUF -> gguf.GGUFReader): ValueError "GGUF magic
  invalid", "Sorry, file appears to be version N which we cannot handle" (only 2 and 3 are read), "cannot
  mmap an empty file" (a file cut inside its first bytes gets numpy's errors there; here the magic's);
- RIFE VFI's checkpoint (torch.load of custom_nodes/ComfyUI-Frame-Interpolation/ckpts/rife/<name>): a file
  that is not a zip archive: UnpicklingError "invalid load key, '<first byte>'.".
Standard library only: the double's venv has neither safetensors nor gguf."""

import json
import struct
import zipfile
from pathlib import Path

MAX_HEADER = 100_000_000  # safetensors' MAX_HEADER_SIZE
# (class_type, input) -> ComfyUI folder name
LOADER_INPUTS = {
    ("UnetLoaderGGUF", "unet_name"): "diffusion_models",
    ("UNETLoader", "unet_name"): "diffusion_models",
    ("CLIPLoader", "clip_name"): "text_encoders",
    ("CLIPLoaderGGUF", "clip_name"): "text_encoders",
    ("DualCLIPLoader", "clip_name1"): "text_encoders",
    ("DualCLIPLoader", "clip_name2"): "text_encoders",
    ("VAELoader", "vae_name"): "vae",
    ("LoraLoader", "lora_name"): "loras",
    ("LoraLoaderModelOnly", "lora_name"): "loras",
    ("CheckpointLoaderSimple", "ckpt_name"): "checkpoints",
}
_SAFETENSORS = "safetensors._safetensors_rust.SafetensorError"


def safetensors_error(path: Path):
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return "header too small"
        length = struct.unpack("<Q", head)[0]
        if length > MAX_HEADER:
            return "header too large"
        if 8 + length > size:
            return "invalid header length"
        raw = handle.read(length)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"invalid UTF-8 in header: {error.reason}"
    try:
        header = json.loads(text)
    except json.JSONDecodeError as error:
        return f"invalid JSON in header: {error.msg}"
    if not isinstance(header, dict):
        return "invalid JSON in header: not a map"
    end = max([t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"] or [0])
    if 8 + length + end != size:
        return "incomplete metadata, file not fully covered"
    return None


def gguf_error(path: Path):
    with path.open("rb") as handle:
        head = handle.read(8)
    if not head:
        return "cannot mmap an empty file"  # numpy.memmap, under GGUFReader
    if len(head) < 4 or head[:4] != b"GGUF":
        return "GGUF magic invalid"
    version = struct.unpack("<I", head[4:8])[0] if len(head) == 8 else 0
    if version not in (2, 3):
        return f"Sorry, file appears to be version {version} which we cannot handle"
    return None


def find(roots: dict, folder: str, name: str):
    for root in roots.get(folder, []):
        candidate = Path(root) / name
        if candidate.is_file():
            return candidate
    return None


def load_error(class_type: str, inputs: dict, roots: dict, custom_nodes: Path):
    """(exception_type, message) the real loader raises on this node's file, or None."""
    if class_type == "RIFE VFI":
        path = custom_nodes / "ComfyUI-Frame-Interpolation" / "ckpts" / "rife" / str(inputs.get("ckpt_name"))
        if path.is_file() and not zipfile.is_zipfile(path):
            first = path.read_bytes()[:1] or b"\x00"
            return "_pickle.UnpicklingError", f"invalid load key, {chr(first[0])!r}."
        return None
    for (cls, name), folder in LOADER_INPUTS.items():
        if cls != class_type or not isinstance(inputs.get(name), str):
            continue
        path = find(roots, folder, inputs[name])
        if path is None:
            continue  # validation refuses a name the folders do not list
        if path.suffix == ".gguf":
            reason = gguf_error(path)
            if reason:
                return "ValueError", reason
        elif path.suffix in (".safetensors", ".sft"):
            reason = safetensors_error(path)
            if reason:
                return _SAFETENSORS, f"Error while deserializing header: {reason}"
    return None
