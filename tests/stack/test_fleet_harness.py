"""The SSH fleet double: real sshd on loopback, reachable by Ansible, each host with its own env."""

from __future__ import annotations

import json

import pytest

from doubles.fleet import HostSpec, parse_recap, run_ansible
from fleet_fixtures import ssh_fleet_factory  # noqa: F401

pytestmark = pytest.mark.fleet


def test_ping_two_hosts_over_ssh_and_per_host_env(ssh_fleet_factory):  # noqa: F811
    fleet = ssh_fleet_factory(
        [
            HostSpec("gpu-a", env={"WANPROV_TEST_MARK": "alpha"}),
            HostSpec("gpu-b", env={"WANPROV_TEST_MARK": "beta", "PATH": "/opt/fake/bin:/usr/bin:/bin"}),
        ]
    )
    ping = run_ansible(fleet, "ansible.builtin.ping")
    assert ping.rc == 0, ping.describe()
    assert ping.stdout.count("SUCCESS") == 2, ping.describe()

    shell = run_ansible(fleet, "ansible.builtin.command", module_args="env")
    assert shell.rc == 0, shell.describe()
    env_by_host = _env_by_host(shell.stdout)
    assert env_by_host["gpu-a"]["WANPROV_TEST_MARK"] == "alpha"
    assert env_by_host["gpu-b"]["WANPROV_TEST_MARK"] == "beta"
    # root's ~/.bashrc may prepend its own dirs; the host's PATH must still carry the double's entries.
    assert "/opt/fake/bin:/usr/bin:/bin" in env_by_host["gpu-b"]["PATH"]
    assert "/opt/fake/bin" not in env_by_host["gpu-a"]["PATH"]

    processes = [host.process for host in fleet.hosts.values()]
    fleet.stop()
    assert all(proc is not None and proc.poll() is not None for proc in processes)


def _env_by_host(stdout: str) -> dict[str, dict[str, str]]:
    hosts: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in stdout.splitlines():
        if " | CHANGED | rc=" in line:
            current = hosts.setdefault(line.split(" |", 1)[0], {})
        elif "=" in line:
            key, _, value = line.partition("=")
            current[key] = value
    return hosts


def test_inventory_has_per_host_root(ssh_fleet_factory, tmp_path):  # noqa: F811
    import yaml

    fleet = ssh_fleet_factory([HostSpec("one", vars={"extra": 1})])
    doc = yaml.safe_load(fleet.inventory.read_text())
    host = doc["all"]["children"]["gpu_hosts"]["hosts"]["one"]
    assert host["ansible_port"] == fleet.hosts["one"].port
    assert host["host_root"] == str(fleet.hosts["one"].root)
    assert host["extra"] == 1
    assert fleet.hosts["one"].root.is_dir()
    json.dumps(host)  # plain data


def test_parse_recap():
    out = """
PLAY RECAP *********************************************************************
gpu-a                      : ok=5 changed=2 unreachable=0 failed=0 skipped=1 rescued=0 ignored=0
gpu-b                      : ok=3 changed=0 unreachable=0 failed=1 skipped=0 rescued=0 ignored=0
"""
    recap = parse_recap(out)
    assert recap["gpu-a"].changed == 2 and recap["gpu-a"].skipped == 1
    assert recap["gpu-b"].failed == 1 and recap["gpu-b"].changed == 0
    assert parse_recap("no recap here") == {}
