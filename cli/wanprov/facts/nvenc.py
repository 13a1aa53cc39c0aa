"""NVENC: a real one-frame encode per codec. Encoder lists, libraries and NVML's encoder capacity are
not evidence (the recorded H100 lists all three, has libnvidia-encode and capacity 100, yet no NVENC).

Two tools: the ffmpeg binary (what VideoHelperSuite encodes with) when there is one, else PyAV in the
target interpreter (what ComfyUI's core video nodes encode with; see pyav_script.py).

Per GPU: the nvenc encoders' `gpu` option defaults to `any` ("pick the first device available"), so one
encode on an H100 + RTX 4090 host succeeds on the 4090 and says nothing about the H100. With GPUs found,
each GPU gets its own encodes with `gpu` set to its index; CUDA_DEVICE_ORDER=PCI_BUS_ID makes that index
nvidia-smi's (CUDA's default order is fastest first). The section's flat fields stay GPU 0's verdict (what
readers of the one-verdict shape expect); `gpus` holds one verdict per GPU."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
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


def encode_argv(ffmpeg: str, codec: str, gpu: int | None = None) -> list[str]:
    """One frame through `codec`; `gpu`: the CUDA device the encoder must use (None: ffmpeg's `any`)."""
    # No -hide_banner: the banner's "ffmpeg version X" saves a separate `ffmpeg -version` run (~0.1 s).
    device = [] if gpu is None else ["-gpu", str(gpu)]
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
        *device,
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


def encode_env() -> dict[str, str]:
    """The encodes' environment: CUDA numbers devices in PCI order (nvidia-smi's index), and every GPU is
    visible (a CUDA_VISIBLE_DEVICES of the caller would renumber them)."""
    env = {key: value for key, value in os.environ.items() if key != "CUDA_VISIBLE_DEVICES"}
    env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    return env


def probe(
    ffmpeg: dict[str, Any], pool: ThreadPoolExecutor | None = None, gpus: Sequence[int] = ()
) -> dict[str, Any]:
    """Encode one frame with each NVENC codec (concurrently) on each GPU in `gpus` (none: ffmpeg's `any`
    device); each verdict carries ffmpeg's own error. Fills ffmpeg["version"] from the encodes' banner."""
    if ffmpeg.get("status") != "ok":
        return {
            "status": "unknown",
            "reason": f"no ffmpeg to test with: {ffmpeg.get('reason')}",
            "tool": None,
            "encoders": {},
        }
    devices: list[int | None] = list(gpus) or [None]
    jobs = [(gpu, codec) for gpu in devices for codec in CODECS]
    runner = pool or ThreadPoolExecutor(max_workers=min(16, len(jobs)))
    env = encode_env()
    try:
        futures = {job: runner.submit(_encode, ffmpeg["path"], job[1], job[0], env) for job in jobs}
        outcomes = {job: future.result() for job, future in futures.items()}
    finally:
        if pool is None:
            runner.shutdown()
    ffmpeg["version"] = next((v for _, v in outcomes.values() if v), None)
    sections = {
        gpu: {
            "status": "ok",
            "reason": None,
            "tool": "ffmpeg",
            "binary": ffmpeg["path"],
            "encoders": {codec: outcomes[(gpu, codec)][0] for codec in CODECS},
        }
        for gpu in devices
    }
    return per_gpu(sections) if gpus else sections[None]


def per_gpu(sections: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    """GPU index -> its section => one section: the first GPU's fields flat, plus `gpus` (one entry each)."""
    first = next(iter(sections.values()))
    entries = [
        {
            "index": gpu,
            "status": section.get("status"),
            "reason": section.get("reason"),
            "encoders": section.get("encoders") or {},
        }
        for gpu, section in sections.items()
    ]
    return {**first, "gpus": entries}


def probe_pyav(python: str, *, timeout: float = PYAV_TIMEOUT_S, gpus: Sequence[int] = ()) -> dict[str, Any]:
    """The same one-frame test through PyAV in `python` (ComfyUI's venv), plus a libx264 control: one
    run per GPU in `gpus` (concurrently; none: one run on PyAV's `any` device).
    "unknown" (never an exception) when PyAV is absent, the script crashes or times out, or the control
    fails: then the nvenc failures say nothing about the GPU."""
    if not (Path(python).is_file() and os.access(python, os.X_OK)):
        return process.unknown(f"target interpreter {python} is not an executable file", **_pyav_base(python))
    env = encode_env()

    def one(gpu: int | None) -> dict[str, Any]:
        device = [] if gpu is None else [f"--gpu={gpu}"]
        argv = [python, str(PYAV_SCRIPT), *device, *CODECS, CONTROL]
        return read_pyav_output(process.run(argv, timeout=timeout, env=env), python)

    if not gpus:
        return one(None)
    with ThreadPoolExecutor(max_workers=min(8, len(gpus))) as runner:
        sections = dict(zip(gpus, runner.map(one, gpus), strict=True))
    first = next(iter(sections.values()))
    if first.get("status") == "absent":  # no PyAV at all: the same answer on every GPU
        return first
    return per_gpu(sections)


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


def _encode(
    ffmpeg: str, codec: str, gpu: int | None = None, env: dict[str, str] | None = None
) -> tuple[dict[str, Any], str | None]:
    result = process.run(encode_argv(ffmpeg, codec, gpu), timeout=TIMEOUT_S, env=env)
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
        if re.search(
            r"Unknown encoder|No capable devices|unsupported device|Cannot load|Requested GPU", line
        ):
            return line
    return lines[-1] if lines else "ffmpeg failed without a message"
