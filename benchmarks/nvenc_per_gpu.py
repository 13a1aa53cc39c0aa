#!/usr/bin/env python3
"""What does judging NVENC per GPU cost next to one host-wide encode (the encoders' `any` device)?

    .venv/bin/python benchmarks/nvenc_per_gpu.py [--runs 7]

On the fake RTX 4090 + H100 host (tests/doubles/gpu: a fake ffmpeg binary, or a fake PyAV in the target
interpreter), each probe runs once host-wide and once per GPU (`gpu` 0 and 1). The ffmpeg probe starts three
encodes per GPU concurrently; the PyAV probe one Python per GPU. A real encoder's own open time is not in
these figures (the fakes answer at once). Prints figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    sys.path.insert(0, str(REPO / "tests"))
    from doubles.gpu import TARGET_PYTHON, install_fake_host
    from wanprov.facts import nvenc

    for spec, tool in (("rtx4090_h100", "ffmpeg"), ("rtx4090_h100_pyav_only", "pyav")):
        os.environ.update(install_fake_host(Path(tempfile.mkdtemp()), spec))
        for gpus in ((), (0, 1)):
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                if tool == "pyav":
                    nvenc.probe_pyav(TARGET_PYTHON, gpus=gpus)
                else:
                    nvenc.probe(nvenc.probe_ffmpeg(), gpus=gpus)
                times.append(time.perf_counter() - start)
            label = f"{tool}, {'per GPU ' + str(list(gpus)) if gpus else 'host-wide (any)'}"
            median, best = statistics.median(times) * 1000, min(times) * 1000
            print(f"{label:<28} median {median:6.0f} ms   min {best:6.0f} ms")


if __name__ == "__main__":
    main()
