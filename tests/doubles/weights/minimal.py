"""The smallest file of a model file's format, at about a wanted size: what a loader's header check takes
(the ComfyUI double's model_files.py), for tests whose hosts only need files that are listed, fetched,
verified and parsed, not run. A safetensors file holds one U8 tensor filling the size; a GGUF file is a v3
header with no tensors, padded; a .pth is a zip archive, as torch.save writes."""

from __future__ import annotations

import io
import json
import random
import struct
import zipfile


def minimal_model_bytes(name: str, size: int, seed: str = "") -> bytes:
    filler = random.Random(f"{name}/{seed}").randbytes
    if name.endswith((".safetensors", ".sft")):
        head = b""
        for _ in range(2):  # the header's length depends on the data's, which depends on the header's
            data = max(0, size - len(head) - 8)
            text = json.dumps({"fill": {"dtype": "U8", "shape": [data], "data_offsets": [0, data]}}).encode()
            head = text + b" " * (-len(text) % 8)
        return struct.pack("<Q", len(head)) + head + filler(data)
    if name.endswith(".gguf"):
        header = b"GGUF" + struct.pack("<IQQ", 3, 0, 0)
        return header + b"\0" * max(0, size - len(header))
    if name.endswith((".pth", ".pt", ".ckpt")):
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr("archive/data/0", filler(max(0, size - 200)))
        return out.getvalue()
    return filler(size)
