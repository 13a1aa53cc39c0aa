#!/usr/bin/env python3
"""What does reading a smoke's output back cost (wanprov.workflows.media.verify: every frame decoded, luma
range, container/codec/size/fps), at the smoke's size and at full sizes a user's run writes?

    .venv/bin/python benchmarks/smoke_verify.py            # needs the ffmpeg binary to make the clips
    .venv/bin/python benchmarks/smoke_verify.py --repeat 5

Each clip is made once with ffmpeg (libx264 yuv420p, a moving test pattern, as VHS's video/h264-mp4 writes
it), then verified --repeat times. Prints seconds per verify (median) and frames per second; asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "cli"))

from wanprov.workflows.media import ExpectedMedia, verify  # noqa: E402

# (label, width, height, frames, fps): the Wan smoke, then the templates' 480p and 720p defaults
CLIPS = [
    ("smoke 320x192x5", 320, 192, 5, 16),
    ("480p 848x480x33", 848, 480, 33, 16),
    ("720p 1280x720x81", 1280, 720, 81, 16),
]


def make_clip(path: Path, width: int, height: int, frames: int, fps: int) -> None:
    source = f"testsrc2=size={width}x{height}:rate={fps}"
    command = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source,
               "-frames:v", str(frames), "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)]  # fmt: skip
    subprocess.run(command, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("ffmpeg"):
        print("needs the ffmpeg binary (apt-get install ffmpeg) to make the clips", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        for label, width, height, frames, fps in CLIPS:
            clip = Path(folder) / f"{width}x{height}x{frames}.mp4"
            make_clip(clip, width, height, frames, fps)
            expected = ExpectedMedia("40", "video", width, height, frames, float(fps), "mp4", "h264")
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                facts = verify(clip, expected)
                times.append(time.perf_counter() - start)
            assert facts.ok, facts.problems  # the clip is what was asked: a broken benchmark otherwise
            median = statistics.median(times)
            print(
                f"{label:<20} {clip.stat().st_size / 1e6:6.2f} MB  verify {median:6.3f} s "
                f"(median of {args.repeat})  {frames / median:7.1f} frames/s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
