"""Wall time of `ansible-playbook site.yml`: first converge and idempotent re-run, 1 host vs 3 in parallel,
and a 2-GPU host (two ComfyUI instances, two profiles) next to a 1-GPU host.

Runs on the test doubles (sshd hosts on loopback, local hub, local git repos and wheels), so it measures
wanprov's and Ansible's own overhead, not download or pip time on real networks.

    .venv/bin/python benchmarks/fleet_converge.py

Goals (issue 6): re-run under 30 s per host; 3 hosts take at most 1.5x one host. Run it under the fleet
lock (`flock /tmp/wanprov-fleet.lock ...`): the fleet double creates system users and services.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# The test doubles live under tests/ (not an installed package): import them the way pytest does.
sys.path[:0] = [str(REPO_ROOT / "tests"), str(REPO_ROOT)]

from fleet.fleet_setup import FLEET_GPUS, READY_HOSTS, TWO_GPU_HOST, build_fleet  # noqa: E402


def _timed_converge(hosts: dict[str, str]) -> tuple[float, float]:
    fut = build_fleet(hosts)
    try:
        start = time.perf_counter()
        first = fut.converge(args=["--forks", str(max(3, len(hosts)))])
        first_s = time.perf_counter() - start
        if first.rc != 0:
            raise SystemExit(f"first converge failed:\n{first.describe()[-4000:]}")
        start = time.perf_counter()
        again = fut.converge(args=["--forks", str(max(3, len(hosts)))])
        rerun_s = time.perf_counter() - start
        changed = {host: counts.changed for host, counts in again.recap.items()}
        if again.rc != 0 or any(changed.values()):
            raise SystemExit(f"re-run was not idempotent ({changed}):\n{again.describe()[-4000:]}")
        return first_s, rerun_s
    finally:
        fut.stop()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gpus-only", action="store_true", help="only the 1-GPU vs 2-GPU host comparison")
    args = parser.parse_args()
    # Three ready hosts (two GPU classes); the single-host run uses the first of them (one H100).
    three = {name: FLEET_GPUS[name] for name in READY_HOSTS}
    three["h100-b"] = FLEET_GPUS["h100"]
    one = dict(list(three.items())[:1])
    two_gpus = {TWO_GPU_HOST: FLEET_GPUS[TWO_GPU_HOST]}
    one_first, one_rerun = _timed_converge(one)
    two_first, two_rerun = _timed_converge(two_gpus)
    rows = [("1 host, 1 GPU", one_first, one_rerun), ("1 host, 2 GPUs", two_first, two_rerun)]
    if not args.gpus_only:
        three_first, three_rerun = _timed_converge(three)
        rows.append(("3 hosts", three_first, three_rerun))

    print(f"{'fleet':<16}{'first converge':>16}{'re-run':>10}")
    for name, first_s, rerun_s in rows:
        print(f"{name:<16}{first_s:>15.1f}s{rerun_s:>9.1f}s")
    print(f"2 GPUs / 1 GPU: first {two_first / one_first:.2f}x, re-run {two_rerun / one_rerun:.2f}x")
    if not args.gpus_only:
        print(f"3 hosts / 1: first {three_first / one_first:.2f}x, re-run {three_rerun / one_rerun:.2f}x")
        print(f"re-run per host (3 in parallel): {three_rerun / 3:.1f}s  (goals: < 30 s; 3 <= 1.5x one)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
