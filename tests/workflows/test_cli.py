"""`wanprov workflow ...` end to end, as a user runs it (a subprocess), incl. a live-server double."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from pathlib import Path

import pytest

from workflows.workflow_cli import run_workflow

DATA = Path(__file__).parent / "data"


wanprov = run_workflow


@pytest.fixture(scope="module")
def comfyui_server(object_info_path):
    """A local HTTP server standing in for a running ComfyUI: it serves /object_info from the recording."""
    root = object_info_path.parent

    class Handler(http.server.SimpleHTTPRequestHandler):
        def translate_path(self, path: str) -> str:
            return (
                str(root / "object_info.json")
                if path.rstrip("/") == "/object_info"
                else str(root / "missing")
            )

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_check_seed_example_exits_1_with_one_json_document():
    result = wanprov("check", str(DATA / "seed-example.json"), "--format", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["errors"] == []
    assert {n["input_name"] for n in report["silent_noops"]} == {
        "load_device",
        "max_skip_steps",
        "attention_mode",
    }
    assert {i["id"]: i["status"] for i in report["checklist"]}["teacache"] == "fail"


def test_check_unreadable_file_exits_10(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = wanprov("check", str(bad), "--format", "json")
    assert result.returncode == 10
    assert json.loads(result.stdout)["error"] == "bad_workflow"


def test_render_then_check_against_a_live_server(tmp_path, comfyui_server):
    out, editor = tmp_path / "wf.json", tmp_path / "wf.editor.json"
    result = wanprov(
        "render",
        "wan22-i2v-gguf-lightning",
        "--preset",
        "720p",
        "--tier",
        "large",
        "--no-nvenc",
        "--set",
        "seed=7",
        "-o",
        str(out),
        "--editor-out",
        str(editor),
    )
    assert result.returncode == 0, result.stderr
    prompt = json.loads(out.read_text())
    assert prompt["20"]["inputs"]["width"] == 1280 and prompt["21"]["inputs"]["noise_seed"] == 7
    for base in (comfyui_server, comfyui_server + "/object_info"):
        checked = wanprov("check", str(out), "--object-info", base)
        assert checked.returncode == 0, checked.stdout
    checked = wanprov("check", str(editor), "--format", "json")
    assert checked.returncode == 0 and json.loads(checked.stdout)["input_format"] == "editor"


def test_editor_round_trip_keeps_every_input(tmp_path, shared_schemas):
    from wanprov.workflows.editor import from_api, to_api
    from wanprov.workflows.render import render

    for name in ("wan22-i2v-gguf-lightning", "flux1-schnell"):
        prompt = render(name, schemas=shared_schemas).prompt
        back = to_api(json.loads(json.dumps(from_api(prompt, shared_schemas))), shared_schemas)
        assert back.keys() == prompt.keys()
        for node_id, node in prompt.items():  # the editor may add optional widgets at their defaults
            assert back[node_id]["class_type"] == node["class_type"]
            assert {k: back[node_id]["inputs"][k] for k in node["inputs"]} == node["inputs"], node_id


def test_render_bad_length_is_a_usage_error():
    result = wanprov("render", "wan22-i2v-gguf-lightning", "--set", "length=40")
    assert result.returncode == 2
    assert "length=41" in result.stderr and result.stdout == ""


def test_unreachable_object_info_url_is_a_network_error():
    result = wanprov("check", str(DATA / "seed-example.json"), "--object-info", "http://127.0.0.1:9")
    assert result.returncode == 5


def test_comfyui_dir_reports_missing_and_present_files(tmp_path):
    (tmp_path / "models" / "unet").mkdir(parents=True)
    (tmp_path / "models" / "unet" / "Wan2.2-I2V-A14B-HighNoise-Q5_K_S.gguf").write_bytes(b"")
    result = wanprov(
        "check", str(DATA / "seed-example.json"), "--comfyui-dir", str(tmp_path), "--format", "json"
    )
    files = {f["name"]: f["ok"] for f in json.loads(result.stdout)["files"]}
    assert files["Wan2.2-I2V-A14B-HighNoise-Q5_K_S.gguf"] is True
    assert files["Wan2.2-I2V-A14B-LowNoise-Q5_K_S.gguf"] is False


def test_optimize_writes_a_workflow_that_checks_ok(tmp_path):
    out = tmp_path / "opt.json"
    result = wanprov(
        "optimize", str(DATA / "wan22-i2v-fp8-unoptimized.json"), "-o", str(out), "--format", "json"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert any("UnetLoaderGGUF" in c for c in json.loads(result.stdout)["changes"])
    assert wanprov("check", str(out)).returncode == 0


def test_list():
    result = wanprov("list", "--format", "json")
    names = [t["name"] for t in json.loads(result.stdout)["templates"]]
    assert names == ["flux1-schnell", "wan22-i2v-gguf-lightning"]  # the wrapper template is withdrawn
