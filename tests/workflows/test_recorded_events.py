"""The websocket events a real ComfyUI 0.3.64 with the pinned packs sent during the shipped templates' runs
(tests/fixtures/comfyui/smoke_progress_events.json), replayed by the ComfyUI double: the smoke reads the
real server's events, and the double's own events have the real ones' kinds and keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workflows.comfyui_double import comfyui_double
from workflows.test_smoke import PROFILES, WAN, listed_on, profile_files, smoke

RECORDING = Path(__file__).resolve().parents[1] / "fixtures" / "comfyui" / "smoke_progress_events.json"


def real_run(name: str) -> dict:
    runs = {run["run"]: run for run in json.loads(RECORDING.read_text())["runs"]}
    return runs[name]


def test_the_recording_is_what_the_real_server_sends() -> None:
    run = real_run("wan22-i2v-gguf-lightning tier none")
    kinds = [event["type"] for event in run["events"]]
    assert kinds[-1] == "execution_success" and "execution_start" in kinds
    assert {"executing", "progress", "progress_state", "executed"} <= set(kinds)
    progressing = {e["data"]["node"] for e in run["events"] if e["type"] == "progress"}
    # each sampler's steps, and VideoHelperSuite's frames while it encodes
    classes = {run["prompt"][node]["class_type"] for node in progressing}
    assert classes == {"KSamplerAdvanced", "VHS_VideoCombine"}
    times = [event["t"] for event in run["events"]]
    assert times == sorted(times)


@pytest.mark.parametrize("name", ["wan22-i2v-gguf-lightning tier none"])
def test_the_double_replays_the_real_events_and_the_smoke_reads_them(
    tmp_path, object_info_path, name
) -> None:
    run = real_run(name)
    # without the connect-time status (it carries the socket's sid) and the binary previews
    events = [
        [e["type"], e["data"]] for e in run["events"] if e["type"] != "binary" and "sid" not in e["data"]
    ]
    recorded = tmp_path / "events.json"
    recorded.write_text(json.dumps(events))
    lists = listed_on(tmp_path / "models-host", profile_files(PROFILES[WAN]))
    env = {"COMFYUI_DOUBLE_EVENTS": str(recorded)}
    with comfyui_double(tmp_path, object_info_path, file_lists=lists, env=env) as (url, _):
        result, report = smoke(url, WAN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["timeline"]["ended_by"] == "execution_success"
    assert report["stages"], report


def test_the_real_server_ran_one_of_two_identical_text_encodes_and_so_does_the_double(
    tmp_path, object_info_path
) -> None:
    """The real cold Flux smoke: its two CLIPTextEncode nodes had the same inputs (the smoke's negative is
    the positive) and the server ran one of them; the double, given the same smoke, runs the same nodes."""
    run = real_run("flux1-schnell tier none")
    prompt = run["prompt"]
    encodes = {n for n, node in prompt.items() if node["class_type"] == "CLIPTextEncode"}
    assert len(encodes) == 2 and len({json.dumps(prompt[n]["inputs"]) for n in encodes}) == 1
    cached = [e["data"]["nodes"] for e in run["events"] if e["type"] == "execution_cached"]
    assert cached == [[]]  # cold: nothing from an earlier prompt
    real = {e["data"]["node"] for e in run["events"] if e["type"] == "executing" and e["data"]["node"]}
    assert len(real & encodes) == 1
    lists = listed_on(tmp_path / "models-host", profile_files(PROFILES["flux1-schnell"]))
    with comfyui_double(tmp_path, object_info_path, file_lists=lists) as (url, _):
        result, report = smoke(url, "flux1-schnell", "--tier", "none")
    assert result.returncode == 0, result.stdout + result.stderr
    double = {n["node_id"] for n in report["timeline"]["nodes"]}
    assert len(double & encodes) == 1 and double - encodes == real - encodes
