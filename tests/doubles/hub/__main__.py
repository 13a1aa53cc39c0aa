"""Run the hub double as a process: `python -m tests.doubles.hub --root DIR [--port N] [--token REPO=TOKEN]`
[--cdn] [--rate-mbps R] [--location-uses N].

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
    parser.add_argument("--cdn", action="store_true", help="redirect file downloads to a second origin")
    parser.add_argument("--rate-mbps", type=float, help="cap every response body at this many MB/s")
    parser.add_argument("--location-uses", type=int, help="each CDN location serves this many GETs")
    args = parser.parse_args()
    rate = int(args.rate_mbps * 1e6) if args.rate_mbps else None
    options = {"cdn": args.cdn, "rate_bps": rate, "location_uses": args.location_uses}
    server = main_args_to_server(args.root, args.host, args.port, args.token, **options)
    sys.stdout.write(f"HF_ENDPOINT={server.url}\n")
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
