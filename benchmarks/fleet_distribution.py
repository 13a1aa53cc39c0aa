#!/usr/bin/env python3
"""How long until every host of a fleet holds a verified copy: from the hub, from the controller, or p2p?

A real network on one machine (tests/doubles/netlab: network namespaces, a bridge, tc token-bucket caps on
each node's egress): the hub double behind a 200 Mbit/s uplink, a controller and N hosts at 400 Mbit/s each.
Modes, each for 4 and 8 hosts:

- hub:        every host runs `wanprov fetch-models` against the hub (the hub's uplink carries N copies);
- controller: the controller runs `fetch-models` once, then serves its copy over HTTP (the same Hub
              protocol double) and every host runs `fetch-models` against it;
- p2p:        the controller runs `fetch-models` once, `wanprov swarm publish` (opentracker and the
              engine's seeder), and every host runs `wanprov swarm fetch` at once (the engine, then
              wanprov's sha256 and rename); `p2p` is the default engine, libtorrent, and `p2p-aria2` the
              aria2c engine (mktorrent makes its torrents).

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
import json
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
    """mode: hub, controller, or p2p-<engine> (p2p-aria2, p2p-libtorrent)."""
    engine = mode.split("-", 1)[1] if mode.startswith("p2p-") else "aria2"
    with NetLab(f"wpb{os.getpid() % 10000}") as lab:
        fleet = SwarmFleet(lab, workdir, [size], hosts, piece_size_log2=piece_log2, engine=engine)
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
        host_cpu = list(run.extra["host_cpu_s"].values())
        figures["host_cpu_mean_s"] = sum(host_cpu) / len(host_cpu)
        figures["host_cpu_max_s"] = max(host_cpu)
        figures["hosts_s"] = run.seconds  # from the hosts' start to the last host's exit
        figures["served_cpu_s"] = served_cpu
        if mode.startswith("p2p"):
            # per host: the engine's time (transfer + its piece checks) and the rest (wanprov's sha256,
            # rename, start-up); the slowest host's split
            engine_s = {n: r["chain"][0]["swarm"]["seconds"] for n, r in run.reports.items()}
            last = max(run.extra["host_s"], key=run.extra["host_s"].get)
            figures["engine_s_max"] = max(engine_s.values())
            figures["after_engine_s_last"] = run.extra["host_s"][last] - engine_s[last]
            figures["torrent_rate_bps"] = torrent_rate(fleet.cache, piece_log2, engine)
        return figures


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def torrent_rate(cache: Path, piece_log2: int, engine: str) -> float:
    """Bytes per second the engine's torrent creation hashes the cache's biggest file (page-cache warm)."""
    files = [p for p in cache.rglob("*") if p.is_file() and ".wanprov" not in str(p)]
    biggest = max(files, key=lambda p: p.stat().st_size)
    started = time.monotonic()
    if engine == "libtorrent":
        from wanprov.distribution.libtorrent_engine import make_torrent

        make_torrent(biggest, "http://x/announce", piece_log2)
    else:
        out = cache.parent / "rate.torrent"
        argv = ["mktorrent", "-p", "-l", str(piece_log2), "-a", "http://x/announce", "-o", str(out)]
        subprocess.run(
            [*argv, str(biggest)],
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
    parser.add_argument(
        "--modes", default="hub,controller,p2p", help="hub, controller, p2p (= p2p-libtorrent), p2p-aria2"
    )
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--piece-size-log2", type=int, default=22, help="22 = 4 MiB pieces")
    args = parser.parse_args()
    missing = [p for p in ("aria2c", "opentracker", "mktorrent", "curl") if shutil.which(p) is None]
    reason = available() or (f"missing {', '.join(missing)}" if missing else None)
    if reason:
        raise SystemExit(f"cannot run: {reason}")
    size = args.size_mib << 20
    results: dict[tuple[str, int], dict[str, float]] = {}
    modes = ["p2p-libtorrent" if m == "p2p" else m for m in args.modes.split(",")]
    print(f"load before: {os.getloadavg()[0]:.2f} (1 min); cores {os.cpu_count()}", flush=True)
    for mode in modes:
        for hosts in (int(n) for n in args.hosts.split(",")):
            workdir = Path(tempfile.mkdtemp(prefix="wanprov-fleet-bench-"))
            workdir.chmod(0o755)
            try:
                results[mode, hosts] = run_mode(mode, hosts, size, args.piece_size_log2, workdir)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            r = results[mode, hosts]
            print(
                f"  {mode} x{hosts}: {r['wall_s']:.1f} s, hub {r['hub_bytes'] / size:.3f} x size, "
                f"load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    print()
    print(f"one {args.size_mib} MiB file; hub uplink 200 Mbit/s, controller and hosts 400 Mbit/s (tc tbf)")
    print(
        f"{'mode':<15} {'hosts':>5} {'wall s':>7} {'hosts s':>7} {'hub out':>7} {'CPU s':>6} "
        f"{'CPU/host':>8} {'max':>5} {'1st byte':>8} {'engine':>6} {'after':>5}"
    )
    for (mode, hosts), r in results.items():

        def cell(key: str, width: int, r: dict = r) -> str:
            return f"{r[key]:>{width}.1f}" if key in r else f"{'-':>{width}}"

        print(
            f"{mode:<15} {hosts:>5} {r['wall_s']:>7.1f} {r['hosts_s']:>7.1f} {r['hub_bytes'] / size:>7.3f} "
            f"{r['cpu_s']:>6.1f} {r['host_cpu_mean_s']:>8.1f} {r['host_cpu_max_s']:>5.1f} "
            f"{cell('first_byte_s', 8)} {cell('engine_s_max', 6)} {cell('after_engine_s_last', 5)}"
        )
    print(
        "hosts s: from the hosts' start to the last verified copy; CPU s: every process (hosts, controller,"
        " hub), user+sys;\nCPU/host, max: one host's command with its engine; engine: the slowest engine"
        " fetch; after: the last host's time after its engine stopped (sha256, rename)"
    )
    gbit = size * 8 / 1e9
    for (mode, hosts), r in results.items():
        per_gbit = r["host_cpu_mean_s"] / gbit  # CPU s per Gbit = cores kept busy per Gbit/s
        floor = (r["cpu_s"]) / (os.cpu_count() or 1)
        print(
            f"  {mode} x{hosts}: host CPU s per Gbit delivered (= cores per Gbit/s) {per_gbit:.2f};"
            f" the run's CPU on {os.cpu_count()} cores takes >= {floor:.1f} s (wall {r['wall_s']:.1f} s)"
        )
    hosts_list = sorted({h for _, h in results})
    for engine in (m for m in modes if m.startswith("p2p") and (m, hosts_list[-1]) in results):
        p2p = results[engine, hosts_list[-1]]
        rate = p2p["torrent_rate_bps"]
        print()
        print(
            f"controller before the first host byte ({engine} x{hosts_list[-1]}): "
            f"{p2p['first_byte_s']:.1f} s "
            f"(fetch {p2p['controller_fetch_s']:.1f} s + publish {p2p['publish_s']:.1f} s)"
        )
        print(f"torrent creation: {rate / 1e6:.0f} MB/s -> 28 GB in {28e9 / rate:.0f} s")
    # what the caps alone allow (no CPU cost): the controller's fetch, then each mode's host phase
    fetch_floor = size * 8 / 200e6
    print(f"network floors (caps only): controller's fetch {fetch_floor:.1f} s; hosts' phase: ", end="")
    print(
        ", ".join(
            f"x{n}: hub {n * size * 8 / 200e6:.0f} s, controller {n * size * 8 / 400e6:.0f} s, "
            f"p2p {max(size * 8 / 400e6, n * size * 8 / (400e6 * (n + 1))):.1f} s"
            for n in hosts_list
        )
    )
    for engine in (m for m in modes if m.startswith("p2p")):
        if {(engine, 4), (engine, 8), ("controller", 8)} <= set(results):
            p8, p4, c8 = (results[engine, 8], results[engine, 4], results["controller", 8])
            print(f"{engine}: goal x8 <= 0.4 x controller x8: {p8['wall_s'] / c8['wall_s']:.2f}")
            print(f"{engine}: goal x8 <= 1.15 x x4: {p8['wall_s'] / p4['wall_s']:.2f}")
            print(f"{engine}: goal hub egress <= 1.05 x size (x8): {p8['hub_bytes'] / size:.3f}")
            print(
                f"{engine}: hosts' phase only (the controller's fetch left out): x8 / controller x8 "
                f"{p8['hosts_s'] / c8['hosts_s']:.2f}, x8 / x4 {p8['hosts_s'] / p4['hosts_s']:.2f}"
            )
    if args.json:
        document = {f"{mode} x{hosts}": r for (mode, hosts), r in results.items()}
        Path(args.json).write_text(json.dumps({"size": size, "results": document}, indent=1))


if __name__ == "__main__":
    main()
