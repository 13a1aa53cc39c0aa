"""The smoke's size (workflows/smoke_size.py): the user's run scaled down, each tier and preset its own
shape and frame count, the text encoded once; `--size full` the user's run as it is. Read back from the
ComfyUI double's media, which writes what the prompt asks for."""

from __future__ import annotations

import pytest

from wanprov.workflows.params import load_defaults
from wanprov.workflows.render import render
from wanprov.workflows.smoke_size import smoke_overrides
from workflows.test_smoke import PROFILES, WAN, server, smoke  # noqa: F401 (the module's double)

FLUX = "flux1-schnell"


def smoke_run(template: str, tier: str | None = None, preset: str | None = None, **sets):
    overrides = smoke_overrides(template, tier=tier, preset=preset, overrides=sets)
    return render(template, tier=tier, preset=preset, overrides=overrides)


@pytest.mark.parametrize("template", [WAN, FLUX])
def test_each_preset_keeps_its_own_shape_at_the_smoke_size(template):
    presets, _ = load_defaults()
    sizes = {}
    for preset, full in presets.items():
        params = smoke_run(template, preset=preset).params
        width, height = params["width"], params["height"]
        assert width % 16 == 0 and height % 16 == 0 and min(width, height) >= 64
        assert width * height <= full["width"] * full["height"] / 16  # a fraction of the real run
        assert abs(width / height - full["width"] / full["height"]) < 0.15 * full["width"] / full["height"]
        sizes[preset] = (width, height)
    assert len(set(sizes.values())) == len(presets), sizes  # no two presets prove the same run


def test_each_wan_tier_keeps_its_preset_and_its_frame_count_order():
    runs = {tier: smoke_run(WAN, tier=tier).params for tier in ("none", "small", "medium", "large", "xlarge")}
    assert {t: (p["width"], p["height"]) for t, p in runs.items()} == {
        "none": (176, 96), "small": (176, 96), "medium": (176, 96), "large": (256, 144), "xlarge": (256, 144),
    }  # fmt: skip
    assert all((p["length"] - 1) % 4 == 0 and p["steps"] == 2 for p in runs.values())
    assert runs["xlarge"]["length"] > runs["large"]["length"] >= 5  # 81 frames vs 41: still more
    assert runs["small"]["rife"] and runs["small"]["fps"] == 12  # the rest of the tier is as rendered


@pytest.mark.parametrize("template", [WAN, FLUX])
def test_the_two_text_encodes_have_the_same_inputs_so_comfyui_runs_one(template):
    """cfg 1.0 in both templates: ComfyUI never uses the negative; with the same text the two
    CLIPTextEncode nodes share one cache entry."""
    prompt = smoke_run(template).prompt
    encodes = [n for n in prompt.values() if n["class_type"] == "CLIPTextEncode"]
    assert len(encodes) == 2 and encodes[0]["inputs"] == encodes[1]["inputs"]
    samplers = [n for n in prompt.values() if n["class_type"].startswith("KSampler")]
    assert samplers and all(n["inputs"]["cfg"] == 1.0 for n in samplers)
    own = smoke_run(template, negative_prompt="blurry").prompt  # --set wins
    texts = {n["inputs"]["text"] for n in own.values() if n["class_type"] == "CLIPTextEncode"}
    assert "blurry" in texts and len(texts) == 2


@pytest.mark.parametrize("template", [WAN, FLUX])
def test_full_size_is_the_users_run_under_the_smoke_prefix(template):
    for tier in ("none", "xlarge"):
        overrides = smoke_overrides(template, tier=tier, size="full")
        assert set(overrides) == {"filename_prefix"} and "smoke" in overrides["filename_prefix"]
        full, user = render(template, tier=tier, overrides=overrides), render(template, tier=tier)
        assert {k: v for k, v in full.params.items() if k != "filename_prefix"} == {
            k: v for k, v in user.params.items() if k != "filename_prefix"
        }


def test_an_unknown_size_is_refused():
    from wanprov.workflows.params import WorkflowParamError

    with pytest.raises(WorkflowParamError, match="unknown smoke size"):
        smoke_overrides(WAN, size="tiny")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--tier", "xlarge"), (256, 144, 9, 16.0)),
        (("--tier", "small"), (176, 96, 9, 24.0)),  # RIFE x2: 5 frames -> 9 at 24 fps
        (("--preset", "1mp"), (208, 208, 5, 16.0)),
        (("--size", "full", "--tier", "none"), (848, 480, 33, 16.0)),
    ],
)
def test_the_video_read_back_is_the_size_and_length_asked(server, args, expected):  # noqa: F811
    url, _ = server
    result, report = smoke(url, WAN, *args, "--profile", PROFILES[WAN])  # the double's files
    assert result.returncode == 0, result.stdout + result.stderr
    [media] = report["media"]
    assert (media["width"], media["height"], media["frames"], media["fps"]) == expected, media
    assert report["params"]["size"] == ("full" if "full" in args else "smoke")


def test_the_server_encodes_the_text_once(server):  # noqa: F811
    """The double keeps ComfyUI's input-keyed cache within a prompt: the negative encode, with the same
    inputs as the positive, is not run (no `executing` event); with its own text it is."""
    url, _ = server
    _, report = smoke(url, WAN)
    encoded = [n["node_id"] for n in report["timeline"]["nodes"] if n["stage"] == "text_encode"]
    assert len(encoded) == 1 and encoded[0] in ("3", "4"), report["timeline"]["nodes"]
    _, report = smoke(url, WAN, "--set", "negative_prompt=blurry")
    encoded = [n["node_id"] for n in report["timeline"]["nodes"] if n["stage"] == "text_encode"]
    assert sorted(encoded) == ["3", "4"]
