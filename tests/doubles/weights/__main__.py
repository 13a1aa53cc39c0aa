"""python -m tests.doubles.weights --hub-root DIR --manifest-dir DIR [--profile NAME ...]: see build.py."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .build import Options, generate, shipped, shipped_profiles


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.doubles.weights", description=__doc__)
    parser.add_argument(
        "--hub-root", type=Path, required=True, help="the Hub double's root (ROOT/<repo>/<path>)"
    )
    parser.add_argument("--manifest-dir", type=Path, required=True)
    parser.add_argument("--profile", action="append", help="a shipped profile (repeat); default: all")
    parser.add_argument(
        "--spiece-model", type=Path, help="ComfyUI's t5_pile_tokenizer/tokenizer.model (umt5)"
    )
    opts = parser.parse_args()
    profiles = opts.profile or list(shipped()[1])
    spiece = opts.spiece_model.read_bytes() if opts.spiece_model else b""
    manifest = generate(
        opts.hub_root,
        opts.manifest_dir,
        shipped_profiles(profiles),
        Options(spiece_model=spiece),
        log=lambda line: print(line, flush=True),
    )
    print(manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
