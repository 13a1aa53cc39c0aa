"""The smoke's stage seconds from ComfyUI's websocket events (wanprov.workflows.progress), and the ComfyUI
double's events: sent in the real server's shapes, and replaceable by a recorded list."""

from __future__ import annotations

import json

import websocket

from wanprov.workflows.progress import Event, parse_message, timeline, ws_url
from workflows.comfyui_double import comfyui_double, post
from workflows.test_smoke import PROFILES, WAN, listed_on, profile_files, smoke

PROMPT = {
    "2": {"class_type": "CLIPLoader"},
    "3": {"class_type": "CLIPTextEncode"},
    "10": {"class_type": "UnetLoaderGGUF"},
    "21": {"class_type": "KSamplerAdvanced"},
    "22": {"class_type": "KSamplerAdvanced"},
    "30": {"class_type": "VAEDecode"},
    "31": {"class_type": "RIFE VFI"},
    "40": {"class_type": "VHS_VideoCombine"},
}


def _events(prompt_id: str) -> list[Event]:
    """A run as ComfyUI 0.3.64 sends it (execution.py add_message, execute(); main.py prompt_worker)."""
    shapes = [
        (0.0, "status", {"status": {"exec_info": {"queue_remaining": 1}}}),
        (0.1, "execution_start", {"prompt_id": prompt_id, "timestamp": 1}),
        (0.1, "execution_cached", {"nodes": ["2"], "prompt_id": prompt_id, "timestamp": 1}),
        (0.2, "executing", {"node": "10", "display_node": "10", "prompt_id": prompt_id}),
        (1.2, "executing", {"node": "3", "display_node": "3", "prompt_id": prompt_id}),
        (3.2, "executing", {"node": "21", "display_node": "21", "prompt_id": prompt_id}),
        (4.0, "progress", {"value": 1, "max": 2, "prompt_id": prompt_id, "node": "21"}),
        (4.5, "progress", {"value": 2, "max": 2, "prompt_id": prompt_id, "node": "21"}),
        (5.2, "executing", {"node": "22", "display_node": "22", "prompt_id": prompt_id}),
        (5.3, "executing", {"node": "1", "display_node": "1", "prompt_id": "another prompt"}),
        (6.2, "executing", {"node": "30", "display_node": "30", "prompt_id": prompt_id}),
        (6.7, "executing", {"node": "31", "display_node": "31", "prompt_id": prompt_id}),
        (7.7, "executing", {"node": "40", "display_node": "40", "prompt_id": prompt_id}),
        (
            8.0,
            "executed",
            {"node": "40", "display_node": "40", "output": {"gifs": []}, "prompt_id": prompt_id},
        ),
        (8.2, "execution_success", {"prompt_id": prompt_id, "timestamp": 2}),
        (8.3, "executing", {"node": None, "prompt_id": prompt_id}),
    ]
    return [Event(at, kind, data) for at, kind, data in shapes]


def test_each_stage_is_timed_from_its_executing_event_to_the_next():
    line = timeline(_events("p1"), "p1", PROMPT)
    assert line.stages == {
        "model_load": 1.0,
        "text_encode": 2.0,
        "sampler_21": 2.0,
        "sampler_22": 1.0,
        "vae_decode": 0.5,
        "interpolation": 1.0,
        "encode": 0.5,
    }
    assert line.cached == ["2"] and line.steps == {"21": 2} and line.ended == "execution_success"


def test_an_error_ends_the_node_that_failed():
    events = [
        *_events("p1")[:5],
        Event(2.5, "execution_error", {"prompt_id": "p1", "node_id": "3", "node_type": "CLIPTextEncode"}),
    ]
    line = timeline(events, "p1", PROMPT)
    assert line.stages == {"model_load": 1.0, "text_encode": 1.3} and line.ended == "execution_error"


def test_messages_that_are_not_comfyuis_json_are_ignored():
    assert parse_message(b"\x00\x00\x00\x01preview", 1.0) is None
    assert parse_message("not json", 1.0) is None
    assert parse_message('{"data": {}}', 1.0) is None
    event = parse_message('{"type": "executing", "data": {"node": "3", "prompt_id": "p"}}', 2.0)
    assert event == Event(2.0, "executing", {"node": "3", "prompt_id": "p"})


def test_the_websocket_url_follows_the_servers():
    assert ws_url("http://h:8188", "c 1") == "ws://h:8188/ws?clientId=c+1"
    assert ws_url("https://h/comfy/", "c") == "wss://h/comfy/ws?clientId=c"


def _record(url: str, prompt: dict) -> list[list]:
    """What a client of the double receives for one run, in order, until `executing` {node: None}."""
    ws = websocket.create_connection(ws_url(url, "recorder"), timeout=30)
    try:
        status, reply = post(url, "/prompt", {"prompt": prompt, "client_id": "recorder"})
        assert status == 200, reply
        received = []
        while True:
            message = json.loads(ws.recv())
            received.append([message["type"], message["data"]])
            if message["type"] == "executing" and message["data"]["node"] is None:
                return received
    finally:
        ws.close()


def test_the_double_sends_the_real_event_shapes_and_a_recording_can_replace_them(tmp_path, object_info_path):
    """The double's events have the keys of the real server's (execution.py / main.py / progress.py) and a
    recorded list (COMFYUI_DOUBLE_EVENTS) is replayed as the run's, with this run's prompt id."""
    from wanprov.workflows.smoke import smoke_template

    lists = listed_on(tmp_path / "models-host", profile_files(PROFILES[WAN]))
    with comfyui_double(tmp_path / "a", object_info_path, file_lists=lists) as (url, _):
        report, _ = smoke_template(url, WAN, profile=PROFILES[WAN], poll=0.05)
        first = report.to_dict()  # the smoke's own run, then one recorded by a plain client
        rendered = _rendered(url, report.prompt_id)
        recorded = _record(url, rendered)
    keys = {kind: set(data) for kind, data in recorded}
    assert keys["status"] == {"status", "sid"}
    assert keys["execution_start"] == keys["execution_success"] == {"prompt_id", "timestamp"}
    assert keys["execution_cached"] == {"nodes", "prompt_id", "timestamp"}
    assert keys["executing"] >= {"node", "prompt_id"}
    assert keys["progress"] == {"value", "max", "prompt_id", "node"}
    assert keys["progress_state"] == {"prompt_id", "nodes"}
    assert keys["executed"] == {"node", "display_node", "output", "prompt_id"}
    assert first["timeline"]["ended_by"] == "execution_success"

    events = tmp_path / "recorded-events.json"
    events.write_text(json.dumps(recorded[1:]))  # without the connect-time status
    lists = listed_on(tmp_path / "models-host-b", profile_files(PROFILES[WAN]))
    env = {"COMFYUI_DOUBLE_EVENTS": str(events)}
    with comfyui_double(tmp_path / "b", object_info_path, file_lists=lists, env=env) as (url, _):
        result, replayed = smoke(url, WAN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(replayed["stages"]) == set(first["stages"])
    assert replayed["timeline"]["ended_by"] == "execution_success"


def _rendered(url: str, prompt_id: str) -> dict:
    from workflows.comfyui_double import get

    return get(url, f"/history/{prompt_id}")[prompt_id]["prompt"][2]
