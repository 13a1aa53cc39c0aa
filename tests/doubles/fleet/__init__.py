"""Test double: a fleet of real `sshd` processes on 127.0.0.1, each standing in for one GPU host.

Standalone (no pytest import): tests use it through `tests/fleet_fixtures.py`, benchmarks import it directly.

    specs = [HostSpec("gpu-a"), HostSpec("gpu-b", env={"PATH": "/fake/bin:/usr/bin"})]
    with Fleet.start(tmp_dir, specs) as fleet:
        result = run_playbook(fleet, "site.yml")
        assert result.recap["gpu-a"].changed == 0
"""

from doubles.fleet.playbook import (
    ANSIBLE_PLAYBOOK,
    PlaybookResult,
    RecapCounts,
    ansible_core_version,
    parse_recap,
    run_ansible,
    run_playbook,
    service_user,
)
from doubles.fleet.sshd import Fleet, FleetHost, HostSpec

__all__ = [
    "ANSIBLE_PLAYBOOK",
    "Fleet",
    "FleetHost",
    "HostSpec",
    "PlaybookResult",
    "RecapCounts",
    "ansible_core_version",
    "parse_recap",
    "run_ansible",
    "run_playbook",
    "service_user",
]
