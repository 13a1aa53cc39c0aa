"""The real engines (aria2c, or libtorrent in-process; opentracker) in network namespaces, tc caps, 4 hosts.

Each test runs once per engine (the `fleet` fixture's parameter)."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import time
import urllib.parse

import pytest

from doubles.swarm_fleet import SwarmFleet

from .conftest import aria2c_pids, engine_pids, staged_bytes

pytestmark = pytest.mark.slow


def _served(run, name: str) -> list[str]:
    return run.reports[name].get("served_by", [])


def test_every_host_verified_through_the_swarm_and_the_hub_sends_one_copy(round_: SwarmFleet) -> None:
    fleet = round_
    run = fleet.run_hosts({h.name: fleet.swarm_fetch(h) for h in fleet.hosts})
    for host in fleet.hosts:
        assert run.codes[host.name] == 0, run.reports[host.name]
        assert _served(run, host.name) == ["p2p"], run.reports[host.name]
        assert fleet.verified(host), host.name
    hub_out = fleet.controller_hub_tx + run.hub_tx  # type: ignore[attr-defined]
    assert hub_out <= 1.05 * fleet.size, (hub_out, fleet.size)
    # the hosts fed each other: the controller alone did not send every host its copy
    uploaded = sum(run.reports[h.name]["chain"][0]["swarm"]["uploaded_bytes"] for h in fleet.hosts)
    assert uploaded > 0


def test_a_peer_killed_mid_run_and_the_rest_still_finish(round_: SwarmFleet) -> None:
    fleet = round_
    victim = fleet.hosts[1]
    commands = {h.name: fleet.swarm_fetch(h, "--no-fallback-hub", deadline_s=60) for h in fleet.hosts}
    runner = _Background(fleet, commands)
    end = time.monotonic() + 30
    while staged_bytes(fleet, victim.name) < 512 << 10 and time.monotonic() < end:
        time.sleep(0.05)
    pids = engine_pids(fleet, victim.name)
    assert pids, "the victim's engine was not running"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    run = runner.wait()
    assert run.codes[victim.name] != 0
    if fleet.engine == "aria2":  # its swarm died and no fallback was allowed: wanprov lives on and says so
        assert run.reports[victim.name]["chain"][0]["outcome"] != "ok"
        assert "aria2c exited" in str(run.reports[victim.name]["chain"][0]["swarm"]["error"])
    else:  # the engine ran inside wanprov: the host's command died with it (the play falls back)
        assert run.codes[victim.name] == -signal.SIGKILL
    for host in fleet.hosts:
        if host is not victim:
            assert run.codes[host.name] == 0, run.reports[host.name]
            assert fleet.verified(host), host.name


def test_a_peer_serving_corrupt_data_is_refused_and_the_files_land_right(round_: SwarmFleet) -> None:
    fleet = round_
    evil = fleet.lab.nodes.get("evil") or fleet.lab.node("evil", 400)
    evil_dir = fleet.workdir / f"evil{fleet.round}"
    for _, file_id, folder, name in fleet.roles:  # the right sizes, wrong bytes: it claims every piece
        (evil_dir / folder).mkdir(parents=True, exist_ok=True)
        (evil_dir / folder / name).write_bytes(random.Random(file_id).randbytes(fleet.sizes[file_id]))
    torrents = sorted((fleet.state / "torrents").glob("*.torrent"))
    inputs = evil_dir / "input.txt"
    by_number = dict(enumerate(fleet.roles))
    inputs.write_text("".join(f"{t}\n  dir={evil_dir / by_number[int(t.stem)][2]}\n" for t in torrents))
    fleet.lab.cap(fleet.controller, 16)  # the honest seeder is slow: the hosts take what the evil peer offers
    fleet.lab.run(
        evil,
        [
            "aria2c", "--enable-dht=false", "--enable-peer-exchange=false", "--bt-enable-lpd=false",
            "--seed-ratio=0.0", "--bt-seed-unverified=true", "--check-integrity=false",
            f"--interface={evil.address}",
            "--listen-port=6881", "--bt-tracker-interval=1", f"--input-file={inputs}", "--summary-interval=0",
        ],
        background=True,
        log=evil_dir / "aria2c.log",
    )  # fmt: skip
    time.sleep(1.5)  # it announces first, so every host hears of it
    before = fleet.lab.tx_bytes(evil)
    run = fleet.run_hosts({h.name: fleet.swarm_fetch(h, deadline_s=90) for h in fleet.hosts})
    for pid in aria2c_pids(fleet, "evil"):
        os.kill(pid, signal.SIGTERM)
    assert fleet.lab.tx_bytes(evil) - before > 256 << 10, "the corrupt peer was never asked for a piece"
    for host in fleet.hosts:
        assert run.codes[host.name] == 0, run.reports[host.name]
        assert fleet.verified(host), host.name


def test_a_host_whose_swarm_times_out_falls_back_and_says_so(round_: SwarmFleet) -> None:
    fleet = round_
    fleet.stop()  # no seeder, no tracker: the swarm cannot deliver
    first, second = fleet.hosts[0], fleet.hosts[1]
    run = fleet.run_hosts(
        {
            first.name: fleet.swarm_fetch(first, "--fallback-from", str(fleet.cache), deadline_s=3),
            second.name: fleet.swarm_fetch(
                second, "--fallback-from", str(fleet.workdir / "gone"), deadline_s=3
            ),
        }
    )
    assert run.codes == {first.name: 0, second.name: 0}, run.reports
    one, two = run.reports[first.name], run.reports[second.name]
    assert [s["source"] for s in one["chain"]] == ["p2p", "controller"]
    assert one["chain"][0]["outcome"] == "timeout" and one["served_by"] == ["controller"] and one["fell_back"]
    assert [s["source"] for s in two["chain"]] == ["p2p", "controller", "hub"]
    assert two["served_by"] == ["hub"]
    assert fleet.verified(first) and fleet.verified(second)


class _Background:
    """run_hosts in a thread, so the test can act while the hosts fetch."""

    def __init__(self, fleet: SwarmFleet, commands: dict[str, list[str]]) -> None:
        import threading

        self.result = None
        self.thread = threading.Thread(target=self._run, args=(fleet, commands))
        self.thread.start()

    def _run(self, fleet: SwarmFleet, commands: dict[str, list[str]]) -> None:
        self.result = fleet.run_hosts(commands)

    def wait(self):
        self.thread.join(timeout=200)
        assert self.result is not None
        return self.result


def test_the_tracker_serves_exactly_the_published_info_hashes(round_: SwarmFleet) -> None:
    fleet = round_
    published = json.loads(fleet.publication.read_text())["items"][0]["handle"]
    stranger = "ab" * 20

    def announce(handle: str) -> bytes:
        query = "&".join(
            [
                "info_hash=" + urllib.parse.quote_from_bytes(bytes.fromhex(handle)),
                "peer_id=-AR1360-wanprovtest1",
                "port=6881",
                "uploaded=0",
                "downloaded=0",
                "left=1",
                "compact=1",
            ]
        )
        tracker = f"http://{fleet.controller.address}:6969/announce?{query}"
        return fleet.lab.run(fleet.hosts[0], ["curl", "-s", "-m", "3", tracker]).stdout  # type: ignore[union-attr]

    assert b"not authorized" in announce(stranger)
    assert b"failure reason" not in announce(published) and b"interval" in announce(published)


def test_every_listener_of_the_controller_binds_the_cluster_address(round_: SwarmFleet) -> None:
    fleet = round_
    listed = fleet.lab.run(fleet.controller, ["ss", "-Hltun"]).stdout.decode()  # type: ignore[union-attr]
    # libtorrent also binds the device (10.0.0.3%eth0:6881): still the cluster address
    local = {re.sub(r"%[^:]+:", ":", line.split()[4]) for line in listed.splitlines() if line.strip()}
    address = fleet.controller.address
    assert {f"{address}:6969", f"{address}:6881"} <= local, local  # tracker (TCP, UDP) and seeder
    strays = {a for a in local if not a.startswith((f"{address}:", "127.0.0.1:"))}
    assert not strays, strays  # nothing on 0.0.0.0 or [::]; aria2c's control port is on loopback only
