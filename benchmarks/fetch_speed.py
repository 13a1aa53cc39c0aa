"""Benchmark: `wanprov fetch-models` vs `hf download` vs `curl -o` on the same local hub and files.

Serves >= 2 files of SIZE GiB plus small ones from the hub double (a separate process, like a LAN mirror),
then times, for each tool, a fresh fetch (wall time, MB/s, peak RSS) and a no-op re-run with everything
present. Prints a table and the goals (verified fetch <= 0.7x hf download and <= 1.3x curl; no-op < 0.5 s;
peak RSS < 300 MB). Everything lives in a temp folder that is removed at the end.

    .venv/bin/python benchmarks/fetch_speed.py [--size-gib 1] [--big 2] [--repeat 3] [--jobs 4]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = "bench/wan-files"
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def make_files(hub_root: Path, big: int, size_gib: float) -> dict[str, tuple[int, str]]:
    """Random-ish data fast: a 16 MiB urandom block, varied per chunk so no two chunks are equal."""
    block = os.urandom(16 << 20)  # freed below: a forked child starts with our RSS
    files: dict[str, tuple[int, str]] = {}
    specs = [(f"HighNoise/big-{i}.gguf", int(size_gib * (1 << 30))) for i in range(big)]
    specs += [(f"small/small-{i}.safetensors", 1 << 20) for i in range(3)]
    for path, size in specs:
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
        files[path] = (size, digest.hexdigest())
    del block
    return files


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-gib", type=float, default=1.0)
    parser.add_argument("--big", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=4)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="wanprov-bench-", dir="/tmp"))
    server = None
    try:
        files = make_files(work / "hub", args.big, args.size_gib)
        total = sum(size for size, _ in files.values())
        manifest = work / "bench.yaml"
        write_manifest(manifest, files)
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.doubles.hub", "--root", str(work / "hub")],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        endpoint = (server.stdout.readline() if server.stdout else "").strip().split("=", 1)[1]
        env = dict(
            os.environ,
            HF_ENDPOINT=endpoint,
            HF_HUB_DISABLE_XET="1",
            HF_HUB_DISABLE_UPDATE_CHECK="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            HF_HOME=str(work / "hf-home"),
        )
        env.pop("HF_TOKEN", None)
        urls = [f"{endpoint}/{REPO}/resolve/main/{path}" for path in files]

        def wanprov(out: Path) -> list[str]:
            return [str(BIN / "wanprov"), "fetch-models", "--profile", "bench", "--manifest", str(manifest),
                    "--models-dir", str(out), "--jobs", str(args.jobs)]  # fmt: skip

        def curl_durable(out: Path) -> list[str]:
            # wanprov fsyncs every file before its rename; this is curl held to the same durability
            outputs = " ".join(str(out / f"file-{index}") for index in range(len(urls)))
            return ["sh", "-c", f'"$0" "$@" && sync {outputs}', *curl(out)]

        def hf(out: Path) -> list[str]:
            return [str(BIN / "hf"), "download", REPO, *files, "--local-dir", str(out)]

        def curl(out: Path) -> list[str]:
            command = ["curl", "-sSf", "-Z", "--parallel-max", str(args.jobs)]
            for index, url in enumerate(urls):
                command += ["-o", str(out / f"file-{index}"), url]
            return command

        results: dict[str, list[tuple[float, float, float]]] = {}
        for run in range(args.repeat):
            tools = (("curl -o", curl), ("curl -o + sync", curl_durable), ("hf download", hf),
                     ("wanprov fetch-models", wanprov))  # fmt: skip
            for name, build in tools:
                out = work / f"out-{name.split()[0]}"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                subprocess.run(["sync"], check=False)
                results.setdefault(name, []).append(timed(build(out), env))
                if not name.startswith("curl") and run == args.repeat - 1:
                    results.setdefault(f"{name} (no-op re-run)", []).extend(
                        timed(build(out), env) for _ in range(3)
                    )
                if run < args.repeat - 1 or name.startswith("curl"):
                    shutil.rmtree(out, ignore_errors=True)

        print(f"{args.big} x {args.size_gib:g} GiB + 3 x 1 MiB = {total / 1e9:.2f} GB over loopback, "
              f"{os.cpu_count()} CPUs, median of {args.repeat} (no-op: of 3), jobs={args.jobs}")  # fmt: skip
        print(f"{'tool':40} {'wall s':>8} {'MB/s':>8} {'peak RSS MB':>12} {'CPU s':>7}")
        medians = {}
        for name, samples in results.items():
            wall = statistics.median(s[0] for s in samples)
            rss = max(s[1] for s in samples)
            cpu = statistics.median(s[2] for s in samples)
            medians[name] = (wall, rss)
            rate = "" if "no-op" in name else f"{total / wall / 1e6:8.0f}"
            print(f"{name:40} {wall:8.2f} {rate:>8} {rss:12.0f} {cpu:7.2f}")
        ours, hf_wall, curl_wall = (medians[k][0] for k in ("wanprov fetch-models", "hf download", "curl -o"))
        noop = medians["wanprov fetch-models (no-op re-run)"][0]
        peak = max(medians["wanprov fetch-models"][1], medians["wanprov fetch-models (no-op re-run)"][1])
        print("goals:")
        print(f"  wanprov / hf download = {ours / hf_wall:.2f} (goal <= 0.7)")
        print(f"  wanprov / curl        = {ours / curl_wall:.2f} (goal <= 1.3)")
        durable = medians["curl -o + sync"][0]
        print(f"  wanprov / curl + sync = {ours / durable:.2f} (same durability: both fsync)")
        print(f"  wanprov no-op re-run  = {noop:.2f} s (goal < 0.5)")
        print(f"  wanprov peak RSS      = {peak:.0f} MB (goal < 300)")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
