"""How the suite splits across pytest-xdist workers (`scripts/test` runs it as `pytest -n N --dist loadgroup`;
docs/development.md).

A work unit is a whole test module, or every module marked with one `xdist_group`: a module's
module-scoped fixtures (a fleet, the swarm lab, the docs sandbox) are built once, on one worker, its tests
run in file order, and the modules of a group share a session fixture's state on one worker
(test_site.py's fleet, which test_remove.py uninstalls from). The slowest units start first, so the
longest chain does not begin last."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from xdist.scheduler import LoadScopeScheduling


class ModuleScheduling(LoadScopeScheduling):
    """Work units are modules or xdist groups (`--dist loadgroup` appends `@group` to a grouped test's id)."""

    def _split_scope(self, nodeid: str) -> str:
        if nodeid.rfind("@") > nodeid.rfind("]"):  # a `]` after it: an `@` in a parameter's id
            return nodeid.rsplit("@", 1)[-1]
        return nodeid.split("::", 1)[0]


def slowest_first(items: Sequence[pytest.Item]) -> list[pytest.Item]:
    """The items with whole modules moved by weight (xdist groups, then `fleet` and `slow`, then `slow` or
    `fleet`, then the rest); a module's own tests keep their order, and so do modules of equal weight."""
    weight: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        weight[module] = min(weight.get(module, 3), _weight(item))
    return sorted(items, key=lambda item: weight[item.nodeid.split("::", 1)[0]])


def _weight(item: pytest.Item) -> int:
    if item.get_closest_marker("xdist_group"):
        return 0
    marks = {name for name in ("fleet", "slow") if item.get_closest_marker(name)}
    return {2: 1, 1: 2}.get(len(marks), 3)
