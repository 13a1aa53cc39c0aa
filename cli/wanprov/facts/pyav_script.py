# ruff: noqa: UP031 - runs under the target interpreter (any Python >= 3.8), stdlib + PyAV only
"""Runs inside the *target* interpreter (the ComfyUI venv, whose PyAV ComfyUI's core video nodes write
through): a one-frame encode per codec with PyAV's bundled FFmpeg. No numpy (a blank frame needs none).
Prints one JSON object on stdout; codecs come from argv, after an optional --gpu=N: the CUDA device the
nvenc encoders must use (their `gpu` option; without it they pick the first device that works)."""

import json
import sys
from fractions import Fraction


def _error(exc):
    return "%s: %s" % (type(exc).__name__, str(exc).strip())


def encode_one_frame(av, codec, gpu=None):
    """Listing an encoder proves nothing (the H100's PyAV lists all nvenc ones): open it and encode."""
    if codec not in av.codecs_available:
        return {"ok": False, "error": "%s is not in this PyAV's FFmpeg (av.codecs_available)" % codec}
    try:
        return _encode(av, codec, gpu)
    except Exception as exc:
        return {"ok": False, "error": _error(exc)}


def _encode(av, codec, gpu):
    context = av.CodecContext.create(codec, "w")
    if gpu is not None and codec.endswith("_nvenc"):  # the libx264 control has no `gpu` option
        context.options = {"gpu": gpu}
    context.width = 256
    context.height = 256
    context.pix_fmt = "yuv420p"
    context.time_base = Fraction(1, 1)
    context.open()  # avcodec_open2: where NVENC fails without an encoder (H100) or without libcuda
    frame = av.VideoFrame(256, 256, "yuv420p")
    frame.pts = 0
    packets = list(context.encode(frame)) + list(context.encode(None))  # None flushes
    size = sum(packet.size for packet in packets)
    if not packets or not size:
        return {"ok": False, "error": "the encoder opened but returned no packet"}
    return {"ok": True, "error": None, "packets": len(packets), "bytes": size}


def main():
    out = {"python": sys.executable, "python_version": "%d.%d.%d" % sys.version_info[:3]}
    try:
        import av
    except ImportError as exc:
        out["av_import_error"] = _error(exc)
        print(json.dumps(out))
        return
    except Exception as exc:  # a broken wheel (missing shared library) is a fact too
        out["av_import_error"] = _error(exc)
        print(json.dumps(out))
        return
    out["av"] = str(getattr(av, "__version__", "unknown"))
    try:
        import av.logging

        # PyAV silences FFmpeg's log by default; with it on, the exception carries the encoder's own
        # reason ("last error log: [h264_nvenc] Cannot load libcuda.so.1"), not just "avcodec_open2".
        av.logging.set_level(av.logging.ERROR)
    except Exception:
        pass
    args = sys.argv[1:]
    gpu = args.pop(0).split("=", 1)[1] if args and args[0].startswith("--gpu=") else None
    out["gpu"] = gpu
    out["encoders"] = {codec: encode_one_frame(av, codec, gpu) for codec in args}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
