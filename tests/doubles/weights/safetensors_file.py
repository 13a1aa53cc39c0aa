"""A streaming safetensors writer: the header (8-byte little-endian length, then JSON with each tensor's
dtype, shape and data_offsets), then each tensor's bytes as they are made. The format is the one the
`safetensors` package reads; writing it here keeps RAM bounded (the package's own writers need every tensor
in memory at once, 6.7 GB for the text encoder).

`sparse=True` writes the header and leaves the data a hole of the right size (all zeros, no disk used): the
loaders' header checks can be tested on full-size files without writing gigabytes."""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from pathlib import Path

from .tensors import TensorSpec, tensor_chunks


def header_bytes(specs: Sequence[TensorSpec], metadata: dict[str, str] | None = None) -> bytes:
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = metadata
    offset = 0
    for spec in specs:
        if spec.name in header:
            raise ValueError(f"duplicate tensor name {spec.name}")
        header[spec.name] = {
            "dtype": spec.dtype,
            "shape": list(spec.shape),
            "data_offsets": [offset, offset + spec.nbytes],
        }
        offset += spec.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as the package's writer does
    return len(text).to_bytes(8, "little") + text


def write_safetensors(
    path: Path,
    specs: Sequence[TensorSpec],
    *,
    seed: str,
    metadata: dict[str, str] | None = None,
    sparse: bool = False,
) -> int:
    """Write `specs` to `path` (through a temporary file, renamed when complete); returns the size."""
    head = header_bytes(specs, metadata)
    total = len(head) + sum(spec.nbytes for spec in specs)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as out:
        out.write(head)
        if sparse:
            out.truncate(total)
        else:
            for spec in specs:
                for chunk in tensor_chunks(spec, _seed(seed, spec.name)):
                    out.write(chunk)
    if partial.stat().st_size != total:
        raise OSError(f"{partial}: wrote {partial.stat().st_size} bytes, expected {total}")
    partial.replace(path)
    return total


def _seed(seed: str, name: str) -> int:
    return zlib.crc32(f"{seed}/{name}".encode())
