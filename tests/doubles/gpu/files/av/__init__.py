# ruff: noqa: UP031 - imported by the target interpreter (any Python >= 3.8)
"""Fake PyAV (a test double), just the API wanprov's NVENC probe uses: `codecs_available`,
`CodecContext.create(name, "w")` + `open()` / `encode(frame)`, `VideoFrame(w, h, fmt)`, `logging`.
Reads ../../host.json ("pyav"): the recorded H100 replays nvenc-pyav.txt's errors, other hosts encode per
their spec. Errors are OSError subclasses shaped like PyAV's ("[Errno N] text: 'avcodec_open2(...)'")."""

import json
import os
import re
import sys
import time
from pathlib import Path

from av import logging  # noqa: F401 - `av.logging.set_level` as real PyAV has it

_HOST = json.loads((Path(__file__).resolve().parents[2] / "host.json").read_text())
_PYAV = _HOST["pyav"]
__version__ = _PYAV["version"]

if _PYAV.get("misbehave") == "crash":  # a wheel whose shared library is broken dies at import
    sys.stderr.write("Fatal Python error: Segmentation fault (fake av)\n")
    os._exit(139)
if _PYAV.get("misbehave") == "hang":
    time.sleep(3600)

codecs_available = {"h264_nvenc", "hevc_nvenc", "av1_nvenc", "libx264", "mpeg4"}


class FFmpegError(OSError):
    pass


class ExternalError(FFmpegError):
    pass


class PermissionError(FFmpegError):  # PyAV's own name for EPERM
    pass


class VideoFrame:
    def __init__(self, width=0, height=0, format="yuv420p"):
        self.width, self.height, self.format, self.pts = width, height, format, None


class _Packet:
    size = 923


class CodecContext:
    @staticmethod
    def create(name, mode="r"):
        if name not in codecs_available:
            raise ValueError("unknown codec %r" % name)
        return CodecContext(name)

    def __init__(self, name):
        self.name, self.is_open, self._sent = name, False, False
        self.width = self.height = 0
        self.pix_fmt = self.time_base = None

    def open(self):
        error = _PYAV["fail"].get(self.name)
        if error:
            kind, errno, text, call = re.match(r"(\w+): \[Errno (\d+)\] (.*?): '(.*)'$", error).groups()
            raise globals()[kind](int(errno), text, call)
        self.is_open = True

    def encode(self, frame=None):
        if not self.is_open:
            self.open()
        if frame is not None:
            self._sent = True
            return []
        return [_Packet()] if self._sent else []
