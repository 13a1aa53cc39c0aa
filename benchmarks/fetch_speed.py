"""Benchmark: `wanprov fetch-models` vs its peers on one local Hub-protocol server, a table per case.

The hub double runs as a separate process with `--cdn` (resolve answers 302 to a second origin that honours
Range, as the Hub does for LFS/Xet files). Cases:

- `capped-2x512M`, `capped-1x2G`: every response body paced to --rate-mbps (default 20 MB/s) per connection,
  which is how one CDN stream over a WAN behaves. Peer: `aria2c -x16 -s16` (segmented, unverified, no fsync).
  With --slow-peers also `curl` and `hf download` (one stream per file: size / rate, ~27 s per 512 MiB).
- `loopback-1x2G`, `loopback-2x2G`: uncapped. Peers: `curl -o` (parallel), `curl -o` + `sync` (wanprov's
  durability), `aria2c -x16 -s16`; with --slow-peers also `hf download`.

Each case's profile also holds 3 x 1 MiB files. For each tool: wall time (median of --repeat), MB/s, peak RSS
(measured by a small parent process), CPU seconds (user + system); then wanprov's no-op re-run (median of 3)
and the number of requests the server saw during it. Prints each case's goal ratios. Everything lives in a
temp folder that is removed at the end. aria2c is installed with apt-get when missing and we are root; else
it is reported missing and its ratios are skipped. wanprov is byte-compiled first, as a wheel install is.

    .venv/bin/python benchmarks/fetch_speed.py [--cases capped-2x512M,loopback-1x2G] [--repeat 2]
        [--rate-mbps 20] [--jobs 4] [--connections N] [--slow-peers]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = "bench/wan-files"
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MIB = 1 << 20


@dataclass(frozen=True)
class Case:
    name: str
    count: int
    size: int
    capped: bool


CASES = {
    case.name: case
    for case in (
        Case("capped-2x512M", 2, 512 * MIB, True),
        Case("capped-1x2G", 1, 2048 * MIB, True),
        Case("loopback-1x2G", 1, 2048 * MIB, False),
        Case("loopback-2x2G", 2, 2048 * MIB, False),
    )
}
SMALL = [f"small/small-{i}.safetensors" for i in range(3)]


def make_file(hub_root: Path, path: str, size: int, block: bytes) -> tuple[int, str]:
    """Random-ish data fast: one urandom block, varied per chunk so no two chunks are equal."""
    target = hub_root / REPO / path
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with target.open("wb") as handle:
        written, counter = 0, 0
        while written < size:
            chunk = (counter.to_bytes(8, "little") + block[8:])[: size - written]
            handle.write(chunk)
            digest.update(chunk)
            written += len(chunk)
            counter += 1
    return size, digest.hexdigest()


def write_manifest(path: Path, files: dict[str, tuple[int, str]]) -> None:
    lines = ["files:"]
    for index, (repo_path, (size, sha)) in enumerate(files.items()):
        folder = "unet" if repo_path.endswith(".gguf") else "loras"
        lines += [f"  f{index}:", f"    repo: {REPO}", "    revision: main", f"    path: {repo_path}"]
        lines += [f"    folder: {folder}", f"    size: {size}", f"    sha256: {sha}", "    source: benchmark"]
    lines += ["profiles:", "  bench:", "    files:"]
    lines += [f"      r{index}: f{index}" for index in range(len(files))]
    path.write_text("\n".join(lines) + "\n")


# A small parent measures the tool: a child forked from this large process would count our pages as its RSS.
_MEASURE = (
    "import resource, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "wall = time.perf_counter() - start\n"
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(code, wall, usage.ru_maxrss, usage.ru_utime + usage.ru_stime)\n"
)


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds of the tool, its peak RSS in MB and its CPU seconds."""
    done = subprocess.run([sys.executable, "-c", _MEASURE, *command], env=env, capture_output=True, text=True)
    code, wall, rss_kib, cpu = done.stdout.split()
    if int(code) != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stderr}")
    return float(wall), int(rss_kib) / 1024, float(cpu)


def compile_wanprov() -> None:
    """Byte-compile wanprov as `pip install` does for a wheel. This checkout is an editable install, and
    where PYTHONDONTWRITEBYTECODE is set (the build machine sets it) every run would compile ~20 of its
    modules from source again: ~40 ms of each no-op re-run that an installed wanprov does not pay."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    command = [sys.executable, "-m", "compileall", "-q", str(ROOT / "cli" / "wanprov")]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)


def ensure_aria2() -> str | None:
    found = shutil.which("aria2c")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("aria2c missing: apt-get install -y aria2", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "aria2"], check=False, capture_output=True)
    return shutil.which("aria2c")


class Server:
    def __init__(self, hub_root: Path, rate_mbps: float | None) -> None:
        command = [sys.executable, "-m", "tests.doubles.hub", "--root", str(hub_root), "--cdn"]
        if rate_mbps:
            command += ["--rate-mbps", str(rate_mbps)]
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline() if self.process.stdout else ""
        self.endpoint = line.strip().split("=", 1)[1]

    def requests(self) -> int:
        with urllib.request.urlopen(f"{self.endpoint}/_double/stats", timeout=10) as answer:
            return int(json.load(answer)["requests"])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def run_case(case: Case, work: Path, args: argparse.Namespace, aria2: str | None) -> None:
    hub_root = work / "hub"
    block = os.urandom(16 * MIB)
    files = {}
    for index in range(case.count):
        path = f"HighNoise/{case.size // MIB}M-{index}.gguf"
        if not (hub_root / REPO / path).exists():
            files[path] = make_file(hub_root, path, case.size, block)
        else:  # made for an earlier case
            files[path] = (case.size, _sha256(hub_root / REPO / path))
    for path in SMALL:
        files[path] = make_file(hub_root, path, MIB, block)
    del block
    total = sum(size for size, _ in files.values())
    manifest = work / f"{case.name}.yaml"
    write_manifest(manifest, files)
    server = Server(hub_root, args.rate_mbps if case.capped else None)
    try:
        env = dict(
            os.environ,
            HF_ENDPOINT=server.endpoint,
            HF_HUB_DISABLE_XET="1",
            HF_HUB_DISABLE_UPDATE_CHECK="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            HF_HOME=str(work / "hf-home"),
        )
        env.pop("HF_TOKEN", None)
        urls = [f"{server.endpoint}/{REPO}/resolve/main/{path}" for path in files]
        tools = _tools(case, args, aria2, manifest, urls, list(files))
        results: dict[str, list[tuple[float, float, float]]] = {}
        noop: list[tuple[float, float, float]] = []
        noop_requests = 0
        for run in range(args.repeat):
            for name, build in tools.items():
                out = work / "out"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                subprocess.run(["sync"], check=False)
                results.setdefault(name, []).append(timed(build(out), env))
                if name.startswith("wanprov") and run == args.repeat - 1:
                    before = server.requests()
                    noop = [timed(build(out), env) for _ in range(3)]
                    noop_requests = server.requests() - before
                shutil.rmtree(out, ignore_errors=True)
        _report(case, args, total, results, noop, noop_requests)
    finally:
        server.stop()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(16 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def _tools(
    case: Case, args: argparse.Namespace, aria2: str | None, manifest: Path, urls: list[str], paths: list[str]
) -> dict[str, Callable[[Path], list[str]]]:
    def wanprov(out: Path) -> list[str]:
        command = [str(BIN / "wanprov"), "fetch-models", "--profile", "bench", "--manifest", str(manifest),
                   "--models-dir", str(out), "--jobs", str(args.jobs)]  # fmt: skip
        return command + (["--connections", str(args.connections)] if args.connections else [])

    def curl(out: Path) -> list[str]:
        command = ["curl", "-sSfL", "-Z", "--parallel-max", str(args.jobs)]
        for index, url in enumerate(urls):
            command += ["-o", str(out / f"file-{index}"), url]
        return command

    def curl_durable(out: Path) -> list[str]:  # curl held to wanprov's durability (fsync before rename)
        outputs = " ".join(str(out / f"file-{index}") for index in range(len(urls)))
        return ["sh", "-c", f'"$0" "$@" && sync {outputs}', *curl(out)]

    def aria(out: Path) -> list[str]:
        return [str(aria2), "-x16", "-s16", "-j", str(args.jobs), "-Z", "-q", "-d", str(out),
                "--allow-overwrite=true", "--auto-file-renaming=false", *urls]  # fmt: skip

    def hf(out: Path) -> list[str]:
        return [str(BIN / "hf"), "download", REPO, *paths, "--local-dir", str(out)]

    tools: dict[str, Callable[[Path], list[str]]] = {}
    if aria2:
        tools["aria2c -x16 -s16 (unverified)"] = aria
    if not case.capped or args.slow_peers:
        tools["curl -o (parallel)"] = curl
    if not case.capped:
        tools["curl -o + sync"] = curl_durable
    if args.slow_peers:
        tools["hf download"] = hf
    tools["wanprov fetch-models (verified, fsynced)"] = wanprov
    return tools


def _report(
    case: Case,
    args: argparse.Namespace,
    total: int,
    results: dict[str, list[tuple[float, float, float]]],
    noop: list[tuple[float, float, float]],
    noop_requests: int,
) -> None:
    cap = f"each response capped at {args.rate_mbps:g} MB/s" if case.capped else "uncapped loopback"
    sizes = f"{case.count} x {case.size // MIB} MiB + 3 x 1 MiB = {total / 1e9:.2f} GB"
    print(
        f"\n## {case.name}: {sizes}, {cap}, {os.cpu_count()} CPUs, median of {args.repeat}, jobs={args.jobs}"
    )
    print(f"| {'tool':42} | {'wall s':>7} | {'MB/s':>6} | {'peak RSS MB':>11} | {'CPU s':>6} |")
    print(f"|{'-' * 44}|{'-' * 9}|{'-' * 8}|{'-' * 13}|{'-' * 8}|")
    walls = {}
    for name, samples in results.items():
        wall = statistics.median(s[0] for s in samples)
        walls[name] = wall
        rss = max(s[1] for s in samples)
        cpu = statistics.median(s[2] for s in samples)
        print(f"| {name:42} | {wall:7.2f} | {total / wall / 1e6:6.0f} | {rss:11.0f} | {cpu:6.2f} |")
    noop_wall = statistics.median(s[0] for s in noop)
    noop_rss = max(s[1] for s in noop)
    label = "wanprov no-op re-run"
    noop_cpu = statistics.median(s[2] for s in noop)
    print(f"| {label:42} | {noop_wall:7.2f} | {'':>6} | {noop_rss:11.0f} | {noop_cpu:6.2f} |")
    ours_name = next(name for name in walls if name.startswith("wanprov"))
    ours = walls[ours_name]
    peak = max(max(s[1] for s in results[ours_name]), noop_rss)
    print("goals:")
    aria = walls.get("aria2c -x16 -s16 (unverified)")
    if case.capped:
        if aria:
            print(f"  wanprov / aria2c        = {ours / aria:.2f} (goal <= 1.1)")
        else:
            print("  wanprov / aria2c        = n/a: aria2c missing (apt-get install aria2)")
        one_stream = max(case.size / (args.rate_mbps * 1e6), 3 * MIB / (args.rate_mbps * 1e6))
        print(f"  one stream per file would take >= {one_stream:.1f} s (size / cap)")
    else:
        durable = walls["curl -o + sync"]
        peers = {name: wall for name, wall in walls.items() if name != ours_name}
        best = min(peers, key=peers.__getitem__)
        goal = "<= 1.2" if case.count == 1 else ""
        print(f"  wanprov / curl + sync   = {ours / durable:.2f} {f'(goal {goal})' if goal else ''}")
        goal = " (goal <= 1.0)" if case.count > 1 else ""
        print(f"  wanprov / best peer     = {ours / peers[best]:.2f} ({best}){goal}")
    print(
        f"  no-op re-run            = {noop_wall:.2f} s, {noop_requests} requests (goal < 0.3 s, 0 requests)"
    )
    print(f"  wanprov peak RSS        = {peak:.0f} MB (goal < 300)")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of: {', '.join(CASES)}")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--rate-mbps", type=float, default=20.0, help="per-connection cap of the capped cases"
    )
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--connections", type=int, help="wanprov --connections (default: its own)")
    parser.add_argument("--slow-peers", action="store_true", help="also one-stream peers (curl, hf download)")
    args = parser.parse_args()
    chosen = [CASES[name] for name in args.cases.split(",") if name]
    compile_wanprov()
    aria2 = ensure_aria2()
    if not aria2:
        print("aria2c is missing and could not be installed: its column and ratios are skipped")
    work = Path(tempfile.mkdtemp(prefix="wanprov-bench-", dir="/tmp"))
    try:
        for case in chosen:
            run_case(case, work, args, aria2)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
