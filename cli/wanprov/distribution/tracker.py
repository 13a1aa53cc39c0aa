"""Debian's opentracker, serving exactly the published info-hashes.

Debian builds it whitelist-only: an info-hash not in the whitelist gets no peers, so the file must list every
published torrent. It chroots into its -d folder (default ".") before reading the whitelist, so the whitelist
lives inside that folder and is named relative to it; as root it then drops to `nobody`, so the folder and the
file must be readable by others.
"""

from __future__ import annotations

import socket
import time
import urllib.parse
from pathlib import Path

import bencodepy
import requests

from wanprov.distribution.processes import remember, require, spawn
from wanprov.errors import NetworkError

WHITELIST = "whitelist.txt"


def announce_url(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}/announce"


def start_tracker(state_dir: Path, address: str, port: int, info_hashes: list[str]) -> str:
    """Start opentracker on address:port (TCP, UDP) allowing only `info_hashes`; returns its announce URL."""
    program = require("opentracker", "opentracker")
    root = state_dir / "tracker"
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    whitelist = root / WHITELIST
    whitelist.write_text("".join(f"{h.lower()}\n" for h in info_hashes))
    whitelist.chmod(0o644)
    argv = [program, "-i", address, "-p", str(port), "-P", str(port), "-d", str(root), "-w", WHITELIST]
    process = spawn(argv, state_dir / "tracker.log", cwd=root)
    remember(state_dir, "tracker", process)
    _wait_listening(address, port, process.poll, state_dir / "tracker.log")
    return announce_url(address, port)


def _wait_listening(address: str, port: int, poll, log: Path, timeout_s: float = 10.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if poll() is not None:
            raise NetworkError(
                f"opentracker exited at start on {address}:{port}: {log.read_text(errors='replace')[-400:]}",
                hint="is the port taken, or the address not on this host?",
            )
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise NetworkError(f"opentracker did not listen on {address}:{port} within {timeout_s:.0f} s")


def scrape_downloaded(tracker: str, handles: list[str]) -> int:
    """The fewest completed downloads the tracker counts over `handles` (-1 when it cannot be asked)."""
    url = (
        tracker.rsplit("/announce", 1)[0]
        + "/scrape?"
        + "&".join("info_hash=" + urllib.parse.quote_from_bytes(bytes.fromhex(h)) for h in handles)
    )
    try:
        files = bencodepy.decode(requests.get(url, timeout=2).content).get(b"files", {})
    except (requests.RequestException, bencodepy.BencodeDecodeError, AttributeError):
        return -1
    counts = [int(files.get(bytes.fromhex(h), {}).get(b"downloaded", 0)) for h in handles]
    return min(counts) if counts else 0
