"""NVENC: a real one-frame encode per codec. Encoder lists, libraries and NVML's encoder capacity are
not evidence (the recorded H100 lists all three, has libnvidia-encode and capacity 100, yet no NVENC)."""

from __future__ import annotations

import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from wanprov.facts import process

CODECS = ("h264_nvenc", "hevc_nvenc", "av1_nvenc")
TIMEOUT_S = 20.0


def encode_argv(ffmpeg: str, codec: str) -> list[str]:
    # No -hide_banner: the banner's "ffmpeg version X" saves a separate `ffmpeg -version` run (~0.1 s).
    return [
        ffmpeg,
        "-nostdin",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=256x256:rate=1",
        "-frames:v",
        "1",
        "-c:v",
        codec,
        "-f",
        "null",
        "-",
    ]


def probe_ffmpeg(*, version: bool = False) -> dict[str, Any]:
    """Where ffmpeg is; its version only when asked (the NVENC encodes report it for free)."""
    path = shutil.which("ffmpeg")
    if path is None:
        return {"status": "absent", "reason": "ffmpeg not found on PATH", "path": None, "version": None}
    facts = {"status": "ok", "reason": None, "path": path, "version": None}
    if version:
        result = process.run([path, "-version"], timeout=TIMEOUT_S)
        facts["version"] = parse_version(result.stdout)
        if not result.ok:
            facts.update(
                status="unknown", reason=result.error or f"ffmpeg -version failed (rc={result.returncode})"
            )
    return facts


def parse_version(text: str) -> str | None:
    match = re.search(r"ffmpeg version (\S+)", text)
    return match.group(1) if match else None


def probe(ffmpeg: dict[str, Any], pool: ThreadPoolExecutor | None = None) -> dict[str, Any]:
    """Encode one frame with each NVENC codec (concurrently); each verdict carries ffmpeg's own error.
    Fills ffmpeg["version"] from the encodes' banner."""
    if ffmpeg.get("status") != "ok":
        return {
            "status": "unknown",
            "reason": f"no ffmpeg to test with: {ffmpeg.get('reason')}",
            "tool": None,
            "encoders": {},
        }
    runner = pool or ThreadPoolExecutor(max_workers=len(CODECS))
    try:
        futures = {codec: runner.submit(_encode, ffmpeg["path"], codec) for codec in CODECS}
        outcomes = {codec: future.result() for codec, future in futures.items()}
    finally:
        if pool is None:
            runner.shutdown()
    encoders = {codec: verdict for codec, (verdict, _banner) in outcomes.items()}
    ffmpeg["version"] = next((v for _, v in outcomes.values() if v), None)
    return {"status": "ok", "reason": None, "tool": "ffmpeg", "encoders": encoders}


def _encode(ffmpeg: str, codec: str) -> tuple[dict[str, Any], str | None]:
    result = process.run(encode_argv(ffmpeg, codec), timeout=TIMEOUT_S)
    banner = parse_version(result.stderr)
    if result.ok:
        return {"ok": True, "error": None}, banner
    return {"ok": False, "error": result.error or failure_reason(result.stderr)}, banner


def failure_reason(stderr: str) -> str:
    """The line where the encoder itself says why it failed ("[h264_nvenc @ 0x..] Cannot load
    libcuda.so.1", "... OpenEncodeSessionEx failed: unsupported device (2)"), not ffmpeg's generic tail."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        own = re.match(r"\[\w+ @ 0x[0-9a-f]+\]\s*(.+)", line)
        if own:
            return own.group(1)
    for line in lines:
        if re.search(r"Unknown encoder|No capable devices|unsupported device|Cannot load", line):
            return line
    return lines[-1] if lines else "ffmpeg failed without a message"
