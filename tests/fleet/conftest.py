"""Fixtures shared by the fleet modules (one pytest session builds the stack's sources once, and converges
the three-host site fleet once for test_site.py and test_remove.py)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from doubles.fleet import PlaybookResult
from fleet.fleet_setup import FleetUnderTest, build_fleet, stack_sources
from stack.stack_sources import SourceRepos


@pytest.fixture(scope="session")
def fleet_sources() -> Iterator[tuple[SourceRepos, Path, Path]]:
    """ComfyUI's and the node packs' local git repos, their manifest and the wheelhouse (with wanprov's own
    wheel), built once for every fleet module. The hosts only read them; a module that needs another
    wheelhouse works on a copy."""
    # Not under pytest's 0700 tmp: the unprivileged service user must traverse to the repos.
    base = Path(tempfile.mkdtemp(prefix="wanprov-sources-", dir="/tmp"))
    base.chmod(0o755)
    try:
        yield stack_sources(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def site_fleet(fleet_sources) -> Iterator[FleetUnderTest]:
    """The three-host fleet (tests/fleet/fleet_setup.py). A host's first converge with its models is the
    suite's costliest step, so one fleet serves test_site.py and then test_remove.py, which uninstalls
    from one of its hosts (the hook below runs it last)."""
    under_test = build_fleet(sources=fleet_sources)
    yield under_test
    under_test.stop()


@pytest.fixture(scope="session")
def site_first_run(site_fleet: FleetUnderTest) -> PlaybookResult:
    """The fleet's first converge of site.yml (models included)."""
    return site_fleet.converge()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """test_remove.py's tests run after test_site.py's: they uninstall from the fleet that test_site.py
    converged and checks."""
    remove = [item for item in items if _fleet_module(item) == "test_remove.py"]
    site = [index for index, item in enumerate(items) if _fleet_module(item) == "test_site.py"]
    if not remove or not site:
        return
    rest = [item for item in items if _fleet_module(item) != "test_remove.py"]
    last_site = max(index for index, item in enumerate(rest) if _fleet_module(item) == "test_site.py")
    items[:] = [*rest[: last_site + 1], *remove, *rest[last_site + 1 :]]


def _fleet_module(item: pytest.Item) -> str | None:
    path = Path(str(item.path))
    return path.name if path.parent == Path(__file__).parent else None
