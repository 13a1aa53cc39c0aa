"""Fixtures shared by the fleet modules: one pytest session builds the stack's sources once, and converges
the two hosts of tests/fleet/site_and_up.py once for test_up_site_same.py and then test_remove.py."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from doubles.fleet import PlaybookResult
from fleet.fleet_setup import stack_sources
from fleet.site_and_up import Hosts, run_up, start_hosts
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
def site_and_up(fleet_sources) -> Iterator[Hosts]:
    """The site and up hosts (tests/fleet/site_and_up.py). A host's first converge with its models is one
    of the suite's costliest steps, so the site host that test_up_site_same.py converges and compares is
    the one test_remove.py then uninstalls from (the hook below runs it after that module)."""
    hosts = start_hosts(fleet_sources)
    try:
        yield hosts
    finally:
        hosts.stop()


@pytest.fixture(scope="session")
def site_and_up_converged(site_and_up: Hosts) -> tuple[PlaybookResult, dict[str, Any]]:
    """site.yml (models included) on the site host, then `wanprov up` on the up host: site.yml's result
    and up's JSON document."""
    site = site_and_up.site(limit="site,localhost")
    proc = run_up(site_and_up)
    document = json.loads(proc.stdout)
    assert proc.returncode == 0, (document.get("error"), document.get("blocking"), proc.stderr[-3000:])
    return site, document


REMOVE_AFTER = "test_up_site_same.py"  # the module whose site host test_remove.py uninstalls from


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """test_remove.py's tests run after test_up_site_same.py's: they uninstall from the site host that
    test_up_site_same.py converged and compares."""
    remove = [item for item in items if _fleet_module(item) == "test_remove.py"]
    host = [index for index, item in enumerate(items) if _fleet_module(item) == REMOVE_AFTER]
    if not remove or not host:
        return
    rest = [item for item in items if _fleet_module(item) != "test_remove.py"]
    last = max(index for index, item in enumerate(rest) if _fleet_module(item) == REMOVE_AFTER)
    items[:] = [*rest[: last + 1], *remove, *rest[last + 1 :]]


def _fleet_module(item: pytest.Item) -> str | None:
    path = Path(str(item.path))
    return path.name if path.parent == Path(__file__).parent else None
