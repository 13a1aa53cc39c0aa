"""How the suite splits across pytest-xdist workers (`scripts/test` runs `pytest -n N`; docs/development.md).

A work unit is a whole test module, or the modules of one entry of SHARED: a module's module-scoped
fixtures (a fleet, the swarm lab, the docs sandbox) are built once, on one worker, its tests run in file
order, and the modules that share a session fixture's state run on one worker, in collection order. The
slowest units start first, so the longest chain does not begin last: the SHARED groups and FIRST, then
the modules marked both `fleet` and `slow`, then those marked either, then the rest.

(xdist's own `xdist_group` marker cannot do this here: with pytest 9 a test's id can no longer be given
the group's name on the worker, so `--dist loadgroup` quietly spreads a group's tests over the workers.)"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from xdist.scheduler import LoadScopeScheduling

# module -> the work unit it shares with others. test_remove.py uninstalls from the site host that
# test_up_site_same.py converged (tests/fleet/conftest.py), after that module's tests.
SHARED = {
    "tests/fleet/test_up_site_same.py": "site-and-up",
    "tests/fleet/test_remove.py": "site-and-up",
}
# Modules that start with the SHARED groups: the suite's longest chain (the three-host fleet's converges
# and checks), which ends last if anything starts before it.
FIRST = frozenset({"tests/fleet/test_site.py"})


class ModuleScheduling(LoadScopeScheduling):
    """Work units are modules, or the SHARED groups of modules."""

    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        return SHARED.get(module, module)


def slowest_first(items: Sequence[pytest.Item]) -> list[pytest.Item]:
    """The items with whole modules moved by weight (SHARED groups and FIRST, then `fleet` and `slow`, then
    `slow` or `fleet`, then the rest); a module's own tests keep their order, and so do modules of equal
    weight."""
    weight: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        weight[module] = min(weight.get(module, 3), _weight(module, item))
    return sorted(items, key=lambda item: weight[item.nodeid.split("::", 1)[0]])


def _weight(module: str, item: pytest.Item) -> int:
    if module in SHARED or module in FIRST:
        return 0
    marks = {name for name in ("fleet", "slow") if item.get_closest_marker(name)}
    return {2: 1, 1: 2}.get(len(marks), 3)
