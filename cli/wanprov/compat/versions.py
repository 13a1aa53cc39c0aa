"""Parse and compare the version strings of drivers, CUDA and torch wheels (no third-party parser:
these formats are simple and fixed, and `packaging` rejects driver strings such as 580.159.04)."""

from __future__ import annotations

import re

Version = tuple[int, ...]


def parse(text: str | None) -> Version | None:
    """'580.159.04' -> (580, 159, 4); '2.7.0+cu128' -> (2, 7, 0); '13.0' -> (13, 0). None if not a version."""
    if not text:
        return None
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", str(text))
    if not match:
        return None
    return tuple(int(part) for part in match.group(1).split("."))


def at_least(text: str | None, minimum: str) -> bool | None:
    """True/False when `text` parses, None when it does not (so callers can say "unknown")."""
    version = parse(text)
    if version is None:
        return None
    return version >= (parse(minimum) or ())


def minor_key(text: str | None) -> str | None:
    """'2.7.0+cu128' -> '2.7' (the key of per-minor tables)."""
    version = parse(text)
    if version is None or len(version) < 2:
        return None
    return f"{version[0]}.{version[1]}"


def wheel_variant(torch_version: str | None, torch_cuda: str | None) -> str | None:
    """The wheel's CUDA variant: from the local tag ('2.7.0+cu128' -> 'cu128'), else from
    torch.version.cuda ('12.8' -> 'cu128'); None for CPU/ROCm builds or unknown."""
    if torch_version and "+" in torch_version:
        tag = torch_version.split("+", 1)[1]
        if re.fullmatch(r"cu\d+", tag):
            return tag
    cuda = parse(torch_cuda)
    if cuda and len(cuda) >= 2:
        return f"cu{cuda[0]}{cuda[1]}"
    return None


def cuda_of_variant(variant: str) -> Version | None:
    """'cu128' -> (12, 8); 'cu130' -> (13, 0); 'cu118' -> (11, 8)."""
    match = re.fullmatch(r"cu(\d+)(\d)", variant or "")
    return (int(match.group(1)), int(match.group(2))) if match else None
