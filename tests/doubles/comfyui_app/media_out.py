"""TEST DOUBLE part: the media an output node of a prompt writes, as the real nodes would for that prompt.

It runs no model, so the pixels are a moving gradient, but everything a reader can check is what the real
run gives: VHS_VideoCombine pipes raw RGB frames to the ffmpeg binary as VideoHelperSuite does, with the
format's encoder (libx264 yuv420p for video/h264-mp4, h264_nvenc for video/nvenc_h264-mp4: on a host
without NVENC ffmpeg fails and so does the node, as the real one does); SaveImage writes a PNG. Sizes and
counts follow the prompt's graph:
- width/height/length from the nearest WanImageToVideo / Empty*Latent* upstream; Wan's VAE decodes
  4 * ((length - 1) // 4) + 1 frames;
- an interpolation node (RIFE VFI) on the way turns n frames into (n - 1) * multiplier + 1.
Told to fail like a broken model does (COMFYUI_DOUBLE_OUTPUT): `black` writes all-black frames (what NaN
latents decode to), `short` one frame fewer than asked. Standard library only: the double runs in a venv
that has nothing else."""

import os
import shutil
import struct
import subprocess
import zlib

SIZE_NODES = {"WanImageToVideo", "EmptyLatentImage", "EmptySD3LatentImage", "EmptyHunyuanLatentVideo"}
INTERPOLATORS = {"RIFE VFI", "FILM VFI"}
ENCODERS = {
    "video/h264-mp4": ("mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    "video/nvenc_h264-mp4": ("mp4", ["-c:v", "h264_nvenc", "-pix_fmt", "yuv420p"]),
    "video/h265-mp4": ("mp4", ["-c:v", "libx265", "-pix_fmt", "yuv420p", "-tag:v", "hvc1"]),
    "video/webm": ("webm", ["-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p"]),
}


def _upstream(prompt, node_id):
    seen, queue = [], [node_id]
    while queue:
        for value in (prompt.get(queue.pop(0), {}).get("inputs") or {}).values():
            if isinstance(value, list) and len(value) == 2 and str(value[0]) not in seen:
                seen.append(str(value[0]))
                queue.append(str(value[0]))
    return [n for n in seen if n in prompt]


def shape(prompt, node_id):
    """(width, height, frames) the output node `node_id` receives."""
    upstream = _upstream(prompt, node_id)
    size = next((prompt[n] for n in upstream if prompt[n]["class_type"] in SIZE_NODES), {})
    inputs = size.get("inputs") or {}
    width, height = int(inputs.get("width", 512)), int(inputs.get("height", 512))
    length = int(inputs.get("length", inputs.get("batch_size", 1)))
    frames = 4 * ((length - 1) // 4) + 1 if size.get("class_type") == "WanImageToVideo" else length
    for n in upstream:
        if prompt[n]["class_type"] in INTERPOLATORS:
            frames = (frames - 1) * int(prompt[n]["inputs"].get("multiplier", 2)) + 1
    if os.environ.get("COMFYUI_DOUBLE_OUTPUT") == "short":
        frames -= 1
    return width, height, frames


def rgb_frame(width, height, index):
    """One RGB24 frame: a diagonal gradient that moves with the frame index (black when told)."""
    if os.environ.get("COMFYUI_DOUBLE_OUTPUT") == "black":
        return bytes(3 * width * height)
    rows = []
    for y in range(height):
        row = bytearray()
        for x in range(width):
            v = (x + y + 8 * index) % 256
            row += bytes((v, (2 * y) % 256, 255 - v))
        rows.append(bytes(row))
    return b"".join(rows)


def write_png(path, width, height):
    """SaveImage's PNG (8-bit RGB), written with zlib as PIL would."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixels = rgb_frame(width, height, 0)
    stride = 3 * width
    raw = b"".join(b"\x00" + pixels[y * stride : (y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
    path.write_bytes(data + chunk(b"IEND", b""))


def write_video(path, video_format, width, height, frames, fps):
    """VHS_VideoCombine: raw frames into ffmpeg (its own pipe, as VideoHelperSuite's ffmpeg_process)."""
    _, codec = ENCODERS.get(video_format, ENCODERS["video/h264-mp4"])
    ffmpeg = os.environ.get("VHS_FORCE_FFMPEG_PATH") or shutil.which("ffmpeg")
    if not ffmpeg:
        raise RuntimeError("VideoHelperSuite: no ffmpeg binary (install ffmpeg)")
    command = [ffmpeg, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
               "-r", str(fps), "-i", "-", *codec, "-r", str(fps), str(path)]  # fmt: skip
    data = b"".join(rgb_frame(width, height, i) for i in range(frames))
    result = subprocess.run(command, input=data, capture_output=True, check=False)
    if result.returncode != 0:
        # VideoHelperSuite's words (videohelpersuite/nodes.py ffmpeg_process)
        stderr = result.stderr.decode(errors="replace")[-500:]
        raise RuntimeError(f"An error occurred in the ffmpeg subprocess:\n{stderr}")


def extension(video_format):
    return ENCODERS.get(video_format, ENCODERS["video/h264-mp4"])[0]
