"""Every file and answer wanprov reads goes through one strict parser (wanprov.strict): duplicate keys
refused, alias expansion bounded, control characters refused in names, nesting bounded - each a documented
exit code naming the file, through the real CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hostile_cli import assert_clean_failure, invoke
from hypothesis import given
from hypothesis import strategies as st

from wanprov.exit_codes import ExitCode
from wanprov.models.segments import RangeSet
from wanprov.strict import StrictParseError, loads_json, loads_yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "doctor"))
import contextlib

from facts_builder import BASE


def nested_aliases(levels: int = 9, width: int = 9) -> str:
    """The classic alias bomb: a few hundred bytes that expand to width**levels values."""
    lines = ["x: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def run_fetch(tmp_path: Path, text: str):
    manifest = tmp_path / "mine.yaml"
    manifest.write_text(text)
    return invoke(
        "fetch-models", "--manifest", str(manifest), "--profile", "p",
        "--models-dir", str(tmp_path / "models"), "--dry-run", "--format", "json",
    )  # fmt: skip


def test_an_alias_bomb_manifest_is_refused_quickly(tmp_path: Path) -> None:
    text = nested_aliases()
    assert len(text) < 700
    result = run_fetch(tmp_path, "files:\n  " + text.replace("\n", "\n  ") + "profiles: {}\n")
    assert result.code == ExitCode.BAD_MANIFEST, result
    assert "expands to more than" in result.json()["message"]
    assert "mine.yaml" in result.json()["message"]


def test_the_shipped_manifests_with_aliases_still_load() -> None:
    for path in Path(__file__).resolve().parents[2].glob("manifests/**/*.yaml"):
        loads_yaml(path.read_text(encoding="utf-8"))


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(StrictParseError, match="contains it"):
        loads_yaml("a: &x [1, *x]\n")


def test_a_duplicate_yaml_key_is_refused_naming_it(tmp_path: Path) -> None:
    text = "files:\n  f: {repo: a/b}\n  f: {repo: c/d}\nprofiles: {}\n"
    result = run_fetch(tmp_path, text)
    assert result.code == ExitCode.BAD_MANIFEST, result
    message = result.json()["message"]
    assert "duplicate key 'f'" in message and "line 2" in message, message


def test_a_control_character_in_a_name_is_refused(tmp_path: Path) -> None:
    text = 'files:\n  "vae\\e]0;pwned\\a": {repo: a/b}\nprofiles: {}\n'
    result = run_fetch(tmp_path, text)
    assert result.code == ExitCode.BAD_MANIFEST, result
    assert "control character" in result.json()["message"]
    assert "\x1b" not in result.out + result.err


def test_a_duplicate_json_key_in_a_facts_file_is_refused(tmp_path: Path) -> None:
    facts = tmp_path / "facts.json"
    text = json.dumps(BASE)
    facts.write_text(text.replace('"schema":', '"schema": "wanprov.facts/0", "schema":', 1))
    result = invoke("doctor", "--facts", str(facts), "--format", "json")
    assert result.code == ExitCode.BAD_MANIFEST, result
    assert "duplicate key 'schema'" in result.json()["message"]


def test_a_duplicate_json_key_in_a_workflow_is_refused(tmp_path: Path) -> None:
    workflow = tmp_path / "w.json"
    workflow.write_text('{"1": {"class_type": "SaveImage", "inputs": {}}, "1": {"class_type": "X"}}')
    result = invoke("workflow", "check", str(workflow), "--format", "json")
    assert result.code == ExitCode.BAD_MANIFEST, result
    assert "duplicate key '1'" in result.json()["message"]


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, '{"a": NaN}', '{"a": 1e999999}'])
def test_json_that_is_not_plain_json_is_refused_or_bounded(tmp_path: Path, text: str) -> None:
    facts = tmp_path / "facts.json"
    facts.write_text(text)
    result = invoke("doctor", "--facts", str(facts), "--format", "json")
    assert_clean_failure(result, json_format=True)
    assert result.code == ExitCode.BAD_MANIFEST


YAML_PIECES = st.sampled_from(
    [
        "a",
        ": ",
        "- ",
        "&x ",
        "*x ",
        "&y ",
        "*y ",
        "[",
        "]",
        "{",
        "}",
        ", ",
        "\n",
        "  ",
        "<<: ",
        "!!str ",
        '"',
        "1",
    ]
)


@given(st.lists(YAML_PIECES, max_size=40).map("".join))
def test_yaml_is_parsed_or_refused_never_crashes(text: str) -> None:
    with contextlib.suppress(StrictParseError):
        loads_yaml(text)


@given(st.text(max_size=60))
def test_json_is_parsed_or_refused_never_crashes(text: str) -> None:
    with contextlib.suppress(StrictParseError):
        loads_json(text)


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 40)), max_size=40))
def test_rangeset_merges_like_the_naive_definition(pieces: list[tuple[int, int]]) -> None:
    ranges = RangeSet()
    covered: set[int] = set()
    for start, length in pieces:
        ranges.add(start, start + length)
        covered.update(range(start, start + length))
    expected: list[list[int]] = []
    for byte in sorted(covered):
        if expected and expected[-1][1] == byte:
            expected[-1][1] = byte + 1
        else:
            expected.append([byte, byte + 1])
    assert ranges.as_list() == expected
    assert ranges.total() == len(covered)
