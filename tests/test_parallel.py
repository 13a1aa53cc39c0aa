"""How scripts/test splits the suite across xdist workers (tests/parallel.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from parallel import ModuleScheduling, slowest_first


@dataclass
class FakeItem:
    nodeid: str
    marks: dict[str, pytest.Mark] = field(default_factory=dict)

    def get_closest_marker(self, name: str) -> pytest.Mark | None:
        return self.marks.get(name)


def _marks(*names: str) -> dict[str, pytest.Mark]:
    return {name: getattr(pytest.mark, name).mark for name in names}


@pytest.mark.parametrize(
    ("nodeid", "unit"),
    [
        ("tests/a/test_x.py::test_one", "tests/a/test_x.py"),
        ("tests/a/test_x.py::Class::test_two", "tests/a/test_x.py"),
        ("tests/a/test_x.py::test_p[h100::x]", "tests/a/test_x.py"),
        ("tests/fleet/test_site.py::test_one", "tests/fleet/test_site.py"),
        ("tests/fleet/test_up_site_same.py::test_one", "site-and-up"),
        ("tests/fleet/test_remove.py::test_p[x]", "site-and-up"),
    ],
)
def test_a_work_unit_is_a_module_or_a_shared_group(nodeid: str, unit: str) -> None:
    assert ModuleScheduling._split_scope(None, nodeid) == unit  # type: ignore[arg-type]


def test_slowest_modules_first_and_each_module_keeps_its_order() -> None:
    items = [
        FakeItem("tests/a.py::t1"),
        FakeItem("tests/b.py::t1", _marks("slow")),
        FakeItem("tests/c.py::t1"),
        FakeItem("tests/c.py::t2", _marks("fleet", "slow")),  # one such test moves its whole module
        FakeItem("tests/fleet/test_remove.py::t1"),
        FakeItem("tests/a.py::t2"),
        FakeItem("tests/fleet/test_remove.py::t2"),
        FakeItem("tests/fleet/test_site.py::t1", _marks("fleet", "slow")),  # FIRST: with the SHARED groups
    ]
    ordered = [item.nodeid for item in slowest_first(items)]  # type: ignore[arg-type]
    assert ordered == [
        "tests/fleet/test_remove.py::t1",
        "tests/fleet/test_remove.py::t2",
        "tests/fleet/test_site.py::t1",
        "tests/c.py::t1",
        "tests/c.py::t2",
        "tests/b.py::t1",
        "tests/a.py::t1",
        "tests/a.py::t2",
    ]
