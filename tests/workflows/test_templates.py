"""Every template, at every preset and option set, validates against the recorded node schemas."""

from __future__ import annotations

import pytest

from wanprov.models.catalog import load_catalog
from wanprov.workflows.render import list_templates, render

TEMPLATES = [t.name for t in list_templates()]
OPTIONS = [{}, {"rife": True, "torch_compile": True, "nvenc": True}]


@pytest.mark.parametrize("name", TEMPLATES)
@pytest.mark.parametrize("preset", ["480p", "720p", "1mp"])
@pytest.mark.parametrize("options", OPTIONS, ids=["plain", "rife-compile-nvenc"])
def test_template_validates_with_zero_errors(name, preset, options, shared_schemas):
    overrides = dict(options)
    if name == "flux1-schnell":
        overrides = {"teacache": True, "torch_compile": options.get("torch_compile", False)}
    rendered = render(name, preset=preset, overrides=overrides, schemas=shared_schemas)
    assert rendered.validation.errors == []
    assert [i for i in rendered.validation.issues if i.kind == "silent_noop_input"] == []
    assert rendered.validation.outputs and not rendered.validation.failed_outputs


@pytest.mark.parametrize("tier", ["none", "small", "medium", "large", "xlarge"])
@pytest.mark.parametrize("name", TEMPLATES)
def test_every_tier_renders(name, tier, shared_schemas):
    assert render(name, tier=tier, schemas=shared_schemas).validation.ok


def test_every_profile_of_the_catalog_renders(shared_schemas):
    for profile in load_catalog().profiles:
        name = "flux1-schnell" if profile.startswith("flux") else "wan22-i2v-gguf-lightning"
        rendered = render(name, profile=profile, schemas=shared_schemas)
        assert rendered.validation.ok, profile


def test_wan_template_uses_profile_names_and_the_seed_split(shared_schemas):
    prompt = render(
        "wan22-i2v-gguf-lightning", profile="wan22-i2v-a14b-q3-lightning", schemas=shared_schemas
    ).prompt
    loaders = [n["inputs"]["unet_name"] for n in prompt.values() if n["class_type"] == "UnetLoaderGGUF"]
    assert loaders == ["Wan2.2-I2V-A14B-HighNoise-Q3_K_S.gguf", "Wan2.2-I2V-A14B-LowNoise-Q3_K_S.gguf"]
    high, low = (n["inputs"] for n in prompt.values() if n["class_type"] == "KSamplerAdvanced")
    assert (high["add_noise"], high["start_at_step"], high["end_at_step"], high["steps"]) == (
        "enable",
        0,
        2,
        4,
    )
    assert high["return_with_leftover_noise"] == "enable"
    assert (low["add_noise"], low["start_at_step"], low["end_at_step"]) == ("disable", 2, 10000)
    assert high["cfg"] == low["cfg"] == 1.0
    assert all(
        "load_device" not in n["inputs"] and "attention_mode" not in n["inputs"] for n in prompt.values()
    )


def test_nvenc_only_when_asked(shared_schemas):
    def fmt(nvenc):
        prompt = render("wan22-i2v-gguf-lightning", nvenc=nvenc, schemas=shared_schemas).prompt
        return prompt["40"]["inputs"]["format"]

    assert fmt(False) == "video/h264-mp4"
    assert fmt(True) == "video/nvenc_h264-mp4"


def test_rife_generates_at_12_and_delivers_24(shared_schemas):
    prompt = render("wan22-i2v-gguf-lightning", tier="small", schemas=shared_schemas).prompt
    assert prompt["31"]["class_type"] == "RIFE VFI" and prompt["31"]["inputs"]["multiplier"] == 2
    assert prompt["40"]["inputs"]["frame_rate"] == 24 and prompt["40"]["inputs"]["images"] == ["31", 0]


def test_teacache_refused_where_model_type_is_missing(shared_schemas):
    from wanprov.workflows.params import WorkflowParamError
    from wanprov.workflows.schema import ObjectInfo

    raw = dict(shared_schemas.raw)
    raw.pop("TeaCache")
    with pytest.raises(WorkflowParamError, match="TeaCache"):
        render("flux1-schnell", overrides={"teacache": True}, schemas=ObjectInfo(raw, "no-teacache"))
