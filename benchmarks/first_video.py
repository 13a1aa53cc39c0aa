"""Bare host to first verified video, on the REAL stack: ComfyUI and the six node packs at their pins (as
real_stack_converge.py gets them), the weights double (tests/doubles/weights: real formats, fake values)
served by the Hub double, and site.yml from preflight to health with the smoke on. Then every shipped
template option runs to a finished output on the same server, each output checked with ffprobe.

It prints:
- the seconds of each phase (weights double, site.yml, the health smoke inside it) and bare host to first
  verified video (the start of site.yml to ffprobe's verdict on the health smoke's output);
- per run (template, tier, options): POST to output seconds, each stage's seconds from ComfyUI's own
  websocket events (model load, text encode, image encode, each sampler, VAE decode, interpolation,
  encode), and ffprobe's line for the output (codec, width x height, frames, fps) plus whether its pixels
  vary (an all-black or constant output is what NaN upstream gives, with history status "success").

    .venv/bin/python benchmarks/first_video.py --mirrors /work/.mirror \\
        --torch-wheel /opt/pypi-more/files/torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl \\
        --wheel /opt/pypi-more/files/torchvision-0.29.1-cp311-cp311-manylinux_2_28_x86_64.whl \\
        --wheel /tmp/wheels/torchaudio-2.11.1-py3-none-manylinux_2_28_x86_64.whl \\
        --wheel /tmp/wheels/triton-3.8.0-... --wheel /tmp/wheels/cuda_bindings-13.5.0-... \\
        --torch 2.14.1 --torchvision 0.29.1 --torchaudio 2.11.1 [--record-events DIR]

`--real-weights` (on a GPU host with the Hub reachable): no weights double, no Hub double, the shipped
catalog; the torch options then name that host's wheels. Steps and figures: docs/first-video.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT / "tests"), str(REPO_ROOT / "cli"), str(Path(__file__).resolve().parent)]

from doubles.fleet import RecapCounts, run_playbook  # noqa: E402
from real_stack_converge import add_real_stack_options, real_stack_host  # noqa: E402
from wanprov.stack.manifest import load_comfyui  # noqa: E402

SITE = REPO_ROOT / "site.yml"
HOST = "first-video"  # not real_stack_converge.py's "real": each has its own service user
# the test-only process supervisor that started the instance (comfyui_service_manager: process)
SUPERVISE = [sys.executable, "-m", "wanprov.service.supervise"]
RECORDER = Path(__file__).resolve().parent / "comfyui_ws_record.py"
# The runs after the health smoke: every shipped template at each VRAM tier it declares (a tier picks the
# quant, the preset, the frame count, RIFE and fps) and at each preset no tier picks, plus TeaCache where a
# template offers it; each at its smoke size (the run scaled down: workflows/smoke_size.py). The video
# format is the software one: this host has no NVENC (render picks NVENC only where the host's encoder works).
# (template, tier, preset or None, options)
RUNS: list[tuple[str, str, str | None, dict[str, Any]]] = [
    ("wan22-i2v-gguf-lightning", "none", None, {}),  # Q3_K_S, 480p
    ("wan22-i2v-gguf-lightning", "small", None, {}),  # Q3_K_S, 480p, RIFE x2, 12 fps
    ("wan22-i2v-gguf-lightning", "medium", None, {}),  # Q4_K_M, 480p, 41 frames
    ("wan22-i2v-gguf-lightning", "large", None, {}),  # Q5_K_S, 720p, 41 frames
    ("wan22-i2v-gguf-lightning", "xlarge", None, {}),  # Q5_K_S, 720p, 81 frames
    ("wan22-i2v-gguf-lightning", "none", "1mp", {}),  # the preset no tier picks
    ("flux1-schnell", "none", None, {}),  # 1mp (cold: the server restarts between the families)
    ("flux1-schnell", "small", None, {}),  # 480p
    ("flux1-schnell", "none", "720p", {}),  # the preset no tier picks
    ("flux1-schnell", "none", None, {"teacache": True}),
]
PROFILES_USED = (
    "wan22-i2v-a14b-q3-lightning",
    "wan22-i2v-a14b-q4km-lightning",
    "wan22-i2v-a14b-q5-lightning",
    "flux1-schnell",
)
STAGES = {
    "UnetLoaderGGUF": "model load",
    "UNETLoader": "model load",
    "CLIPLoader": "model load",
    "DualCLIPLoader": "model load",
    "VAELoader": "model load",
    "CheckpointLoaderSimple": "model load",
    "LoraLoaderModelOnly": "model load",
    "CLIPTextEncode": "text encode",
    "WanImageToVideo": "image encode",
    "KSampler": "sampler",
    "VAEDecode": "VAE decode",
    "RIFE VFI": "interpolation",
    "VHS_VideoCombine": "video encode",
    "SaveImage": "image save",
}


def log(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def generate_weights(weights_dir: Path, comfyui_git: Path, commit: str) -> tuple[Path, Path, float]:
    """The weights double of every profile the runs use (kept between runs: only missing files are
    written). The umt5 file carries ComfyUI's own SentencePiece model, from the pinned checkout."""
    from doubles.weights import Options, generate, shipped_profiles

    spiece = subprocess.run(
        ["git", "--git-dir", str(comfyui_git), "show",
         f"{commit}:comfy/text_encoders/t5_pile_tokenizer/tokenizer.model"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    start = time.perf_counter()
    manifest = generate(
        weights_dir / "hub", weights_dir / "manifest", shipped_profiles(PROFILES_USED),
        Options(spiece_model=spiece), log=log,
    )  # fmt: skip
    return weights_dir / "hub", manifest, time.perf_counter() - start


def ffprobe(path: Path) -> dict[str, Any]:
    """ffprobe's facts of the first video stream, and whether the pixels vary (ffmpeg signalstats:
    a constant frame has YMIN == YMAX)."""
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
         "stream=codec_name,width,height,nb_read_frames,r_frame_rate,pix_fmt:format=format_name,duration",
         "-of", "json", str(path)],
        capture_output=True, text=True,
    )  # fmt: skip
    if probe.returncode != 0:
        return {"ok": False, "error": probe.stderr.strip()[-500:]}
    document = json.loads(probe.stdout)
    stream = (document.get("streams") or [{}])[0]
    stats = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vf", "signalstats,metadata=print:file=-",
         "-f", "null", "-"],
        capture_output=True, text=True,
    )  # fmt: skip
    # by pattern, not by line: a PNG's own text chunks (ComfyUI's prompt) are printed in the same stream
    ymin = [float(v) for v in re.findall(r"lavfi\.signalstats\.YMIN=([\d.]+)", stats.stdout)]
    ymax = [float(v) for v in re.findall(r"lavfi\.signalstats\.YMAX=([\d.]+)", stats.stdout)]
    alive = bool(ymin) and all(hi - lo >= 8 for lo, hi in zip(ymin, ymax, strict=True))
    return {
        "ok": bool(stream) and alive,
        "format": document.get("format", {}).get("format_name"),
        "codec": stream.get("codec_name"),
        "width": stream.get("width"),
        "height": stream.get("height"),
        "frames": int(stream.get("nb_read_frames") or 0),
        "fps": stream.get("r_frame_rate"),
        "pix_fmt": stream.get("pix_fmt"),
        "pixels_vary": alive,
        "luma_range": [min(ymin or [0]), max(ymax or [0])],
    }


def ffprobe_line(path: Path, facts: dict[str, Any]) -> str:
    if "codec" not in facts:
        return f"{path}: ffprobe failed: {facts.get('error')}"
    return (
        f"{path.name}: {facts['format']} {facts['codec']} {facts['width']}x{facts['height']} "
        f"{facts['frames']} frame(s) at {facts['fps']} fps, {facts['pix_fmt']}, "
        f"luma {facts['luma_range'][0]:g}-{facts['luma_range'][1]:g} "
        f"({'pixels vary' if facts['pixels_vary'] else 'CONSTANT: dead output'})"
    )


def stage_seconds(recording: dict[str, Any]) -> dict[str, float]:
    """Seconds per stage from the websocket: a node runs from its `executing` event to the next one (or
    to execution_success); samplers are told apart by their position (high noise first)."""
    prompt = (recording.get("history") or {}).get("prompt", [None, None, {}])[2]
    marks = [(e["t"], (e["data"] or {}).get("node")) for e in recording["events"] if e["type"] == "executing"]
    marks += [(e["t"], None) for e in recording["events"] if e["type"] == "execution_success"]
    marks.sort(key=lambda m: m[0])
    seconds: dict[str, float] = {}
    samplers = 0
    for (start, node), (end, _) in itertools.pairwise(marks):
        if node is None:
            continue
        class_type = prompt.get(node, {}).get("class_type", node)
        stage = STAGES.get(class_type, STAGES.get(class_type.removesuffix("Advanced"), class_type))
        if stage == "sampler":
            samplers += 1
            stage = f"sampler {samplers}"
        seconds[stage] = round(seconds.get(stage, 0.0) + end - start, 2)
    return seconds


def fixture_of(recording: dict[str, Any], label: str) -> dict[str, Any]:
    """A recording as a test fixture: the events in order with their seconds since the POST; ids,
    timestamps, the socket's sid and host paths replaced by placeholders (the other values as sent)."""
    prompt_id = recording.get("prompt_id") or "<none>"

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ("<timestamp>" if k == "timestamp" else "<sid>" if k == "sid" else clean(v))
                    for k, v in value.items()}  # fmt: skip
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, str):
            return "<prompt_id>" if value == prompt_id else ("<path>" if value.startswith("/") else value)
        return value

    history = recording.get("history") or {}
    return {
        "run": label,
        "prompt": clean(history.get("prompt", [None, None, {}])[2]),
        "events": clean(recording["events"]),
        "history_status": clean(history.get("status")),
        "history_outputs": clean(history.get("outputs")),
    }


def render_prompt(
    template: str, tier: str, preset: str | None, options: dict[str, Any], out: Path
) -> dict[str, Any]:
    from wanprov.workflows.params import load_defaults
    from wanprov.workflows.render import render
    from wanprov.workflows.smoke_size import smoke_overrides

    # no NVENC unless the run asks for it (--nvenc: a host whose encoder works)
    nvenc = options.pop("nvenc", False) if "nvenc" in load_defaults()[1][template].params else None
    overrides = smoke_overrides(template, tier=tier, preset=preset, overrides=options)
    rendered = render(template, tier=tier, preset=preset, nvenc=nvenc, overrides=overrides)
    out.write_text(json.dumps(rendered.prompt, indent=1))
    keys = ("preset", "width", "height", "length", "fps", "steps", "rife", "teacache", "nvenc")
    return {"profile": rendered.profile, **{k: rendered.params[k] for k in keys if k in rendered.params}}


def server_cpu_seconds(port: int) -> float | None:
    """user+sys seconds of the ComfyUI server on `port` (its main.py process), its waited-for children
    (VideoHelperSuite's ffmpeg) included: /proc/<pid>/stat utime, stime, cutime, cstime."""
    tick = os.sysconf("SC_CLK_TCK")
    total = None
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if not any(a.endswith(b"main.py") for a in argv) or str(port).encode() not in argv:
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total = (total or 0.0) + sum(int(f) for f in fields[11:15]) / tick
    return total


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_one(venv_python: Path, url: str, output_dir: Path, run: tuple[str, str, str | None, dict[str, Any]],
            work: Path) -> dict[str, Any]:  # fmt: skip
    template, tier, preset, options = run
    label = f"{template} tier {tier}" + (f" preset {preset}" if preset else "")
    label += "".join(f" {k}={v}" for k, v in options.items())
    slug = label.replace(" ", "_").replace("=", "-")
    params = render_prompt(template, tier, preset, dict(options), work / f"{slug}.json")
    port = int(url.rsplit(":", 1)[1])
    cpu_before, load_before = server_cpu_seconds(port), load_average()
    start = time.perf_counter()
    recorded = subprocess.run(
        [str(venv_python), str(RECORDER), "--url", url, "--prompt", str(work / f"{slug}.json"),
         "--out", str(work / f"{slug}.events.json"), "--timeout", "1800"],
        capture_output=True, text=True,
    )  # fmt: skip
    seconds = round(time.perf_counter() - start, 1)
    cpu_after = server_cpu_seconds(port)
    recording = (
        json.loads((work / f"{slug}.events.json").read_text()) if recorded.returncode in (0, 1) else {}
    )
    history = recording.get("history") or {}
    status = (history.get("status") or {}).get("status_str")
    result: dict[str, Any] = {"run": label, "params": params, "status": status, "seconds": seconds,
                              "server_cpu_s": None if cpu_before is None or cpu_after is None
                              else round(cpu_after - cpu_before, 1),
                              "load": f"{load_before} -> {load_average()}",
                              "events": str(work / f"{slug}.events.json")}  # fmt: skip
    cached = [e for e in recording.get("events", []) if e["type"] == "execution_cached"]
    result["cached_nodes"] = sorted({n for e in cached for n in (e["data"] or {}).get("nodes", [])}, key=str)
    if recording.get("events"):
        (work / f"{slug}.fixture.json").write_text(json.dumps(fixture_of(recording, label), indent=1) + "\n")
    if status != "success":
        messages = (history.get("status") or {}).get("messages") or []
        result["error"] = next((m[1] for m in messages if m[0] == "execution_error"), recording.get("post"))
        result["stderr"] = recorded.stderr[-2000:]
        return result
    result["stages"] = stage_seconds(recording)
    files = []
    for ui in history.get("outputs", {}).values():
        for item in ui.get("gifs", []) + ui.get("images", []):
            files.append(output_dir / item.get("subfolder", "") / item["filename"])
    result["outputs"] = []
    for path in files:
        facts = ffprobe(path)
        result["outputs"].append({"path": str(path), **facts, "line": ffprobe_line(path, facts)})
    result["verified"] = bool(files) and all(o["ok"] for o in result["outputs"])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_real_stack_options(parser)
    parser.add_argument("--weights-dir", type=Path, default=Path("/tmp/wanprov-weights-double"),
                        help="where the weights double is generated and kept between runs")  # fmt: skip
    parser.add_argument("--real-weights", action="store_true", help="the shipped catalog from the real Hub")
    parser.add_argument("--only-smoke", action="store_true", help="stop after the health smoke")
    parser.add_argument("--template", action="append", help="run only these templates after the smoke")
    parser.add_argument("--no-smoke", action="store_true", help="skip the first video (straight to the runs)")
    parser.add_argument("--record-events", type=Path, help="copy each run's websocket recording here")
    parser.add_argument("--keep", action="store_true", help="leave the host and its service running")
    parser.add_argument(
        "--nvenc", action="store_true", help="also run the NVENC video format (a host whose NVENC encodes)"
    )
    opts = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="wanprov-first-video-", dir="/tmp"))
    base.chmod(0o755)
    figures: dict[str, Any] = {"base": str(base)}
    comfyui = load_comfyui()
    comfyui_git = opts.mirrors / "Comfy-Org+ComfyUI" / "repo"

    hub = None
    if not opts.real_weights:
        from doubles.hub import HubServer

        hub_root, manifest, generated_s = generate_weights(opts.weights_dir, comfyui_git, comfyui.commit)
        figures["weights_double_s"] = round(generated_s, 1)
        hub = HubServer(hub_root).start()
        log(f"weights double: {manifest} ({generated_s:.1f} s), served by the Hub double at {hub.url}")

    extra_vars: dict[str, object] = {"health_smoke": True, "health_smoke_timeout": 1800}
    if hub is not None:
        extra_vars.update({"models_manifest": str(manifest), "models_hf_endpoint": hub.url})
    fleet, root, host_vars = real_stack_host(opts, base, extra_vars, host=HOST)
    log(f"host root {root}; inventory {fleet.inventory}")

    port = host_vars["comfyui_port"]
    url = f"http://127.0.0.1:{port}"
    try:
        start = time.perf_counter()
        result = run_playbook(fleet, SITE, timeout=5400)
        figures["site_s"] = round(time.perf_counter() - start, 1)
        (base / "site.log").write_text(result.stdout + "\n--- stderr ---\n" + result.stderr)
        figures["site_recap"] = dataclasses.asdict(result.recap.get(HOST, RecapCounts()))
        log(f"site.yml: rc={result.rc} {figures['site_s']} s {figures['site_recap']} (log {base}/site.log)")
        if result.rc != 0:  # nothing to smoke: say why and stop
            print(result.stdout[-6000:])
            return 1
        # the fleet report's default folder (fleet_report_path is the controller's: playbooks/reports)
        health = json.loads((REPO_ROOT / "playbooks/reports/instance-health.json").read_text())
        smoke = _find_smoke(health)
        output_dir = root / "var/lib/comfyui/cpu/output"
        if smoke is None and not opts.no_smoke:
            # health runs its smoke only on a GPU instance (VRAM tier not none): a --cpu instance gets none,
            # so the same smoke is run here, as `wanprov workflow smoke` with the host's profile
            profile = _find_key(health, "profile") or _find_key(
                json.loads((REPO_ROOT / "playbooks/reports/fleet-report.json").read_text()), "profile"
            )
            log(f"health ran no smoke (a --cpu instance): wanprov workflow smoke, profile {profile}")
            cpu_before, load_before = server_cpu_seconds(int(port)), load_average()
            ran = subprocess.run(
                [str(REPO_ROOT / ".venv/bin/wanprov"), "workflow", "smoke", "wan22-i2v-gguf-lightning",
                 "--url", url, "--format", "json", "--timeout", "1800",
                 *(["--profile", profile] if profile else [])],
                capture_output=True, text=True,
            )  # fmt: skip
            smoke = json.loads(ran.stdout) if ran.stdout.strip() else {"error": ran.stderr[-2000:]}
            figures["smoke_by_hand"] = True
            cpu_after = server_cpu_seconds(int(port))
            if cpu_before is not None and cpu_after is not None:
                figures["smoke_server_cpu_s"] = round(cpu_after - cpu_before, 1)
            figures["smoke_load"] = f"{load_before} -> {load_average()}"
        figures["health_smoke"] = {
            k: (smoke or {}).get(k) for k in ("ok", "status", "seconds", "output", "params", "stages")
        }
        stages = figures["health_smoke"].get("stages") or {}
        if stages:
            figures["smoke_dominant_stage"] = max(stages, key=stages.get)
        if not opts.no_smoke:
            log(
                f"smoke: {json.dumps(figures['health_smoke'])} server CPU "
                f"{figures.get('smoke_server_cpu_s')} s, load {figures.get('smoke_load')}"
            )
        first = _first_output(smoke, output_dir)
        if first is not None:
            facts = ffprobe(first)
            figures["first_video_s"] = round(time.perf_counter() - start, 1)
            figures["first_video"] = ffprobe_line(first, facts)
            figures["first_video_verified"] = facts["ok"]
            log(f"bare host -> first verified video: {figures['first_video_s']} s: {figures['first_video']}")
        else:
            log(f"the smoke left no output: {json.dumps(smoke)[:2000]}")
        if result.rc != 0:
            print(result.stdout[-6000:])
        if opts.only_smoke:
            print(json.dumps(figures, indent=2))
            return 0 if figures.get("first_video_verified") else 1

        # The installed workflows name ComfyUI's own example.png: put it in the instance's input folder.
        input_dir = root / "var/lib/comfyui/input"
        if not (input_dir / "example.png").is_file():
            shutil.copy(root / "opt/comfyui/ComfyUI/input/example.png", input_dir / "example.png")
            log(f"input image: copied ComfyUI's input/example.png into {input_dir}")
        # site.yml fetched the host's own profile; the runs use the other tiers' profiles and Flux's too,
        # fetched the same way (`wanprov fetch-models`, from the same Hub)
        for profile in PROFILES_USED:
            fetched = subprocess.run(
                [str(REPO_ROOT / ".venv/bin/wanprov"), "fetch-models", "--profile", profile,
                 *(["--manifest", str(manifest)] if hub is not None else []),
                 "--models-dir", str(root / "srv/models"),
                 "--custom-nodes-dir", str(root / "opt/comfyui/ComfyUI/custom_nodes")],
                env={**os.environ, **({"HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_XET": "1"} if hub else {})},
                capture_output=True, text=True,
            )  # fmt: skip
            last = fetched.stdout.strip().splitlines()[-1:]
            log(f"fetch-models {profile}: exit {fetched.returncode} {last}")
        venv_python = root / "opt/comfyui/venv/bin/python"
        work = base / "runs"
        work.mkdir()
        figures["runs"] = []
        family = None
        runs = RUNS + ([("wan22-i2v-gguf-lightning", "none", None, {"nvenc": True})] if opts.nvenc else [])
        if not opts.nvenc:
            figures["nvenc"] = "not run: no NVENC (no NVIDIA driver here; an H100, the GPU double, has none)"
            log(f"NVENC format {figures['nvenc']}")
        for run_spec in runs:
            template = run_spec[0]
            if opts.template and template not in opts.template:
                continue
            if family is not None and family != template:
                restart(root, url)  # one family's models out of RAM before the next's (6-9 GB each)
            family = template
            log(f"run {run_spec}")
            run = run_one(venv_python, url, output_dir, run_spec, work)
            figures["runs"].append(run)
            keys = ("run", "status", "seconds", "server_cpu_s", "load", "params", "stages", "error")
            log(json.dumps({k: run.get(k) for k in keys}))
            for output in run.get("outputs", []):
                log("  ffprobe: " + output["line"])
            if opts.record_events:
                opts.record_events.mkdir(parents=True, exist_ok=True)
                fixture = Path(run["events"].replace(".events.json", ".fixture.json"))
                if fixture.is_file():
                    shutil.copy(fixture, opts.record_events / fixture.name)
        (base / "figures.json").write_text(json.dumps(figures, indent=2))
        print(json.dumps(figures, indent=2))
        ok = (opts.no_smoke or figures.get("first_video_verified")) and all(
            r.get("verified") for r in figures["runs"]
        )
        return 0 if ok else 1
    finally:
        if not opts.keep:
            for launch in sorted((root / "var/lib/comfyui").glob("*/comfyui-launch.json")):
                subprocess.run([*SUPERVISE, "stop", str(launch)], check=False)
            fleet.stop()
            if hub is not None:
                hub.stop()


def restart(root: Path, url: str) -> None:
    """Restart the instance's service (the process supervisor of this test host) and wait for it."""
    import urllib.request

    launch = root / "var/lib/comfyui/cpu/comfyui-launch.json"
    subprocess.run([*SUPERVISE, "stop", str(launch)], check=True)
    time.sleep(5)  # ComfyUI takes about 4 s to let its port go after SIGTERM
    subprocess.run([*SUPERVISE, "start", str(launch)], check=True)
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"{url}/system_stats", timeout=2):
                log("ComfyUI restarted")
                return
        except OSError:
            time.sleep(1)
    raise RuntimeError("ComfyUI did not come back after a restart")


def _find_key(document: Any, key: str) -> Any:
    if isinstance(document, dict):
        if document.get(key):
            return document[key]
        values = list(document.values())
    elif isinstance(document, list):
        values = document
    else:
        return None
    for value in values:
        found = _find_key(value, key)
        if found:
            return found
    return None


def _find_smoke(document: Any) -> dict[str, Any] | None:
    """The first smoke report anywhere in instance-health.json (its layout is the fleet report's)."""
    if isinstance(document, dict):
        if document.get("schema", "").startswith("wanprov.workflow-smoke/"):
            return document
        if isinstance(document.get("smoke"), dict):
            return document["smoke"]
        values = document.values()
    elif isinstance(document, list):
        values = document
    else:
        return None
    for value in values:
        found = _find_smoke(value)
        if found:
            return found
    return None


def _first_output(smoke: dict[str, Any] | None, output_dir: Path) -> Path | None:
    for output in (smoke or {}).get("outputs") or []:
        name = output if isinstance(output, str) else output.get("path") or output.get("filename")
        if name:
            path = Path(name)
            return path if path.is_absolute() else output_dir / path
    return None


if __name__ == "__main__":
    sys.exit(main())
