"""A PyTorch `torch.save` file (the zip format, PyTorch >= 1.6) of a plain state dict, written without
torch: `archive/data.pkl` is a protocol-2 pickle of an OrderedDict whose values are
`torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks)`, each
storage a persistent id `('storage', torch.FloatStorage, key, 'cpu', numel)` whose bytes are
`archive/data/<key>` (torch/serialization.py, _save and _load). Only globals `torch.load(weights_only=True)`
allows are named, so it loads either way."""

from __future__ import annotations

import math
import struct
import zipfile
from collections.abc import Sequence
from pathlib import Path

from .tensors import TensorSpec, tensor_chunks

_STORAGE = {"F32": "FloatStorage", "F16": "HalfStorage", "BF16": "BFloat16Storage", "I64": "LongStorage"}


def _text(value: str) -> bytes:
    data = value.encode()
    return b"X" + struct.pack("<I", len(data)) + data  # BINUNICODE


def _int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)  # BININT


def _tuple(items: Sequence[int]) -> bytes:
    return b"(" + b"".join(_int(item) for item in items) + b"t"  # MARK ... TUPLE


def _ordered_dict() -> bytes:
    return b"ccollections\nOrderedDict\n)R"  # GLOBAL, EMPTY_TUPLE, REDUCE


def state_dict_pickle(specs: Sequence[TensorSpec]) -> bytes:
    out = bytearray(b"\x80\x02" + _ordered_dict() + b"(")  # PROTO 2, the dict, MARK for SETITEMS
    for key, spec in enumerate(specs):
        strides = [math.prod(spec.shape[i + 1 :]) for i in range(len(spec.shape))]
        storage = (
            b"("
            + _text("storage")
            + f"ctorch\n{_STORAGE[spec.dtype]}\n".encode()
            + _text(str(key))
            + _text("cpu")
            + _int(spec.numel)
            + b"tQ"
        )  # TUPLE, BINPERSID
        out += _text(spec.name) + b"ctorch._utils\n_rebuild_tensor_v2\n("
        out += storage + _int(0) + _tuple(spec.shape) + _tuple(strides) + b"\x89" + _ordered_dict() + b"tR"
    out += b"u."  # SETITEMS, STOP
    return bytes(out)


def write_torch_state_dict(path: Path, specs: Sequence[TensorSpec], *, seed: int) -> int:
    partial = path.with_name(path.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", state_dict_pickle(specs))
        archive.writestr("archive/byteorder", "little")
        for key, spec in enumerate(specs):
            archive.writestr(f"archive/data/{key}", b"".join(tensor_chunks(spec, seed + key)))
        archive.writestr("archive/version", "3\n")
    partial.replace(path)
    return path.stat().st_size
