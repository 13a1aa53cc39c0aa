"""pytest fixtures over the SSH fleet double (`tests/doubles/fleet`).

Import the fixtures you need in your conftest or test module:

    from fleet_fixtures import ssh_fleet_factory  # noqa: F401

`ssh_fleet_factory(specs)` starts one sshd per HostSpec and stops them all at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from doubles.fleet import Fleet, HostSpec

FleetFactory = Callable[..., Fleet]


@pytest.fixture
def ssh_fleet_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetFactory]:
    """Start fleets on demand: `ssh_fleet_factory([HostSpec("a"), HostSpec("b", env={...})])`."""
    started: list[Fleet] = []

    def start(specs: list[HostSpec], base_dir: Path | None = None, **kwargs: object) -> Fleet:
        fleet = Fleet.start(base_dir or tmp_path_factory.mktemp("fleet"), specs, **kwargs)  # type: ignore[arg-type]
        started.append(fleet)
        return fleet

    yield start
    for fleet in started:
        fleet.stop()
