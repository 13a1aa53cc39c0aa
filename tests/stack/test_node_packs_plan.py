"""Plan decisions from observed checkout state (pure: no git, no pip)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wanprov.stack.git import CheckoutState
from wanprov.stack.manifest import NodePack
from wanprov.stack.node_packs_plan import decide

PACK = NodePack("P", "file:///src/P", "a" * 40, "test")
WANT = {"commit": "a" * 40, "constraints_sha256": "c"}
PATH = Path("/x/custom_nodes/P")


@pytest.mark.parametrize(
    ("state", "recorded", "expected_state", "actions"),
    [
        (CheckoutState(False), None, "missing", ["clone", "requirements"]),
        (CheckoutState(True, True, "a" * 40, PACK.url), WANT, "ok", []),
        (CheckoutState(True, True, "a" * 40, PACK.url), None, "requirements", ["requirements"]),
        (CheckoutState(True, True, "a" * 40, PACK.url), {**WANT, "constraints_sha256": "d"}, "requirements",
         ["requirements"]),
        (CheckoutState(True, True, "b" * 40, PACK.url), WANT, "wrong_commit", ["checkout", "requirements"]),
        (CheckoutState(True, True, "a" * 40, "file:///old"), WANT, "url_changed", ["set_url"]),
        (CheckoutState(True, True, "a" * 40, PACK.url, dirty=True), WANT, "dirty",
         ["checkout", "requirements"]),
    ],
)  # fmt: skip
def test_decide(state, recorded, expected_state, actions):
    plan = decide(PACK, PATH, state, recorded, WANT)
    assert (plan.state, plan.actions) == (expected_state, actions)


def test_dirty_is_blocked_without_force_and_non_repo_always():
    dirty = CheckoutState(True, True, "a" * 40, PACK.url, dirty=True)
    assert "--force" in (decide(PACK, PATH, dirty, WANT, WANT).blocked or "")
    assert decide(PACK, PATH, dirty, WANT, WANT, force=True).blocked is None
    not_repo = decide(PACK, PATH, CheckoutState(True, False), None, WANT, force=True)
    assert not_repo.state == "not_a_repo" and not_repo.blocked and not_repo.actions == []


def test_skip_policy_never_plans_requirements():
    pack = NodePack("P", PACK.url, PACK.commit, "test", requirements="skip")
    assert decide(pack, PATH, CheckoutState(False), None, WANT).actions == ["clone"]
