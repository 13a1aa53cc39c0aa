"""Wall time of `wanprov up` as root on a bare (fake) GPU host: the first converge, then idempotent re-runs
(goal: a re-run on a converged host <= 10 s on the 2-core build machine), each stage's seconds included.

Runs on the test doubles (tests/up/up_host.py: a fake H100, the Hub double, local git repos, fake torch
wheels, the test-only process supervisor), so it measures wanprov's own work, not downloads or pip on real
networks. Root: the service user is created.

    .venv/bin/python benchmarks/up_rerun.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT / "tests" / "up"), str(REPO_ROOT / "tests"), str(REPO_ROOT)]

from up_host import build_sources, host_dirs  # noqa: E402  (tests/up/up_host.py)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _up(sources, root: Path, port: int) -> tuple[str, dict]:
    command = [sys.executable, "-m", "wanprov", "up", *host_dirs(root), *sources.args, "--service", "process",
               "--service-user", "wanprov-up-svc", "--port", str(port), "--format", "json"]  # fmt: skip
    start, cpu, load = time.perf_counter(), _cpu(), _load()
    proc = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **sources.env}, check=False
    )
    seconds = time.perf_counter() - start
    # CPU of `wanprov up` and what it waited for (pip, git, the smoke's client), not of the service it started
    usage = f"{seconds:.1f} s, CPU {_cpu() - cpu:.1f} s (user+sys), load {load} -> {_load()}"
    document = json.loads(proc.stdout)
    if proc.returncode != 0:
        raise SystemExit(f"wanprov up exited {proc.returncode}: {document.get('error')}")
    return usage, document


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="re-runs after the first converge")
    opts = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (the service user is created)")
    sources_gen = build_sources(REPO_ROOT / "manifests" / "comfyui" / "object_info.json")
    sources = next(sources_gen)
    try:
        root = Path(tempfile.mkdtemp(prefix="host-", dir=sources.base))
        root.chmod(0o755)
        port = _port()
        first_s, first = _up(sources, root, port)
        print(f"first converge: {first_s}  "
              + ", ".join(f"{s['name']} {s['seconds']:.1f}" for s in first["stages"]))  # fmt: skip
        for run in range(opts.repeat):
            seconds, again = _up(sources, root, port)
            if again["changed"]:
                raise SystemExit(f"re-run {run + 1} changed the host: {again['stages']}")
            print(f"re-run {run + 1}: {seconds} (changed: no)  "
                  + ", ".join(f"{s['name']} {s['seconds']:.1f}" for s in again["stages"]))  # fmt: skip
    finally:
        for _ in sources_gen:  # the sources' teardown: stop the instance, remove everything
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
