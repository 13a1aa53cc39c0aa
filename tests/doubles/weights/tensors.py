"""What one tensor of a weights double is (name, dtype, shape, how its values are made) and how its bytes are
made, chunk by chunk, so that multi-gigabyte files stream with bounded memory.

Values are real in format, fake in value, and never NaN/Inf: every float is made from its bit pattern with an
exponent fixed near the wanted magnitude (sign and mantissa random), so no random bit pattern can land on an
Inf/NaN code. e4m3fn has NaN at 0x7F/0xFF (exponent 1111, mantissa 111): the exponents used here stay below.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

CHUNK_ELEMENTS = 16 << 20  # elements per generated chunk: 16-64 MB of RAM whatever the file's size

# bytes per element and the (sign mask, exponent shift, exponent bias, mantissa mask) of each float format
ITEMSIZE = {"F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "U8": 1, "I64": 8}
_FLOAT_BITS = {
    "F32": (np.uint32, 0x80000000, 23, 127, 0x007FFFFF),
    "F16": (np.uint16, 0x8000, 10, 15, 0x03FF),
    "BF16": (np.uint16, 0x8000, 7, 127, 0x007F),
    "F8_E4M3": (np.uint8, 0x80, 3, 7, 0x07),
}


@dataclass(frozen=True)
class Fill:
    """How a tensor's values are made: `random` magnitudes in [scale, 2*scale) with random signs (scale
    rounded down to a power of two), `const` every element `value`, `raw` the given bytes."""

    kind: str = "random"
    scale: float = 0.02
    value: float = 0.0
    data: bytes = b""


def random_fill(scale: float) -> Fill:
    return Fill("random", scale=scale)


def const_fill(value: float) -> Fill:
    return Fill("const", value=value)


def fan_in_fill(fan_in: int) -> Fill:
    """Weights of about 1/sqrt(fan_in), the scale that keeps activations alive through random layers."""
    return Fill("random", scale=1.0 / math.sqrt(fan_in))


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # safetensors dtype names: F32 F16 BF16 F8_E4M3 U8 I64
    shape: tuple[int, ...]
    fill: Fill = Fill()

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * ITEMSIZE[self.dtype]


def _float_pattern(dtype: str, count: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    uint, sign, shift, bias, mantissa = _FLOAT_BITS[dtype]
    # the smallest normal exponent at least (fp8 cannot hold 1/sqrt(10240) as a normal number: a little
    # larger is fine), always below the Inf/NaN exponent (e4m3fn's NaN needs exponent 1111 too)
    exponent = max(1, math.floor(math.log2(scale)) + bias)
    if exponent >= (sign >> shift) - 1:
        raise ValueError(f"{dtype} cannot hold a magnitude of {scale!r}")
    bits = rng.integers(0, np.iinfo(uint).max, size=count, dtype=uint, endpoint=True)
    bits &= uint(sign | mantissa)
    bits |= uint(exponent << shift)
    return bits


def _const_pattern(dtype: str, count: int, value: float) -> np.ndarray:
    if dtype == "F32":
        return np.full(count, value, dtype=np.float32)
    if dtype == "F16":
        return np.full(count, value, dtype=np.float16)
    if dtype == "BF16":
        return np.full(count, np.float32(value).view(np.uint32) >> 16, dtype=np.uint16)
    if dtype == "F8_E4M3":
        if value not in (0.0, 1.0):
            raise ValueError("F8_E4M3 constants: 0.0 or 1.0 only")
        return np.full(count, 0x38 if value else 0x00, dtype=np.uint8)
    if dtype in ("U8", "I64"):
        return np.full(count, int(value), dtype=np.uint8 if dtype == "U8" else np.int64)
    raise ValueError(f"no constant of dtype {dtype}")


def tensor_chunks(spec: TensorSpec, seed: int) -> Iterator[bytes]:
    """The tensor's bytes (little-endian, row-major), in chunks of at most CHUNK_ELEMENTS elements."""
    if spec.fill.kind == "raw":
        if len(spec.fill.data) != spec.nbytes:
            raise ValueError(f"{spec.name}: {len(spec.fill.data)} raw bytes for {spec.nbytes}")
        yield spec.fill.data
        return
    rng = np.random.default_rng(seed)
    left = spec.numel
    while left:
        count = min(left, CHUNK_ELEMENTS)
        if spec.fill.kind == "const":
            yield _const_pattern(spec.dtype, count, spec.fill.value).tobytes()
        elif spec.fill.kind == "random":
            yield _float_pattern(spec.dtype, count, spec.fill.scale, rng).tobytes()
        else:
            raise ValueError(f"{spec.name}: unknown fill {spec.fill.kind!r}")
        left -= count
