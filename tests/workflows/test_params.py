"""Parameter layering and the checks that say the nearest valid value."""

from __future__ import annotations

import pytest

from wanprov.workflows.params import WorkflowParamError, load_defaults, nearest_4n1, parse_set, resolve


@pytest.fixture(scope="module")
def defaults():
    return load_defaults()


def wan(defaults, **kwargs):
    presets, templates = defaults
    return resolve(templates["wan22-i2v-gguf-lightning"], presets, **kwargs)


@pytest.mark.parametrize(("length", "nearest"), [(40, 41), (38, 37), (39, 37), (1, 1), (82, 81)])
def test_nearest_4n1(length, nearest):
    assert nearest_4n1(length) == nearest


def test_length_not_4n1_offers_the_nearest(defaults):
    with pytest.raises(WorkflowParamError, match="length=40") as err:
        wan(defaults, overrides={"length": 40})
    assert "length=41" in err.value.hint


def test_width_not_multiple_of_16(defaults):
    with pytest.raises(WorkflowParamError) as err:
        wan(defaults, overrides={"width": 850})
    assert "width=848" in err.value.hint


def test_layering_tier_then_preset_then_set(defaults):
    params = wan(defaults, tier="xlarge")
    assert (params["width"], params["height"], params["length"]) == (1280, 720, 81)
    params = wan(defaults, tier="xlarge", preset="480p", overrides={"length": 49, "width": 640})
    assert (params["width"], params["height"], params["length"]) == (640, 480, 49)


def test_parse_set_types_and_errors():
    assert parse_set(["length=41", "rife=on", "prompt=a=b"]) == {"length": 41, "rife": True, "prompt": "a=b"}
    with pytest.raises(WorkflowParamError, match="unknown parameter"):
        parse_set(["lenght=41"])
    with pytest.raises(WorkflowParamError, match="not a valid int"):
        parse_set(["seed=abc"])


def test_unknown_tier_and_preset(defaults):
    with pytest.raises(WorkflowParamError):
        wan(defaults, tier="huge")
    with pytest.raises(WorkflowParamError):
        wan(defaults, preset="4k")


def test_each_template_takes_exactly_the_parameters_it_uses():
    """`params` (what --set accepts) is what the template text reads, so nothing is accepted and ignored."""
    import re

    from wanprov.resources import template_path

    for info in load_defaults()[1].values():
        text = (template_path("workflows") / f"{info.name}.json.j2").read_text()
        used = set(re.findall(r"\bp\.([a-z_]+)", text))
        meta = {"preset", "profile"} | ({"nvenc"} if info.family == "wan22-i2v" else set())  # read by render
        assert info.params == used | meta, info.name
        for tier, values in info.tiers.items():
            assert set(values) <= info.params, (info.name, tier)


def test_wan_tier_profiles_are_the_doctors_recommendations():
    """A tier from --facts picks the same profile `wanprov doctor` recommends for that host."""
    from wanprov.compat import tables

    doctor = {row["tier"]: row["profile"] for row in tables.load("vram-tiers")}
    for info in load_defaults()[1].values():
        if info.family == "wan22-i2v":
            for tier, values in info.tiers.items():
                assert doctor[tier] in (values["profile"], None), (info.name, tier)


def test_unknown_option_for_a_template_is_refused():
    presets, templates = load_defaults()
    with pytest.raises(WorkflowParamError, match="flux1-schnell has no parameter rife") as caught:
        resolve(templates["flux1-schnell"], presets, overrides={"rife": True})
    assert "teacache" in caught.value.hint and "rife" not in caught.value.hint
