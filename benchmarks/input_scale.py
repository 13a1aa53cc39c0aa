#!/usr/bin/env python3
"""Does the work grow linearly with hostile input sizes? Times, in-process, at growing sizes:

- `wanprov doctor --facts` on a facts file listing N GPUs (up to 100,000);
- loading a segment-state file of N finished ranges (wanprov.models.segments.load_ranges);
- RangeSet.add of N out-of-order ranges (what a segmented fetch does as pieces land);
- the strict YAML loader on an alias bomb (refused) and on the shipped manifests.

    .venv/bin/python benchmarks/input_scale.py

Each line shows N, the seconds, and the seconds per 1,000 items: roughly constant per-item cost means
linear work. Prints figures only; it asserts nothing.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "doctor"))

from facts_builder import BASE  # noqa: E402

from wanprov.commands.output import run_guarded  # noqa: E402
from wanprov.commands.root import cli  # noqa: E402
from wanprov.models.segments import STATE_SCHEMA, RangeSet, load_ranges, state_path  # noqa: E402
from wanprov.strict import StrictParseError, loads_yaml  # noqa: E402


def show(what: str, n: int, seconds: float) -> None:
    print(f"{what:<34} N={n:>7}  {seconds:8.3f} s  {seconds / n * 1000:8.4f} s per 1,000")


def doctor(folder: Path, n: int) -> None:
    facts = copy.deepcopy(BASE)
    device = facts["gpu"]["devices"][0]
    facts["gpu"]["devices"] = [dict(device, index=i, uuid=f"GPU-{i}") for i in range(n)]
    path = folder / f"facts-{n}.json"
    path.write_text(json.dumps(facts))
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        run_guarded(cli, ["doctor", "--facts", str(path), "--format", "json"])
    show("doctor --facts (N GPUs)", n, time.perf_counter() - start)


def ranges(folder: Path, n: int) -> None:
    part = folder / f"part-{n}"
    size = 4 * n
    part.write_bytes(b"")
    with part.open("r+b") as handle:
        handle.truncate(size)
    document = {
        "schema": STATE_SCHEMA,
        "sha256": "0" * 64,
        "size": size,
        "ranges": [[4 * i, 4 * i + 2] for i in range(n)],
    }
    state_path(part).write_text(json.dumps(document))
    start = time.perf_counter()
    loaded = load_ranges(part, size, "0" * 64)
    assert loaded is not None and len(loaded.as_list()) == n
    show("load_ranges (N ranges)", n, time.perf_counter() - start)
    start = time.perf_counter()
    bag = RangeSet()
    for i in range(n):  # every other piece first, then the ones between: out of order, like parallel pieces
        bag.add(8 * i, 8 * i + 4)
    for i in range(n):
        bag.add(8 * i + 4, 8 * i + 6)
    show("RangeSet.add (2N out of order)", n, time.perf_counter() - start)


def aliases() -> None:
    lines = ["x: &a0 [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    text = "\n".join(lines)
    start = time.perf_counter()
    with contextlib.suppress(StrictParseError):
        loads_yaml(text)
    print(f"alias bomb ({len(text)} bytes, 9**9 values): refused in {time.perf_counter() - start:.3f} s")
    start = time.perf_counter()
    paths = list(REPO.glob("manifests/**/*.yaml"))
    for path in paths:
        loads_yaml(path.read_text(encoding="utf-8"))
    print(f"shipped manifests ({len(paths)} files): {time.perf_counter() - start:.3f} s")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for n in (1_000, 10_000, 100_000):
            doctor(folder, n)
        for n in (1_000, 10_000, 100_000):
            ranges(folder, n)
    aliases()


if __name__ == "__main__":
    main()
