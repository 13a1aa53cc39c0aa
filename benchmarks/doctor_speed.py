#!/usr/bin/env python3
"""How much does `wanprov doctor` cost next to a bare `python -c "import torch"` of the same interpreter?

Goal (issue 2.6): doctor with the torch probe <= 1.5x the torch import; `--no-torch` under 0.3 s.

    .venv/bin/python benchmarks/doctor_speed.py                      # stand-in torch (see below)
    .venv/bin/python benchmarks/doctor_speed.py --python /opt/comfy/.venv/bin/python   # a real torch

Default stand-in: no real torch can be installed here, so the benchmark lays out the recorded H100 as a
fake host (tests/doubles/gpu: fake nvidia-smi, fake torch, and - like the real host - no ffmpeg binary,
so NVENC is tested through the fake PyAV in the target interpreter, a second Python start) and makes
the fake `import torch` burn CPU for --import-s seconds (default 2.67 s, the import time measured on
the recorded H100,
torch-info.txt). Both sides pay that same cost, so the ratio shows doctor's own overhead and how well
its probes overlap the torch subprocess. With --python, nothing is faked except what PATH already has.
Prints figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BURN = """import time as _t
_end = _t.perf_counter() + {seconds}
while _t.perf_counter() < _end:  # a CPU-bound stand-in for torch's import (shared libraries, registries)
    pass
"""


def wall(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return times


def fake_host(root: Path, import_s: float, name: str = "h100") -> dict[str, str]:
    if str(REPO / "tests") not in sys.path:
        sys.path.insert(0, str(REPO / "tests"))
    from doubles.gpu import install_fake_host

    env = install_fake_host(root, name)
    init = root / "site" / "torch" / "__init__.py"
    init.write_text(BURN.format(seconds=import_s) + init.read_text())
    return env


def describe(label: str, times: list[float]) -> str:
    return (
        f"{label:<44} median {statistics.median(times):6.3f} s   min {min(times):6.3f} s   (n={len(times)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", help="target interpreter with a real torch (default: a stand-in)")
    parser.add_argument("--import-s", type=float, default=2.67, help="stand-in torch import time (s)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as temp:
        if args.python:
            target, what = args.python, f"real torch in {args.python}"
        else:
            env.update(fake_host(Path(temp) / "h100", args.import_s))
            from doubles.gpu import TARGET_PYTHON  # the fake torch is on this interpreter's path only

            target, what = (
                TARGET_PYTHON,
                (f"stand-in torch (recorded H100 host, import burns {args.import_s} s CPU)"),
            )
        wanprov = [sys.executable, "-m", "wanprov", "doctor"]
        bare = wall([target, "-c", "import torch"], env, args.runs)
        full = wall([*wanprov, "--python", target, "--format", "json"], env, args.runs)
        fast = wall([*wanprov, "--python", target, "--no-torch", "--format", "json"], env, args.runs)
        fastest = wall([*wanprov, "--no-torch", "--no-nvenc", "--format", "json"], env, args.runs)
        eight = None
        if not args.python:  # the same recording as an 8 x H100 node: every GPU judged, one torch subprocess
            env8 = {**os.environ, **fake_host(Path(temp) / "h100x8", args.import_s, "h100x8")}
            eight = wall([*wanprov, "--python", target, "--format", "json"], env8, args.runs)

    print(f"target: {what}; {os.cpu_count()} CPUs")
    print(describe(f'{Path(target).name} -c "import torch"', bare))
    print(describe("wanprov doctor (torch + NVENC probes)", full))
    if eight is not None:
        print(describe("wanprov doctor, 8 x H100 (torch + NVENC)", eight))
    print(describe("wanprov doctor --no-torch", fast))
    print(describe("wanprov doctor --no-torch --no-nvenc", fastest))
    ratio = statistics.median(full) / statistics.median(bare)
    print(f"doctor / import torch: {ratio:.2f}x (goal <= 1.5x) -> {'met' if ratio <= 1.5 else 'MISSED'}")
    if eight is not None:
        print(f"8 GPUs / 1 GPU: {statistics.median(eight) / statistics.median(full):.2f}x")
    no_torch = statistics.median(fast)
    print(f"doctor --no-torch: {no_torch:.3f} s (goal < 0.3 s) -> {'met' if no_torch < 0.3 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
