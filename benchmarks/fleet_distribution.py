#!/usr/bin/env python3
"""How long until every host of a fleet holds a verified copy: from the hub, from the controller, or p2p?

A real network on one machine (tests/doubles/netlab: network namespaces, a bridge, tc token-bucket caps on
each node's egress): the hub double behind a 200 Mbit/s uplink, a controller and N hosts at 400 Mbit/s each.
Modes, each for 4 and 8 hosts:

- hub:        every host runs `wanprov fetch-models` against the hub (the hub's uplink carries N copies);
- controller: the controller runs `fetch-models` once, then serves its copy over HTTP (the same Hub
              protocol double) and every host runs `fetch-models` against it;
- p2p:        the controller runs `fetch-models` once, `wanprov swarm publish` (mktorrent, opentracker,
              aria2c seeding), and every host runs `wanprov swarm fetch` at once (aria2c, then wanprov's
              sha256 and rename).

For each: wall time to the last verified copy (every host's command has exited 0 and the benchmark hashed
every host's file itself), bytes out of the hub (its egress counter), CPU seconds of every process run in
the namespaces (the wanprov commands with their children, and the seeder and tracker read from /proc before
they stop). Then the controller's time before the first host byte (fetch + torrent creation) and the
torrent creation rate, extrapolated to 28 GB. Prints figures and the goal ratios; it asserts nothing.
Needs root, iproute2, aria2, opentracker, mktorrent, curl. Run it niced on a shared machine:

    nice -n 10 .venv/bin/python benchmarks/fleet_distribution.py [--size-mib 256] [--hosts 4,8]
        [--modes hub,controller,p2p] [--piece-size-log2 22]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from doubles.netlab import NetLab, available  # noqa: E402
from doubles.swarm_fleet import SwarmFleet  # noqa: E402

CONTROLLER_HTTP_PORT = 8081
TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    return total


def run_mode(mode: str, hosts: int, size: int, piece_log2: int, workdir: Path) -> dict[str, float]:
    with NetLab(f"wpb{os.getpid() % 10000}") as lab:
        fleet = SwarmFleet(lab, workdir, [size], hosts, piece_size_log2=piece_log2)
        tx0 = lab.tx_bytes(fleet.hub)
        figures: dict[str, float] = {}
        started, cpu0, served_cpu = time.monotonic(), _children_cpu(), 0.0
        if mode == "hub":
            run = fleet.run_hosts({h.name: fleet.hub_fetch(h) for h in fleet.hosts}, timeout_s=3600)
        else:
            figures["controller_fetch_s"] = fleet.controller_fetch()
            if mode == "controller":
                figures["first_byte_s"] = time.monotonic() - started
                serve = [
                    sys.executable, "-m", "tests.doubles.hub", "--root", str(workdir / "hub"),
                    "--host", fleet.controller.address, "--port", str(CONTROLLER_HTTP_PORT),
                ]  # fmt: skip
                # the controller serves the copy it fetched (the same bytes: hard links, no second copy)
                lab.run(fleet.controller, serve, background=True, env={"PYTHONPATH": str(REPO)})
                url = f"http://{fleet.controller.address}:{CONTROLLER_HTTP_PORT}"
                fleet._wait_http(fleet.hosts[0], url)
                fleet.env["HF_ENDPOINT"] = url
                run = fleet.run_hosts({h.name: fleet.hub_fetch(h) for h in fleet.hosts}, timeout_s=3600)
                served_cpu = _cpu_of(lab.pids(fleet.controller))  # its HTTP server, still running
            else:
                publish_started = time.monotonic()
                fleet.publish(seed_deadline_s=3600)
                figures["publish_s"] = time.monotonic() - publish_started
                figures["first_byte_s"] = time.monotonic() - started
                commands = {h.name: fleet.swarm_fetch(h, deadline_s=3000, linger_s=2) for h in fleet.hosts}
                run = fleet.run_hosts(commands, timeout_s=3600)
                served_cpu = _cpu_of(lab.pids(fleet.controller))  # the seeder and the tracker, still running
                fleet.stop()
        wall = time.monotonic() - started
        failed = [name for name, code in run.codes.items() if code != 0]
        unverified = [h.name for h in fleet.hosts if not fleet.verified(h)]
        if failed or unverified:
            raise SystemExit(f"{mode} x{hosts}: failed {failed}, unverified {unverified}: {run.reports}")
        figures.update(
            wall_s=wall, hub_bytes=lab.tx_bytes(fleet.hub) - tx0, cpu_s=_children_cpu() - cpu0 + served_cpu
        )
        if mode == "p2p":
            figures["torrent_rate_bps"] = torrent_rate(fleet.cache, piece_log2)
        return figures


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def torrent_rate(cache: Path, piece_log2: int) -> float:
    """Bytes per second mktorrent hashes a cold-ish file of the cache (the controller's torrent creation)."""
    files = [p for p in cache.rglob("*") if p.is_file() and ".wanprov" not in str(p)]
    biggest = max(files, key=lambda p: p.stat().st_size)
    out = cache.parent / "rate.torrent"
    started = time.monotonic()
    subprocess.run(
        ["mktorrent", "-p", "-l", str(piece_log2), "-a", "http://x/announce", "-o", str(out), str(biggest)],
        check=True,
        capture_output=True,
    )
    return biggest.stat().st_size / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=256, help="one file of this size (the issue: 1024)")
    parser.add_argument("--hosts", default="4,8")
    parser.add_argument("--modes", default="hub,controller,p2p")
    parser.add_argument("--piece-size-log2", type=int, default=22, help="22 = 4 MiB pieces")
    args = parser.parse_args()
    missing = [p for p in ("aria2c", "opentracker", "mktorrent", "curl") if shutil.which(p) is None]
    reason = available() or (f"missing {', '.join(missing)}" if missing else None)
    if reason:
        raise SystemExit(f"cannot run: {reason}")
    size = args.size_mib << 20
    results: dict[tuple[str, int], dict[str, float]] = {}
    for mode in args.modes.split(","):
        for hosts in (int(n) for n in args.hosts.split(",")):
            workdir = Path(tempfile.mkdtemp(prefix="wanprov-fleet-bench-"))
            workdir.chmod(0o755)
            try:
                results[mode, hosts] = run_mode(mode, hosts, size, args.piece_size_log2, workdir)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            r = results[mode, hosts]
            print(
                f"  {mode} x{hosts}: {r['wall_s']:.1f} s, hub {r['hub_bytes'] / size:.3f} x size", flush=True
            )
    print()
    print(f"one {args.size_mib} MiB file; hub uplink 200 Mbit/s, controller and hosts 400 Mbit/s (tc tbf)")
    print(f"{'mode':<11} {'hosts':>5} {'wall s':>8} {'hub out (x size)':>17} {'CPU s':>7} {'1st byte s':>11}")
    for (mode, hosts), r in results.items():
        first = f"{r['first_byte_s']:.1f}" if "first_byte_s" in r else "-"
        line = f"{mode:<11} {hosts:>5} {r['wall_s']:>8.1f} {r['hub_bytes'] / size:>17.3f} {r['cpu_s']:>7.1f}"
        print(f"{line} {first:>11}")
    hosts_list = sorted({h for _, h in results})
    if ("p2p", hosts_list[-1]) in results:
        p2p = results["p2p", hosts_list[-1]]
        rate = p2p["torrent_rate_bps"]
        print()
        print(
            f"controller before the first host byte (p2p x{hosts_list[-1]}): {p2p['first_byte_s']:.1f} s "
            f"(fetch {p2p['controller_fetch_s']:.1f} s + publish {p2p['publish_s']:.1f} s)"
        )
        print(f"torrent creation: {rate / 1e6:.0f} MB/s -> 28 GB in {28e9 / rate:.0f} s")
    if {("p2p", 4), ("p2p", 8), ("controller", 8)} <= set(results):
        p8, p4, c8 = (
            results["p2p", 8]["wall_s"],
            results["p2p", 4]["wall_s"],
            results["controller", 8]["wall_s"],
        )
        print(f"goal p2p x8 <= 0.4 x controller x8: {p8 / c8:.2f}")
        print(f"goal p2p x8 <= 1.15 x p2p x4: {p8 / p4:.2f}")
        print(f"goal hub egress <= 1.05 x size (p2p x8): {results['p2p', 8]['hub_bytes'] / size:.3f}")


if __name__ == "__main__":
    main()
