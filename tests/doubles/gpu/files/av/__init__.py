# ruff: noqa: UP031 - imported by the target interpreter (any Python >= 3.8)
"""Fake PyAV (a test double), just the API wanprov's NVENC probe uses: `codecs_available`,
`CodecContext.create(name, "w")` + `open()` / `encode(frame)`, `VideoFrame(w, h, fmt)`, `logging`.
Reads ../../host.json: an nvenc encoder opens on the CUDA device its `gpu` option names (context.options,
as real PyAV passes them to avcodec_open2; default: the first device that can) and fails where that GPU
has no NVENC (host.json "gpus"), with "pyav"'s error text (the recorded H100 replays nvenc-pyav.txt's).
Errors are OSError subclasses shaped like PyAV's ("[Errno N] text: 'avcodec_open2("codec", {options})'")."""

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


def _cuda_devices():
    """The GPUs in CUDA's order (fastest first unless CUDA_DEVICE_ORDER=PCI_BUS_ID), as the fake ffmpeg."""
    devices = list(_HOST.get("gpus") or [])
    if os.environ.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID":
        devices.sort(key=lambda d: tuple(int(x) for x in d["cc"].split(".")), reverse=True)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        picked = []
        for token in visible.split(","):
            token = token.strip()
            if not token.isdigit() or int(token) >= len(devices):
                break
            picked.append(devices[int(token)])
        devices = picked
    return devices


def _encodes(name, gpu):
    """Whether nvenc encoder `name` opens with `gpu` (its option: an index, "any" or None)."""
    devices = _cuda_devices()
    chosen = -1 if gpu in (None, "any", "-1") else int(gpu)
    if chosen >= len(devices):
        return False
    tried = devices if chosen == -1 else [devices[chosen]]
    return any(d["nvenc"] and (name != "av1_nvenc" or d.get("nvenc_av1", True)) for d in tried)


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
        self.options = {}

    def open(self):
        options = {str(k): str(v) for k, v in (self.options or {}).items()}
        if self.name.endswith("_nvenc"):
            error = None if _encodes(self.name, options.get("gpu")) else _PYAV["fail"].get(self.name)
        else:
            error = _PYAV["fail"].get(self.name)
        if error:
            kind, errno, text, call = re.match(r"(\w+): \[Errno (\d+)\] (.*?): '(.*)'$", error).groups()
            # real PyAV names the options it passed: avcodec_open2("h264_nvenc", {'gpu': '1'})
            call = call.replace("{}", repr(options))
            raise globals()[kind](int(errno), text, call)
        self.is_open = True

    def encode(self, frame=None):
        if not self.is_open:
            self.open()
        if frame is not None:
            self._sent = True
            return []
        return [_Packet()] if self._sent else []
