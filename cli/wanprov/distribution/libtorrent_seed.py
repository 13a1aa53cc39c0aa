"""The libtorrent engine's seeder process: `python -m wanprov.distribution.libtorrent_seed STATE_DIR`.

It reads STATE_DIR/seed.json (written by LibtorrentEngine.publish), seeds the listed verified files until
SIGTERM or its deadline, and marks STATE_DIR/seeder.ready once it listens and holds every torrent.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

from wanprov.distribution.libtorrent_engine import READY, SEED_CONFIG, add, open_session
from wanprov.errors import WanprovError


def serve(state_dir: Path) -> int:
    config = json.loads((state_dir / SEED_CONFIG).read_text())
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    session = open_session(config["bind_address"], int(config["peer_port"]))
    for seed in config["seeds"]:
        add(session, Path(seed["torrent"]).read_bytes(), Path(seed["save_path"]), seed=True)
    (state_dir / READY).touch()
    end = time.monotonic() + float(config["deadline_s"])
    while not stopping and time.monotonic() < end:
        session.wait_for_alert(500)
        for alert in session.pop_alerts():
            if "error" in type(alert).__name__:
                print(alert.message(), flush=True)  # the seeder's log: what went wrong with a file or a peer
    session.pause()
    return 0


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: python -m wanprov.distribution.libtorrent_seed STATE_DIR", file=sys.stderr)
        return 2
    try:
        return serve(Path(sys.argv[1]))
    except WanprovError as exc:
        print(exc.message, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
