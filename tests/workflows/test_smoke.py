"""`wanprov workflow smoke` against the ComfyUI double, which validates, queues, "runs" and records history
like ComfyUI 0.3.64. The double first has to answer the recorded validation cases exactly as the real server
did (prompt_validation_responses.json), so the smoke is not tested against something kinder."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from wanprov.exit_codes import ExitCode
from wanprov.models.catalog import profile_roles
from wanprov.workflows.model_folders import HostFolders, load_file_inputs
from workflows.comfyui_double import comfyui_double, get, post
from workflows.test_validator import NODE_CASES, mutate
from workflows.workflow_cli import run_workflow

WAN = "wan22-i2v-gguf-lightning"
PROFILES = {WAN: "wan22-i2v-a14b-q5-lightning", "flux1-schnell": "flux1-schnell"}


def listed_on(comfy: Path, names_by_folder: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
    """What a real ComfyUI at `comfy` lists per loader input once these files are in its models folders."""
    for folder, names in names_by_folder.items():
        for name in names:
            (comfy / "models" / folder).mkdir(parents=True, exist_ok=True)
            (comfy / "models" / folder / name).write_bytes(b"")
    rules = load_file_inputs()
    host = HostFolders(rules, comfy)
    lists: dict[str, dict[str, list[str]]] = {}
    for cls, spec in rules.inputs.items():
        for name, keys in spec.items():
            lists.setdefault(cls, {})[name] = sorted({f for key in keys for f in host.listing(key)})
    return lists


def profile_files(*profiles: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for profile in profiles:
        for entry in profile_roles(profile).values():
            out.setdefault(entry.folder, []).append(entry.name)
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory, object_info_path):
    """A double whose models folders hold both smoke profiles' files (as fetch-models leaves them), its
    output folder outside the checkout as on a provisioned instance (--output-directory)."""
    root = tmp_path_factory.mktemp("double")
    lists = listed_on(root / "models-host", profile_files(*PROFILES.values()))
    args = ("--output-directory", str(root / "data" / "gpu0" / "output"))
    with comfyui_double(root, object_info_path, file_lists=lists, args=args) as (url, comfy):
        yield url, comfy


def smoke(url: str, template: str, *extra: str):
    result = run_workflow("smoke", template, "--url", url, "--poll", "0.05", "--format", "json", *extra)
    return result, json.loads(result.stdout) if result.stdout.strip() else None


@pytest.mark.parametrize("template", sorted(PROFILES))
def test_smoke_reports_seconds_and_the_output_file(server, template):
    url, comfy = server
    result, report = smoke(url, template)
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["schema"] == "wanprov.workflow-smoke/2"
    assert report["status"] == "success" and isinstance(report["seconds"], float)
    output = Path(report["output"])  # absolute, in the instance's output folder, not the checkout's
    assert output.is_absolute() and output.is_file(), report["outputs"]
    assert output.is_relative_to(comfy.parent / "data" / "gpu0" / "output") and "wanprov/smoke" in str(output)
    assert report["params"]["width"] <= 320 and report["params"]["steps"] <= 2  # the tiny size


def test_the_video_is_read_back_and_matches_what_the_workflow_asked(server):
    url, _ = server
    result, report = smoke(url, WAN)
    assert result.returncode == 0, result.stdout + result.stderr
    [media] = report["media"]
    assert report["verified"] is True and media["ok"] is True, media
    assert (media["codec"], media["width"], media["height"]) == ("h264", 176, 96)  # 480p / 5
    assert media["frames"] == 5 and media["fps"] == 16.0 and media["decodable"] and media["alive"]
    assert "mp4" in media["container"].split(",") and media["path"] == report["output"]


def test_rife_doubles_the_frames_and_the_check_follows(server):
    """RIFE x2 turns 5 frames into (5 - 1) * 2 + 1 = 9 at twice the fps: that is what must be read back."""
    url, _ = server
    result, report = smoke(url, WAN, "--set", "rife=true")
    assert result.returncode == 0, result.stdout + result.stderr
    [media] = report["media"]
    assert (media["frames"], media["fps"]) == (9, 32.0)
    assert "interpolation" in report["stages"]


def test_stage_seconds_come_from_the_servers_progress_events(server):
    url, _ = server
    result, report = smoke(url, WAN)
    assert result.returncode == 0
    stages = report["stages"]
    assert {"model_load", "text_encode", "sampler_21", "sampler_22", "vae_decode", "encode"} <= set(stages)
    assert all(isinstance(v, float) and v >= 0 for v in stages.values())
    timeline = report["timeline"]
    assert timeline["ended_by"] == "execution_success" and timeline["sampler_steps"] == {"21": 1, "22": 1}
    assert report["events_error"] is None and report["memory"]["samples"] >= 1
    assert report["memory"]["ram_used_peak_bytes"] > 0  # /system_stats ram_total - ram_free
    assert report["memory"]["vram_used_peak_bytes"] == {}  # the double's one device is the CPU


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        ("black", "not alive"),  # what NaN latents decode to: history still says "success"
        ("short", "frames 4, the workflow asked for 5"),
    ],
)
def test_an_output_that_does_not_verify_is_exit_14(tmp_path, object_info_path, output, problem):
    lists = listed_on(tmp_path / "models-host", profile_files(PROFILES[WAN]))
    env = {"COMFYUI_DOUBLE_OUTPUT": output}
    with comfyui_double(tmp_path, object_info_path, file_lists=lists, env=env) as (url, _):
        result, report = smoke(url, WAN)
        text = run_workflow("smoke", WAN, "--url", url, "--poll", "0.05")
    assert result.returncode == ExitCode.OUTPUT_UNVERIFIED, result.stdout + result.stderr
    assert report["status"] == "unverified" and report["verified"] is False
    assert problem in report["error"]["message"] and not report["media"][0]["ok"]
    assert text.returncode == 14 and problem in text.stderr


@pytest.mark.skipif(Path("/dev/nvidiactl").exists(), reason="this host has an NVIDIA driver: NVENC may work")
def test_nvenc_on_a_host_without_it_fails_in_the_encoder_as_the_real_node_does(server):
    """The double encodes video/nvenc_h264-mp4 with h264_nvenc, as VHS does: here (no NVIDIA GPU) ffmpeg
    fails and the node with it - never a kinder software fallback."""
    url, _ = server
    result, report = smoke(url, WAN, "--nvenc")
    assert result.returncode == ExitCode.EXECUTION_FAILED, result.stdout + result.stderr
    assert report["error"]["node_type"] == "VHS_VideoCombine"
    assert "ffmpeg subprocess" in report["error"]["exception_message"]


def test_image_paths_follow_the_base_directory(tmp_path, object_info_path):
    """SaveImage reports only a name under its type's folder: the smoke makes it absolute from the server's
    launch flags (here --base-directory: <base>/output), and reads the image back through /view."""
    lists = listed_on(tmp_path / "models-host", profile_files("flux1-schnell"))
    base = tmp_path / "base"
    with comfyui_double(
        tmp_path, object_info_path, file_lists=lists, args=("--base-directory", str(base))
    ) as (
        url,
        _,
    ):
        result, report = smoke(url, "flux1-schnell")
    assert result.returncode == 0, result.stdout + result.stderr
    assert Path(report["output"]).is_file() and Path(report["output"]).is_relative_to(base / "output")
    [media] = report["media"]
    assert (media["codec"], media["width"], media["height"], media["frames"]) == (
        "png",
        208,
        208,
        1,
    )  # 1mp / 5


def test_an_unknown_output_folder_is_no_guessed_path(tmp_path, object_info_path):
    """A server started as `python main.py` with no folder flags does not say where it runs: the report
    gives the path under the output folder, never a wrong absolute one; the file is still verified."""
    lists = listed_on(tmp_path / "models-host", profile_files("flux1-schnell"))
    with comfyui_double(tmp_path, object_info_path, file_lists=lists) as (url, _):
        result, report = smoke(url, "flux1-schnell")
    assert result.returncode == 0 and report["output"] is None and report["verified"]
    assert report["outputs"][0]["relative"].startswith("wanprov/smoke/")


def test_the_input_image_is_uploaded_not_assumed(server):
    """A provisioned server's input folder is the service's data folder: no example.png there. The Wan
    smoke uploads its own image and its LoadImage names what the server stored."""
    url, comfy = server
    result, report = smoke(url, WAN)
    assert result.returncode == 0, result.stdout
    assert (comfy / "input" / "wanprov-smoke.png").read_bytes().startswith(b"\x89PNG")
    entry = get(url, f"/history/{report['prompt_id']}")[report["prompt_id"]]
    images = [n["inputs"]["image"] for n in entry["prompt"][2].values() if n["class_type"] == "LoadImage"]
    assert images == ["wanprov-smoke.png"]


def test_smoke_text_output(server):
    result = run_workflow("smoke", "flux1-schnell", "--url", server[0], "--poll", "0.05")
    assert result.returncode == 0 and "flux1-schnell: ok in" in result.stdout and ".png" in result.stdout


def test_a_server_without_the_model_files_refuses(tmp_path, object_info_path):
    with comfyui_double(tmp_path, object_info_path) as (url, _):
        result, report = smoke(url, WAN)
    assert result.returncode == 1
    assert report["status"] == "refused"
    assert report["error"]["type"] == "prompt_outputs_failed_validation"
    kinds = {(n["class_type"], e["type"]) for n in report["node_errors"].values() for e in n["errors"]}
    assert ("UnetLoaderGGUF", "value_not_in_list") in kinds


def test_a_node_failing_while_running_is_exit_11_with_the_servers_message(tmp_path, object_info_path):
    lists = listed_on(tmp_path / "models-host", profile_files(PROFILES[WAN]))
    env = {"COMFYUI_DOUBLE_FAIL_NODE": "UnetLoaderGGUF"}
    with comfyui_double(tmp_path, object_info_path, file_lists=lists, env=env) as (url, _):
        result, report = smoke(url, WAN)
        text = run_workflow("smoke", WAN, "--url", url, "--poll", "0.05")
    assert result.returncode == 12 and report["status"] == "failed"
    assert report["error"]["node_type"] == "UnetLoaderGGUF"
    assert "header too small" in report["error"]["exception_message"]
    assert text.returncode == 12 and "UnetLoaderGGUF" in text.stderr and "header too small" in text.stderr


def test_timeout_interrupts_and_dequeues_the_run(tmp_path, object_info_path):
    lists = listed_on(tmp_path / "models-host", profile_files("flux1-schnell"))
    env = {"COMFYUI_DOUBLE_RUN_SECONDS": "120"}
    with comfyui_double(tmp_path, object_info_path, file_lists=lists, env=env) as (url, _):
        # the run takes 120 s; 3 s leave the upload, the websocket and the POST their time on a loaded machine
        result, report = smoke(url, "flux1-schnell", "--timeout", "3")
        assert result.returncode == 13 and report["status"] == "timed_out"
        entry = _wait_for_history(url, report["prompt_id"])
        assert entry["status"]["status_str"] == "error"
        assert [m[0] for m in entry["status"]["messages"]][-1] == "execution_interrupted"


def _wait_for_history(url: str, prompt_id: str) -> dict:
    for _ in range(200):
        history = get(url, f"/history/{prompt_id}")
        if history:
            return history[prompt_id]
        time.sleep(0.05)
    raise AssertionError("the interrupted run never reached the history")


def test_unreachable_server_is_a_network_error():
    result, report = smoke("http://127.0.0.1:9", "flux1-schnell")
    assert result.returncode == 5 and report["error"] == "network"


# ---- the double against the real server's recorded answers -------------------------------------------


@pytest.fixture(scope="module")
def recorded_server(tmp_path_factory, object_info_path, responses):
    """The recording's setup: placeholder files with the names the valid workflow uses."""
    rules = load_file_inputs()
    lists: dict[str, dict[str, list[str]]] = {}
    for node in responses["workflow_valid_api_format"].values():
        for name, value in node["inputs"].items():
            if rules.keys_of(node["class_type"], name) is not None and isinstance(value, str):
                lists.setdefault(node["class_type"], {}).setdefault(name, []).append(value)
    with comfyui_double(tmp_path_factory.mktemp("recorded"), object_info_path, file_lists=lists) as (url, _):
        yield url


@pytest.mark.parametrize(
    "case",
    [
        "unknown_class_type",
        "missing_class_type",
        "no_output_node",
        "combo_file_not_in_models_dir",
        *NODE_CASES,
    ],
)
def test_the_double_answers_like_the_real_server(recorded_server, responses, case):
    recorded = next(c for c in responses["cases"] if c["case"] == case)
    prompt = json.loads(json.dumps(responses["workflow_valid_api_format"]))
    if case == "combo_file_not_in_models_dir":
        prompt["1"]["inputs"]["unet_name"] = "does_not_exist.gguf"
    else:
        prompt = mutate(case, prompt)
    status, reply = post(recorded_server, "/prompt", {"prompt": prompt})
    want = recorded["response"]
    assert status == recorded["http_status"]
    assert reply.get("error", {}).get("type") == want.get("error", {}).get("type")
    assert reply.get("error", {}).get("message") == want.get("error", {}).get("message")

    def pairs(doc):
        return {
            (k, e["type"], e["message"]) for k, n in doc.get("node_errors", {}).items() for e in n["errors"]
        }

    assert pairs(reply) == pairs(want)


# ---- the double's queue and history against a real ComfyUI 0.3.64 run (queue_responses.json) ----------


def _shape(value):
    """Key structure of a JSON value: what a client may rely on, without the run's values."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]]
    return type(value).__name__ if value is not None else None


@pytest.mark.parametrize(
    ("case", "env"),
    [
        ("success_save_image", {}),
        ("execution_error_save_outside_output", {"COMFYUI_DOUBLE_FAIL_NODE": "SaveImage"}),
    ],
)
def test_the_doubles_history_has_the_real_servers_shape(tmp_path, object_info_path, fixtures_dir, case, env):
    recorded = json.loads((fixtures_dir / "comfyui" / "queue_responses.json").read_text())
    real = next(c for c in recorded["cases"] if c["case"] == case)
    with comfyui_double(tmp_path, object_info_path, env=env) as (url, _):
        status, reply = post(url, "/prompt", {"prompt": real["prompt"], "client_id": "wanprov-record"})
        entry = _wait_for_history(url, reply["prompt_id"])
    real_entry = next(iter(real["history"].values()))
    assert status == real["http_status"] and set(reply) == set(real["response"])
    assert set(entry) == set(real_entry)
    assert entry["status"]["status_str"] == real_entry["status"]["status_str"]
    assert entry["status"]["completed"] == real_entry["status"]["completed"]
    events = [m[0] for m in entry["status"]["messages"]]
    assert events == [m[0] for m in real_entry["status"]["messages"]]
    for (_, mine), (_, theirs) in zip(
        entry["status"]["messages"], real_entry["status"]["messages"], strict=True
    ):
        assert set(mine) == set(theirs)
    assert _shape(entry["outputs"]) == _shape(real_entry["outputs"])
    assert _shape(entry["meta"]) == _shape(real_entry["meta"])
    assert entry["prompt"][1] == reply["prompt_id"] and entry["prompt"][2] == real["prompt"]
    assert entry["prompt"][3] == real_entry["prompt"][3] and entry["prompt"][4] == real_entry["prompt"][4]
