"""Property: hostile workflows (API and editor format), `--set` values, facts files and probe output give a
documented exit code and one clear message, never a traceback; what is written is finite JSON."""

from __future__ import annotations

import copy
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hostile_cli import assert_clean_failure, invoke
from hostile_strategies import NASTY_TEXT, VALUES, mutated
from hypothesis import given
from hypothesis import strategies as st

from doctor.facts_builder import BASE
from wanprov.doctor import evaluate
from wanprov.facts import nvenc, process, snapshot, torch_probe
from wanprov.workflows.params import PARAM_TYPES

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows" / "data"


def strict_json(text: str) -> Any:
    """json.loads that refuses NaN/Infinity: what every consumer of wanprov's JSON must be able to read."""

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in output")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def api_prompt() -> dict[str, Any]:
    result = invoke("workflow", "render", "wan22-i2v-gguf-lightning")
    assert result.code == 0, result
    return strict_json(result.out)


@pytest.fixture(scope="module")
def editor_workflow() -> dict[str, Any]:
    return json.loads((WORKFLOWS / "wan22-i2v-editor-export.json").read_text())


def check(document: Any, *extra: str, raw: str | None = None):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.json"
        path.write_text(raw if raw is not None else json.dumps(document))
        result = invoke("workflow", "check", str(path), "--format", "json", *extra)
        assert sorted(p.name for p in Path(tmp).iterdir()) == ["w.json"]
    return result


@given(data=st.data())
def test_hostile_api_workflow(data: st.DataObject, api_prompt: dict[str, Any]) -> None:
    prompt = mutated(copy.deepcopy(api_prompt), data.draw, depth=3)
    result = check(prompt)
    assert_clean_failure(result, json_format=True)


@given(data=st.data())
def test_hostile_editor_workflow(data: st.DataObject, editor_workflow: dict[str, Any]) -> None:
    workflow = copy.deepcopy(editor_workflow)
    nodes = workflow["nodes"]
    index = data.draw(st.integers(0, len(nodes) - 1))
    nodes[index] = mutated(nodes[index], data.draw, depth=2)
    if data.draw(st.booleans()):
        workflow = mutated(workflow, data.draw, depth=1)
    if data.draw(st.booleans()) and isinstance(workflow.get("links"), list) and workflow["links"]:
        workflow["links"] = [
            data.draw(VALUES) if i == 0 else link for i, link in enumerate(workflow["links"])
        ]
    assert_clean_failure(check(workflow), json_format=True)


@given(st.text(max_size=120))
def test_arbitrary_workflow_text(text: str) -> None:
    assert_clean_failure(check(None, raw=text), json_format=True)


def test_deeply_nested_json_is_a_bad_file_not_a_crash() -> None:
    result = check(None, raw="[" * 100_000 + "]" * 100_000)
    assert result.code == 10, result
    assert_clean_failure(result, json_format=True)


def test_a_link_cycle_fails_check(api_prompt: dict[str, Any]) -> None:
    prompt = copy.deepcopy(api_prompt)
    decoders = [i for i, n in prompt.items() if n["class_type"] == "VAEDecode"]
    node = prompt[decoders[0]]
    source = node["inputs"]["samples"][0]
    prompt[source]["inputs"]["positive"] = [decoders[0], 0]  # the sampler now depends on its own decoder
    document = check(prompt).json()
    assert not document["ok"]
    assert any(e["kind"] == "dependency_cycle" for e in document["errors"]), document["errors"]


@pytest.mark.parametrize("name", ["../../../etc/passwd", "/etc/passwd", "sub/../../x.gguf"])
def test_model_names_outside_their_folder_are_errors_and_never_present(
    api_prompt: dict[str, Any], tmp_path: Path, name: str
) -> None:
    prompt = copy.deepcopy(api_prompt)
    loader = next(n for n in prompt.values() if n["class_type"] == "UnetLoaderGGUF")
    loader["inputs"]["unet_name"] = name
    (tmp_path / "models" / "unet").mkdir(parents=True)  # ComfyUI layout; /etc/passwd exists on this host
    document = check(prompt, "--comfyui-dir", str(tmp_path / "models" / ".."), "--format", "json").json()
    assert any(e["kind"] == "unsafe_file_name" for e in document["errors"]), document["errors"]
    assert all(f["found"] is None for f in document["files"] if f["name"] == name)


SET_KEYS = st.one_of(st.sampled_from(sorted(PARAM_TYPES)), st.text(max_size=10))
SET_VALUES = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "1e999", "NaN", "-0", "1e-320", "0x10", "１２"]),
    NASTY_TEXT,
    st.text(max_size=12),
    st.integers(-(2**64), 2**64).map(str),
    st.floats().map(str),
)


@given(sets=st.lists(st.tuples(SET_KEYS, SET_VALUES), max_size=3))
def test_set_values(sets: list[tuple[str, str]]) -> None:
    args = [f"--set={k}={v}" for k, v in sets]
    result = invoke("workflow", "render", "wan22-i2v-gguf-lightning", *args)
    assert_clean_failure(result, json_format=False, allowed={0, 2, 8, 10})
    if result.code == 0:
        prompt = strict_json(result.out)  # finite numbers only
        for node in prompt.values():
            for value in node["inputs"].values():
                assert not (isinstance(value, float) and not math.isfinite(value))


@given(data=st.data())
def test_hostile_facts_file(data: st.DataObject) -> None:
    facts = mutated(copy.deepcopy(BASE), data.draw, depth=3)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "facts.json"
        path.write_text(json.dumps(facts))
        result = invoke("doctor", "--facts", str(path), "--format", "json")
        assert_clean_failure(result, json_format=True, allowed={0, 1, 10})
        result = invoke("workflow", "render", "flux1-schnell", "--facts", str(path))
        assert_clean_failure(result, json_format=False, allowed={0, 2, 10})


@pytest.mark.parametrize(
    ("section", "key", "value", "named"),
    [
        ("memory", "total_bytes", float("nan"), "NaN is not a JSON number"),
        ("memory", "total_bytes", -1, "memory.total_bytes"),
        ("disk", "free_bytes", "lots", "disk.free_bytes"),
        ("nvenc", "encoders", {"h264_nvenc": "yes"}, "nvenc.encoders"),
        ("torch", "arch_list", "sm_90", "torch.arch_list"),
    ],
)
def test_wrong_facts_are_exit_10_naming_the_field(
    tmp_path: Path, section: str, key: str, value: Any, named: str
) -> None:
    facts = copy.deepcopy(BASE)
    facts[section][key] = value
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(facts))
    result = invoke("doctor", "--facts", str(path), "--format", "json")
    assert result.code == 10 and named in result.json()["message"]


def test_negative_vram_is_exit_10(tmp_path: Path) -> None:
    facts = copy.deepcopy(BASE)
    facts["gpu"]["devices"][0]["vram_total_mib"] = -80_000
    (tmp_path / "f.json").write_text(json.dumps(facts))
    result = invoke("workflow", "render", "flux1-schnell", "--facts", str(tmp_path / "f.json"))
    assert result.code == 10 and "vram_total_mib" in result.err


TORCH_KEYS = ["torch", "torch_cuda", "arch_list", "cuda_available", "kernel", "modules", "device_capability"]


@given(
    stdout=st.one_of(
        st.text(max_size=80),
        st.dictionaries(st.sampled_from([*TORCH_KEYS, "torch_import_error"]), VALUES).map(json.dumps),
        VALUES.map(json.dumps),
    ),
    rc=st.one_of(st.none(), st.integers(-9, 2)),
)
def test_hostile_torch_probe_output(stdout: str, rc: int | None) -> None:
    """Whatever the target interpreter prints, the torch section is well-typed and the rules can judge it."""
    section = torch_probe.read_output(process.Result(rc, stdout, "boom"), "/venv/bin/python")
    assert snapshot.section_problem("torch", section) is None
    facts = copy.deepcopy(BASE)
    facts["torch"] = section
    evaluate(facts)  # must not raise


@given(
    stdout=st.one_of(
        st.text(max_size=80),
        st.fixed_dictionaries(
            {"av": st.one_of(st.text(max_size=5), VALUES)},
            optional={
                "encoders": st.one_of(
                    VALUES, st.dictionaries(st.sampled_from([*nvenc.CODECS, nvenc.CONTROL]), VALUES)
                ),
                "av_import_error": VALUES,
            },
        ).map(json.dumps),
    ),
    rc=st.one_of(st.none(), st.integers(-9, 2)),
)
def test_hostile_pyav_probe_output(stdout: str, rc: int | None) -> None:
    section = nvenc.read_pyav_output(process.Result(rc, stdout, "boom"), "/venv/bin/python")
    assert snapshot.section_problem("nvenc", section) is None
    facts = copy.deepcopy(BASE)
    facts["nvenc"] = section
    evaluate(facts)  # must not raise
