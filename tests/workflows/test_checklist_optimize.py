"""The seed checklist on hand-built workflows, and optimize's output passing check."""

from __future__ import annotations

import pytest

from wanprov.workflows.check import check_prompt
from wanprov.workflows.names import names_for_profile
from wanprov.workflows.optimize import OptimizeError, optimize
from wanprov.workflows.render import render


def statuses(report):
    return {i.id: i.status for i in report.checklist}


def test_seed_example_settings_are_reported_as_noops(shared_schemas, load_data):
    report = check_prompt(load_data("seed-example.json"), shared_schemas)
    noops = {(i.class_type, i.input_name) for i in report.validation.issues if i.kind == "silent_noop_input"}
    assert noops == {
        ("UnetLoaderGGUF", "load_device"),
        ("TeaCache", "max_skip_steps"),
        ("WanImageToVideo", "attention_mode"),
    }
    s = statuses(report)
    assert (s["load_device"], s["attention"], s["teacache"], s["length"]) == ("fail",) * 4
    assert s["video_encoder"] == "warn"
    assert (s["lightning_pair"], s["four_step_split"], s["gguf_loader"]) == ("pass",) * 3
    assert not report.ok


def test_unoptimized_fp8_workflow_fails_the_checklist(shared_schemas, load_data):
    report = check_prompt(load_data("wan22-i2v-fp8-unoptimized.json"), shared_schemas)
    assert report.validation.ok  # valid for ComfyUI, just slow
    s = statuses(report)
    assert [k for k, v in s.items() if v == "fail"] == [
        "gguf_loader",
        "lightning_pair",
        "four_step_split",
        "resolution",
        "fps",
    ]


@pytest.mark.parametrize("fixture", ["seed-example.json", "wan22-i2v-fp8-unoptimized.json"])
def test_optimize_output_passes_check_and_is_idempotent(fixture, shared_schemas, load_data):
    names = names_for_profile("wan22-i2v-a14b-q5-lightning")
    first = optimize(load_data(fixture), names, shared_schemas)
    assert first.changes
    report = check_prompt(first.prompt, shared_schemas)
    assert report.ok, [(i.id, i.reason) for i in report.checklist if i.status == "fail"]
    assert not [i for i in report.validation.issues if i.kind == "silent_noop_input"]
    assert optimize(first.prompt, names, shared_schemas).changes == []


def test_optimize_inserts_the_lightning_pair_on_the_right_experts(shared_schemas, load_data):
    out = optimize(
        load_data("wan22-i2v-fp8-unoptimized.json"),
        names_for_profile("wan22-i2v-a14b-q3-lightning"),
        shared_schemas,
    ).prompt
    high_shift = out["54"]["inputs"]["model"]
    lora = out[high_shift[0]]
    assert lora["class_type"] == "LoraLoaderModelOnly" and "HIGH" in lora["inputs"]["lora_name"]
    assert out[lora["inputs"]["model"][0]]["inputs"]["unet_name"] == "Wan2.2-I2V-A14B-HighNoise-Q3_K_S.gguf"
    assert (out["50"]["inputs"]["width"], out["50"]["inputs"]["height"], out["50"]["inputs"]["length"]) == (
        1280,
        720,
        41,
    )


def test_optimize_refuses_a_non_wan_workflow(shared_schemas):
    flux = render("flux1-schnell", schemas=shared_schemas).prompt
    with pytest.raises(OptimizeError):
        optimize(flux, names_for_profile("wan22-i2v-a14b-q5-lightning"), shared_schemas)


def test_rendered_templates_pass_the_checklist(shared_schemas):
    for name in ("wan22-i2v-gguf-lightning", "flux1-schnell"):
        report = check_prompt(render(name, schemas=shared_schemas).prompt, shared_schemas)
        assert report.ok, (name, [(i.id, i.reason) for i in report.checklist if i.status == "fail"])


def test_ui_exported_wan22_editor_workflow(shared_schemas, load_data):
    """ComfyUI's own Wan 2.2 I2V template as the UI saves it: editor format, UNETLoader fp8 experts,
    CLIPLoader with the fp16 umt5, lightx2v LoRAs, CreateVideo/SaveVideo, a MarkdownNote, a seed with
    "randomize" - plus the seed guide's TeaCache on the high expert."""
    from wanprov.workflows.editor import to_api

    prompt = to_api(load_data("wan22-i2v-editor-export.json"), shared_schemas)
    assert prompt["57"]["inputs"]["noise_seed"] == 138073435077572  # the "randomize" value skipped
    assert prompt["57"]["inputs"]["steps"] == 4 and "80" not in prompt  # the note is not a node
    report = check_prompt(prompt, shared_schemas, input_format="editor")
    assert report.validation.ok
    s = statuses(report)
    assert [k for k, v in s.items() if v == "fail"] == ["gguf_loader", "teacache"]
    assert (s["lightning_pair"], s["four_step_split"], s["encoder"]) == ("pass",) * 3
    assert (s["length"], s["video_encoder"]) == ("warn", "n/a")

    names = names_for_profile("wan22-i2v-a14b-q5-lightning")
    out = optimize(prompt, names, shared_schemas)
    assert "70" not in out.prompt and out.prompt["54"]["inputs"]["model"] == ["91", 0]  # TeaCache bypassed
    loras = [n for n in out.prompt.values() if n["class_type"] == "LoraLoaderModelOnly"]
    assert len(loras) == 2 and out.prompt["91"]["inputs"]["lora_name"] == names["high_noise_lora"]
    assert out.prompt["37"]["inputs"] == {"unet_name": names["high_noise_unet"]}
    assert out.prompt["58"]["inputs"]["end_at_step"] == 4  # already "to the end": left alone
    assert out.prompt["38"]["inputs"]["clip_name"] == "umt5_xxl_fp8_e4m3fn_scaled.safetensors"
    assert out.prompt["50"]["inputs"]["length"] == 41
    assert check_prompt(out.prompt, shared_schemas).ok
    assert optimize(out.prompt, names, shared_schemas).changes == []
