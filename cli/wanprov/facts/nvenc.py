"""NVENC: a real one-frame encode per codec. Encoder lists, libraries and NVML's encoder capacity are
not evidence (the recorded H100 lists all three, has libnvidia-encode and capacity 100, yet no NVENC).

Two tools: the ffmpeg binary (what VideoHelperSuite encodes with) when there is one, else PyAV in the
target interpreter (what ComfyUI's core video nodes encode with; see pyav_script.py)."""

from __future__ import annotations

import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from wanprov.facts import process
from wanprov.strict import loads_json

CODECS = ("h264_nvenc", "hevc_nvenc", "av1_nvenc")
CONTROL = "libx264"  # the PyAV control: proves the encode path works, so an nvenc failure means something
TIMEOUT_S = 20.0
PYAV_TIMEOUT_S = 30.0  # a Python start, `import av` and four encoders opened one after the other
PYAV_SCRIPT = Path(__file__).with_name("pyav_script.py")
FFMPEG_ENV = "WANPROV_FFMPEG"  # an ffmpeg outside PATH; "none": test through PyAV only


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
    chosen = os.environ.get(FFMPEG_ENV, "").strip()
    if chosen.lower() == "none":
        return {"status": "absent", "reason": f"{FFMPEG_ENV}=none", "path": None, "version": None}
    path = shutil.which(chosen or "ffmpeg")
    if path is None:
        where = f"{FFMPEG_ENV}={chosen} is not an executable" if chosen else "ffmpeg not found on PATH"
        return {"status": "absent", "reason": where, "path": None, "version": None}
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
    return {"status": "ok", "reason": None, "tool": "ffmpeg", "binary": ffmpeg["path"], "encoders": encoders}


def probe_pyav(python: str, *, timeout: float = PYAV_TIMEOUT_S) -> dict[str, Any]:
    """The same one-frame test through PyAV in `python` (ComfyUI's venv), plus a libx264 control.
    "unknown" (never an exception) when PyAV is absent, the script crashes or times out, or the control
    fails: then the nvenc failures say nothing about the GPU."""
    if not (Path(python).is_file() and os.access(python, os.X_OK)):
        return process.unknown(f"target interpreter {python} is not an executable file", **_pyav_base(python))
    return read_pyav_output(
        process.run([python, str(PYAV_SCRIPT), *CODECS, CONTROL], timeout=timeout), python
    )


def read_pyav_output(result: process.Result, python: str) -> dict[str, Any]:
    """The PyAV script's output -> the `nvenc` section; anything malformed is "unknown", never an error."""
    base = _pyav_base(python)
    if result.returncode is None:
        return process.unknown(f"PyAV probe: {result.error or 'did not run'}", **base)
    try:
        raw = loads_json(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError, RecursionError):
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        return process.unknown(f"PyAV probe crashed (rc={result.returncode}): {tail[0]}", **base)
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("av_import_error", ""), str)
        or not isinstance(raw.get("av", ""), str)
    ):
        return process.unknown("PyAV probe printed an unexpected document", **base)
    if "av" not in raw:
        error = raw.get("av_import_error") or "PyAV is not installed"
        missing = error.startswith(("ModuleNotFoundError", "ImportError: No module"))
        return {"status": "absent" if missing else "unknown", "reason": f"PyAV in {python}: {error}", **base}
    results = raw.get("encoders") if isinstance(raw.get("encoders"), dict) else {}
    verdicts = {codec: _verdict(results.get(codec)) for codec in (*CODECS, CONTROL)}
    base.update(
        av_version=raw["av"],
        encoders={codec: verdicts[codec] for codec in CODECS},
        control={CONTROL: verdicts[CONTROL]},
    )
    control = verdicts[CONTROL]
    if not control["ok"]:
        return process.unknown(
            f"the {CONTROL} control encode failed through PyAV {raw['av']} ({control['error']}), so "
            "its nvenc failures say nothing about the GPU",
            **base,
        )
    return {"status": "ok", "reason": None, **base}


def _pyav_base(python: str) -> dict[str, Any]:
    return {"tool": "pyav", "python": python, "av_version": None, "encoders": {}}


def _verdict(result: Any) -> dict[str, Any]:
    if not isinstance(result, dict):
        return {"ok": False, "error": "the PyAV probe returned no verdict"}
    ok, error = result.get("ok") is True, result.get("error")
    return {"ok": ok, "error": None if ok or error is None else str(error)[:500]}


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
