"""Run the hub double as a process: `python -m tests.doubles.hub --root DIR [--port N] [--token REPO=TOKEN]`.

Prints `HF_ENDPOINT=<url>` on its first line so a caller can read the port it got.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from .server import main_args_to_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True, help="folder laid out as <owner>/<name>/<path in repo>")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", action="append", default=[], help="REPO=TOKEN: make REPO gated")
    args = parser.parse_args()
    server = main_args_to_server(args.root, args.host, args.port, args.token)
    sys.stdout.write(f"HF_ENDPOINT={server.url}\n")
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
