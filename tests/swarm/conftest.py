"""A real swarm in network namespaces: hub, controller and 4 hosts, module-scoped (one controller fetch)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from doubles.netlab import NetLab, available
from doubles.swarm_fleet import SwarmFleet

# Small files, several pieces each (256 KiB pieces), so the hosts trade pieces rather than each taking a
# whole file from the seeder.
SIZES = [3_000_000, 2_000_000, 700_000, 60_000]
# The programs each engine needs here (libtorrent's Python package is a test dependency: no skip for it).
ENGINES = {
    "aria2": ("aria2c", "opentracker", "mktorrent", "curl"),
    "libtorrent": ("opentracker", "curl", "aria2c"),  # aria2c: the corrupt peer of one test
}


def _why_not(engine: str) -> str | None:
    missing = [program for program in ENGINES[engine] if shutil.which(program) is None]
    if missing:
        return f"needs {', '.join(missing)} (.ci/run installs them)"
    return available()


@pytest.fixture(scope="module", params=sorted(ENGINES))
def fleet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwarmFleet]:
    reason = _why_not(request.param)
    if reason:
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("swarm")
    workdir.chmod(0o755)  # opentracker drops to `nobody` and must read its whitelist inside
    with NetLab(f"wps{os.getpid() % 100000}") as lab:
        fleet = SwarmFleet(
            lab, workdir, SIZES, 4, hub_mbit=100, controller_mbit=40, host_mbit=80,
            engine=request.param,
        )  # fmt: skip
        before = lab.tx_bytes(fleet.hub)
        fleet.controller_fetch()
        fleet.controller_hub_tx = lab.tx_bytes(fleet.hub) - before  # type: ignore[attr-defined]
        yield fleet
        fleet.stop()


@pytest.fixture
def round_(fleet: SwarmFleet) -> Iterator[SwarmFleet]:
    """Fresh, empty host folders and a freshly published swarm (the tracker's counts start at 0)."""
    fleet.next_round()
    fleet.lab.cap(fleet.controller, 40)
    fleet.publish()
    yield fleet
    fleet.stop()


def aria2c_pids(fleet: SwarmFleet, name: str) -> list[int]:
    return [pid for pid, argv in _processes(fleet, name) if Path(argv[0]).name == "aria2c"]


def engine_pids(fleet: SwarmFleet, name: str) -> list[int]:
    """The processes that move host `name`'s bytes: aria2c, or wanprov itself (libtorrent runs inside it)."""
    if fleet.engine == "aria2":
        return aria2c_pids(fleet, name)
    return [pid for pid, argv in _processes(fleet, name) if argv[1:4] == ["-m", "wanprov", "swarm"]]


def _processes(fleet: SwarmFleet, name: str) -> list[tuple[int, list[str]]]:
    found = []
    for pid in fleet.lab.pids(fleet.lab.nodes[name]):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        found.append((pid, argv))
    return found


def staged_bytes(fleet: SwarmFleet, name: str) -> int:
    """Bytes of model data the engine has written so far on host `name` (its own state files excluded)."""
    staging = fleet.models_dir(fleet.lab.nodes[name]) / ".wanprov-swarm"
    sizes = [p.stat().st_size for p in staging.rglob("*") if p.is_file() and ".engine" not in p.parts]
    return sum(sizes)
