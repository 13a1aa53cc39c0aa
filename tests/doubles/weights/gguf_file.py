"""GGUF files written with the `gguf` package (the format's reference writer), tensor by tensor.

K-quant tensors are raw blocks: `gguf` cannot quantise K-quants (gguf/quants.py raises NotImplementedError),
so each row of `cols / 256` blocks is random bytes with the block's f16 scale fields set here; random bytes
there would be NaN/Inf now and then. Block layouts (ggml-common.h, mirrored by gguf/quants.py's dequantizers):
Q4_K {d, dmin, scales[12], qs[128]} 144 B; Q5_K {d, dmin, scales[12], qh[32], qs[128]} 176 B;
Q6_K {ql[128], qh[64], scales[16], d} 210 B; Q3_K {hmask[32], qs[64], scales[12], d} 110 B.
The scale is calibrated once per type with the package's own dequantizer, so |w| is about the fill's scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import gguf
import numpy as np

from .tensors import Fill, TensorSpec, tensor_chunks

Q = gguf.GGMLQuantizationType
QK_K = 256  # super-block size of every K-quant: a quantised row's length must be a multiple of it
# (offset of d, offset of dmin or None, the min's share of d that centres the values on zero)
_SCALE_FIELDS = {
    Q.Q4_K: (0, 2, 7.5),  # w = d*sc*q - dmin*m, q in 0..15: dmin = 7.5 d centres q's mean
    Q.Q5_K: (0, 2, 15.5),  # q in 0..31
    Q.Q6_K: (208, None, 0.0),  # w = d*sc*(q-32), signed already
    Q.Q3_K: (108, None, 0.0),  # w = d*(sc-32)*(q-4|q), signed already
}
_FLOAT_TYPES = {Q.F32: "F32", Q.F16: "F16", Q.BF16: "BF16"}


@dataclass(frozen=True)
class GGUFTensor:
    name: str
    qtype: gguf.GGMLQuantizationType
    shape: tuple[int, ...]  # PyTorch order (rows first), as ComfyUI-GGUF reports it after reversing
    fill: Fill

    @property
    def nbytes(self) -> int:
        block, size = gguf.GGML_QUANT_SIZES[self.qtype]
        return math.prod(self.shape) // block * size


def _random_blocks(
    qtype: gguf.GGMLQuantizationType, blocks: int, d: float, rng: np.random.Generator
) -> np.ndarray:
    size = gguf.GGML_QUANT_SIZES[qtype][1]
    raw = rng.integers(0, 255, size=(blocks, size), dtype=np.uint8, endpoint=True)
    d_at, dmin_at, share = _SCALE_FIELDS[qtype]
    raw[:, d_at : d_at + 2] = np.frombuffer(np.float16(d).tobytes(), dtype=np.uint8)
    if dmin_at is not None:
        raw[:, dmin_at : dmin_at + 2] = np.frombuffer(np.float16(d * share).tobytes(), dtype=np.uint8)
    return raw


@cache
def unit_std(qtype: gguf.GGMLQuantizationType) -> float:
    """The standard deviation of a random block's values at d = 1, by the package's dequantizer."""
    sample = _random_blocks(qtype, 512, 1.0, np.random.default_rng(0))
    values = gguf.quants.dequantize(sample, qtype)
    return float(np.std(values))


def quantised_rows(tensor: GGUFTensor, seed: int) -> np.ndarray:
    rows, cols = math.prod(tensor.shape[:-1]), tensor.shape[-1]
    if cols % QK_K:
        raise ValueError(f"{tensor.name}: {cols} columns is not a multiple of {QK_K} ({tensor.qtype.name})")
    d = tensor.fill.scale / unit_std(tensor.qtype)
    raw = _random_blocks(tensor.qtype, rows * cols // QK_K, d, np.random.default_rng(seed))
    return raw.reshape(rows, cols // QK_K * gguf.GGML_QUANT_SIZES[tensor.qtype][1])


def tensor_array(tensor: GGUFTensor, seed: int) -> np.ndarray:
    if tensor.qtype in _SCALE_FIELDS:
        return quantised_rows(tensor, seed)
    dtype = _FLOAT_TYPES[tensor.qtype]
    spec = TensorSpec(tensor.name, dtype, tensor.shape, tensor.fill)
    data = b"".join(tensor_chunks(spec, seed))
    return np.frombuffer(data, dtype={"F32": np.float32, "F16": np.float16, "BF16": np.uint16}[dtype])


def write_gguf(
    path: Path, arch: str, tensors: Sequence[GGUFTensor], *, seed: int, metadata: dict[str, str] | None = None
) -> int:
    """Write a GGUF v3 file with `general.architecture = arch`; returns its size."""
    partial = path.with_name(path.name + ".partial")
    writer = gguf.GGUFWriter(partial, arch=arch)
    for key, value in (metadata or {}).items():
        writer.add_string(key, value)
    for tensor in tensors:
        if tensor.qtype in _SCALE_FIELDS:  # the writer takes a quantised tensor's shape in bytes per row
            block, size = gguf.GGML_QUANT_SIZES[tensor.qtype]
            shape, np_dtype = (*tensor.shape[:-1], tensor.shape[-1] // block * size), np.dtype(np.uint8)
        else:
            shape = tensor.shape
            np_dtype = np.dtype({Q.F32: np.float32, Q.F16: np.float16, Q.BF16: np.uint16}[tensor.qtype])
        writer.add_tensor_info(tensor.name, shape, np_dtype, tensor.nbytes, raw_dtype=tensor.qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for index, tensor in enumerate(tensors):
        array = tensor_array(tensor, seed + index)
        if array.nbytes != tensor.nbytes:
            raise ValueError(f"{tensor.name}: {array.nbytes} bytes made, {tensor.nbytes} declared")
        writer.write_tensor_data(array)
    writer.close()
    partial.replace(path)
    return path.stat().st_size
