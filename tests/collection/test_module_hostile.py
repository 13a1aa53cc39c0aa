"""No module ends in a traceback or "unexpected error" for what it reads from outside: hostile arguments,
a hostile facts file. Each run exits through exit_json or fail_json (run_module would raise otherwise)."""

from __future__ import annotations

import copy
import json
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile.hostile_strategies import NASTY_TEXT, VALUES, mutated

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "doctor"))
from facts_builder import BASE

ARG = st.one_of(NASTY_TEXT, VALUES)


def assert_clean(rc: int, result: dict) -> None:
    assert rc in (0, 1), result
    if rc == 1:
        assert result.get("msg"), result
        assert not str(result["msg"]).startswith("unexpected error"), result
    assert "\x1b" not in json.dumps(result, ensure_ascii=False)


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_doctor_module_with_a_hostile_facts_file(run_module, data):
    facts = mutated(copy.deepcopy(BASE), data.draw, depth=3)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "facts.json"
        path.write_text(json.dumps(facts))
        assert_clean(*run_module("doctor", {"facts": str(path)}, check=True))


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(key=st.sampled_from(["templates", "tier", "profile", "mode", "set", "owner", "nvenc"]), value=ARG)
def test_workflows_module_with_a_hostile_argument(run_module, key, value):
    with tempfile.TemporaryDirectory() as tmp:
        args = {"dest": str(Path(tmp) / "wf"), "templates": ["flux1-schnell"], "tier": "large", key: value}
        assert_clean(*run_module("workflows", args, check=True))


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(paths=st.lists(st.one_of(NASTY_TEXT, st.text(max_size=20)), max_size=4), user=NASTY_TEXT)
def test_path_state_module_with_hostile_paths(run_module, paths, user):
    assert_clean(*run_module("path_state", {"user": user, "group": user, "paths": paths}))
