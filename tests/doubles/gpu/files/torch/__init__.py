"""Fake torch (a test double): just enough of torch's API for wanprov's probe, driven by host.json
(two folders up: ROOT/site/torch -> ROOT/host.json). Standard library only, Python >= 3.8."""

import json
from pathlib import Path

_HOST = json.loads((Path(__file__).resolve().parents[2] / "host.json").read_text())["torch"]

__version__ = _HOST["version"]

from torch import cuda, version  # noqa: E402  (after the spec is read)


class device:  # mirrors torch.device
    def __init__(self, spec):
        self.type = str(spec).split(":")[0]


class Tensor:
    def __init__(self, values, device_type):
        self._values = list(values)
        self.device = device(device_type)

    def __mul__(self, other):
        return Tensor([v * other for v in self._values], self.device.type)

    def sum(self):
        return Tensor([sum(self._values)], self.device.type)

    def item(self):
        return self._values[0]


def ones(n, device="cpu"):
    kind, _, index = str(device).partition(":")
    if kind == "cuda":
        cuda._launch(int(index or 0))
    return Tensor([1.0] * n, str(device))


__all__ = ["Tensor", "cuda", "ones", "version"]
