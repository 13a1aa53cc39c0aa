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
