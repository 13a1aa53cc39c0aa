"""The validator catches every kind of error the real server answered (prompt_validation_responses.json),
and says what the server does not: inputs a node does not have."""

from __future__ import annotations

import copy

import pytest

from wanprov.workflows.schema import ObjectInfo
from wanprov.workflows.validator import validate_node_input, validate_prompt


@pytest.fixture
def valid(responses):
    return copy.deepcopy(responses["workflow_valid_api_format"])


def server_errors(responses, case):
    """(node id, error type) pairs the real ComfyUI answered for `case`, plus its top-level error type."""
    reply = next(c for c in responses["cases"] if c["case"] == case)["response"]
    pairs = {(node_id, e["type"]) for node_id, n in reply.get("node_errors", {}).items() for e in n["errors"]}
    return reply.get("error", {}).get("type"), pairs


def kinds(result):
    return {(i.node_id, i.kind) for i in result.errors}


def test_the_recorded_valid_workflow_is_valid(valid, shared_schemas):
    result = validate_prompt(valid, shared_schemas)
    assert result.ok and result.outputs == ["13", "17"]


def mutate(case, prompt):
    if case == "unknown_class_type":
        prompt["18"] = {"class_type": "NoSuchNodeXYZ", "inputs": {}}
    elif case == "missing_class_type":
        del prompt["5"]["class_type"]
    elif case == "no_output_node":
        del prompt["13"], prompt["17"]
    elif case == "required_input_missing":
        del prompt["3"]["inputs"]["shift"]
    elif case == "combo_bad_value_and_int_below_min":
        prompt["10"]["inputs"].update(steps=0, sampler_name="not_a_sampler")
    elif case == "link_type_mismatch":
        prompt["10"]["inputs"]["model"] = ["7", 0]
    elif case == "float_not_convertible":
        prompt["3"]["inputs"]["shift"] = "abc"
    elif case == "float_above_max":
        prompt["3"]["inputs"]["shift"] = 1000.0
    elif case == "cliploader_type_wan22":
        prompt["4"]["inputs"]["type"] = "wan22"
    elif case == "teacache_model_type_wan22":
        prompt["20"] = {
            "class_type": "TeaCache",
            "inputs": {
                "model": ["2", 0],
                "model_type": "wan2.2_i2v_14B",
                "rel_l1_thresh": 0.2,
                "start_percent": 0.0,
                "end_percent": 1.0,
                "cache_device": "cuda",
            },
        }
        prompt["3"]["inputs"]["model"] = ["20", 0]
    return prompt


NODE_CASES = [
    "required_input_missing",
    "combo_bad_value_and_int_below_min",
    "link_type_mismatch",
    "float_not_convertible",
    "float_above_max",
    "cliploader_type_wan22",
    "teacache_model_type_wan22",
]


@pytest.mark.parametrize("case", NODE_CASES)
def test_node_errors_match_the_real_server(case, valid, responses, shared_schemas):
    _, expected = server_errors(responses, case)
    result = validate_prompt(mutate(case, valid), shared_schemas)
    assert kinds(result) == expected
    assert result.failed_outputs == ["13", "17"]  # every output depends on the broken node


@pytest.mark.parametrize("case", ["unknown_class_type", "missing_class_type", "no_output_node"])
def test_prompt_level_errors_match_the_real_server(case, valid, responses, shared_schemas):
    top, _ = server_errors(responses, case)
    result = validate_prompt(mutate(case, valid), shared_schemas)
    assert {i.kind for i in result.errors} == {top}


def test_file_not_in_a_live_servers_list(valid, responses, shared_schemas):
    """With a server that lists its files (as the recorded reply did), an absent file is an error."""
    raw = copy.deepcopy(shared_schemas.raw)
    raw["UnetLoaderGGUF"]["input"]["required"]["unet_name"] = [
        ["wan2.2_i2v_high_noise_14B_Q4_K_M.gguf", "wan2.2_i2v_low_noise_14B_Q4_K_M.gguf"]
    ]
    valid["1"]["inputs"]["unet_name"] = "does_not_exist.gguf"
    _, expected = server_errors(responses, "combo_file_not_in_models_dir")
    assert kinds(validate_prompt(valid, ObjectInfo(raw, "live"))) == expected


def test_empty_file_lists_accept_any_name_with_a_note(valid, shared_schemas):
    valid["1"]["inputs"]["unet_name"] = "anything.gguf"
    result = validate_prompt(valid, shared_schemas)
    assert result.ok
    assert ("1", "unlisted_file_name") in {(i.node_id, i.kind) for i in result.issues}


@pytest.mark.parametrize(
    ("case", "node", "name"),
    [
        ("teacache_extra_input_max_skip_steps_ignored", "20", "max_skip_steps"),
        ("unetloadergguf_extra_input_load_device_ignored", "1", "load_device"),
    ],
)
def test_inputs_the_server_accepts_silently_are_reported_as_noops(
    case, node, name, valid, responses, shared_schemas
):
    assert next(c for c in responses["cases"] if c["case"] == case)["http_status"] == 200
    if node == "20":
        mutate("teacache_model_type_wan22", valid)
        valid["20"]["inputs"]["model_type"] = "wan2.1_i2v_480p_14B"
    valid[node]["inputs"][name] = 3 if name == "max_skip_steps" else "main_device"
    result = validate_prompt(valid, shared_schemas)
    assert result.ok
    assert [(i.node_id, i.input_name) for i in result.issues if i.kind == "silent_noop_input"] == [
        (node, name)
    ]


def test_partial_prompt_one_output_invalid(valid, responses, shared_schemas):
    _, expected = server_errors(responses, "partial_one_output_invalid_vhs_format")
    valid["31"] = {
        "class_type": "VHS_VideoCombine",
        "inputs": {
            "images": ["16", 0],
            "frame_rate": 16,
            "loop_count": 0,
            "filename_prefix": "x",
            "format": "video/h264-nvenc",
            "pingpong": False,
            "save_output": True,
        },
    }
    result = validate_prompt(valid, shared_schemas)
    assert kinds(result) == expected
    assert result.failed_outputs == ["31"]  # the server still runs 13 and 17 (HTTP 200)


def test_vhs_per_format_widgets_are_real_inputs(valid, shared_schemas):
    valid["31"] = {
        "class_type": "VHS_VideoCombine",
        "inputs": {
            "images": ["16", 0],
            "frame_rate": 16,
            "loop_count": 0,
            "filename_prefix": "x",
            "format": "video/h264-mp4",
            "pingpong": False,
            "save_output": True,
            "crf": 19,
            "pix_fmt": "yuv420p",
            "bitrate": 10,
        },
    }
    noops = [
        i.input_name for i in validate_prompt(valid, shared_schemas).issues if i.kind == "silent_noop_input"
    ]
    assert noops == ["bitrate"]  # bitrate belongs to the nvenc formats only


def test_broken_links(valid, shared_schemas):
    valid["10"]["inputs"]["model"] = ["99", 0]
    valid["11"]["inputs"]["vae"] = ["7", 3]
    valid["16"]["inputs"]["vae"] = ["7"]
    result = validate_prompt(valid, shared_schemas)
    assert kinds(result) == {
        ("10", "exception_during_validation"),
        ("11", "exception_during_validation"),
        ("16", "bad_linked_input"),
    }


def test_v3_combo_and_int_conversion(valid, shared_schemas):
    valid["13"]["inputs"]["codec"] = "vp9"  # SaveVideo is a V3 node: ["COMBO", {"options": [...]}]
    valid["9"]["inputs"]["length"] = "nine"
    assert kinds(validate_prompt(valid, shared_schemas)) == {
        ("13", "value_not_in_list"),
        ("9", "invalid_input_type"),
    }


def test_link_type_rule():
    assert validate_node_input("MODEL", "MODEL")
    assert validate_node_input("*", "MODEL") and validate_node_input("IMAGE", "*")
    assert validate_node_input("IMAGE,MASK", "MASK")
    assert not validate_node_input("VAE", "MODEL")
