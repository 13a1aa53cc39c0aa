"""The BitTorrent engine: mktorrent makes private torrents, opentracker admits them, aria2c moves the bytes.

Every aria2c runs with DHT, peer exchange and local peer discovery off (all on by default), binds its
sockets to the cluster address, and seeds with ratio 0 (its default ratio stops seeding early); wanprov, not
aria2c, decides when to stop: when the tracker counts every host finished, when nobody has asked us for a
byte for `linger_s`, or at the deadline. The publisher seeds its verified files unchecked
(--bt-seed-unverified): they were hashed by wanprov already, and a re-check costs seconds per GiB.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import bencodepy
import requests

from wanprov.distribution.engine import Publication, PublishedItem, StagedFile, SwarmResult, SwarmSettings
from wanprov.distribution.processes import remember, require, spawn, stop_all, terminate
from wanprov.distribution.tracker import announce_url, scrape_downloaded, start_tracker
from wanprov.errors import NetworkError, WanprovError

POLL_S = 0.25
SWARM_FLAGS = [
    "--enable-dht=false",
    "--enable-dht6=false",
    "--enable-peer-exchange=false",
    "--bt-enable-lpd=false",
    "--seed-ratio=0.0",  # seed until wanprov says stop
    "--file-allocation=none",
    "--auto-file-renaming=false",
    "--allow-overwrite=true",
    "--summary-interval=0",
    "--console-log-level=warn",
    "--bt-max-peers=0",
    "--rpc-listen-all=false",
    "--enable-rpc=true",
]


def info_hash(torrent: bytes) -> str:
    decoded = bencodepy.decode(torrent)
    return hashlib.sha1(bencodepy.encode(decoded[b"info"])).hexdigest()


def make_torrent(path: Path, tracker: str, piece_size_log2: int, out: Path) -> bytes:
    """A private single-file torrent of `path` (its name is the file's name)."""
    program = require("mktorrent", "mktorrent")
    out.unlink(missing_ok=True)
    run = subprocess.run(
        [program, "-p", "-l", str(piece_size_log2), "-a", tracker, "-o", str(out), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        raise WanprovError(f"mktorrent failed on {path}: {run.stderr.strip()[-400:]}")
    return out.read_bytes()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Rpc:
    def __init__(self, port: int, secret: str) -> None:
        self.url = f"http://127.0.0.1:{port}/jsonrpc"
        self.token = f"token:{secret}"

    def call(self, method: str, *params: Any) -> Any:
        body = {"jsonrpc": "2.0", "id": "wanprov", "method": method, "params": [self.token, *params]}
        try:
            document = requests.post(self.url, data=json.dumps(body), timeout=5).json()
        except (requests.RequestException, ValueError) as exc:
            raise NetworkError(f"aria2c does not answer {method}: {exc}") from exc
        if "error" in document:
            raise WanprovError(f"aria2c {method}: {document['error'].get('message')}")
        return document["result"]


def _start_aria2c(
    state_dir: Path, settings: SwarmSettings, name: str, extra: list[str], *, detach: bool
) -> tuple[subprocess.Popen[bytes], _Rpc]:
    program = require("aria2c", "aria2")
    state_dir.mkdir(parents=True, exist_ok=True)
    port, secret = _free_port(), secrets.token_hex(16)
    conf = state_dir / f"{name}.conf"  # the RPC secret goes in a 0600 file, not on the command line
    conf.touch(mode=0o600)
    conf.write_text(f"rpc-secret={secret}\n")
    argv = [
        program,
        f"--conf-path={conf}",
        *SWARM_FLAGS,
        f"--rpc-listen-port={port}",
        f"--interface={settings.bind_address}",
        f"--disable-ipv6={'false' if ':' in settings.bind_address else 'true'}",
        f"--listen-port={settings.peer_port}",
        f"--bt-tracker-interval={settings.announce_interval_s}",
        f"--log={state_dir / (name + '.aria2.log')}",
        "--log-level=notice",
        *extra,
    ]
    log = state_dir / f"{name}.log"
    if detach:
        process = spawn(argv, log)
    else:
        with log.open("ab") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    rpc = _Rpc(port, secret)
    end = time.monotonic() + 10
    while True:
        if process.poll() is not None:
            raise NetworkError(
                f"aria2c exited at start (bind {settings.bind_address}:{settings.peer_port}): "
                f"{log.read_text(errors='replace')[-400:]}",
                hint="is the peer port taken, or the address not on this host?",
            )
        try:
            rpc.call("aria2.getVersion")
            return process, rpc
        except NetworkError:
            if time.monotonic() > end:
                terminate(process.pid, "aria2c")
                raise NetworkError("aria2c did not open its control port within 10 s") from None
            time.sleep(0.05)


class Aria2Engine:
    name = "aria2"

    def publish(self, files: list[StagedFile], state_dir: Path, settings: SwarmSettings) -> Publication:
        state_dir.mkdir(parents=True, exist_ok=True)
        stop_all(state_dir)  # a re-publish replaces the earlier swarm
        tracker = announce_url(settings.tracker_address, settings.tracker_port)
        items, torrents = [], state_dir / "torrents"
        torrents.mkdir(exist_ok=True)
        for number, staged in enumerate(files):
            torrent = make_torrent(
                staged.path, tracker, settings.piece_size_log2, torrents / f"{number}.torrent"
            )
            items.append(
                PublishedItem(
                    relpath=staged.relpath,
                    sha256=staged.sha256,
                    size=staged.size,
                    handle=info_hash(torrent),
                    meta=base64.b64encode(torrent).decode(),
                )
            )
        start_tracker(state_dir, settings.tracker_address, settings.tracker_port, [i.handle for i in items])
        try:
            seeder, rpc = _start_aria2c(
                state_dir,
                settings,
                "seeder",
                [
                    "--bt-seed-unverified=true",
                    "--check-integrity=false",
                    f"--stop={settings.seed_deadline_s}",
                ],
                detach=True,
            )
            remember(state_dir, "seeder", seeder)
            for staged, item in zip(files, items, strict=True):
                rpc.call("aria2.addTorrent", item.meta, [], {"dir": str(staged.path.parent)})
        except BaseException:
            stop_all(state_dir)
            raise
        publication = Publication(engine=self.name, items=tuple(items), tracker=tracker)
        (state_dir / "publication.json").write_text(json.dumps(publication.to_dict()))
        return publication

    def fetch(
        self,
        publication: Publication,
        staging: Path,
        settings: SwarmSettings,
        *,
        deadline_s: float,
        swarm_size: int,
        linger_s: float,
    ) -> SwarmResult:
        started = time.monotonic()
        state_dir = staging / ".engine"
        result = SwarmResult()
        process, rpc = _start_aria2c(state_dir, settings, "peer", [], detach=False)
        try:
            gids = {}
            for item in publication.items:
                folder = (staging / item.relpath).parent
                folder.mkdir(parents=True, exist_ok=True)
                gids[item.relpath] = rpc.call("aria2.addTorrent", item.meta, [], {"dir": str(folder)})
            self._wait(process, rpc, gids, publication, result, started + deadline_s, swarm_size, linger_s)
        except NetworkError:
            time.sleep(POLL_S)
            if process.poll() is None:
                raise
            result.error = f"aria2c exited with status {process.returncode}"  # killed while being set up
            result.missing = sorted(
                set(result.missing) | ({i.relpath for i in publication.items} - set(result.completed))
            )
        finally:
            terminate(process.pid, "aria2c")
            process.wait(timeout=10)
            result.seconds = round(time.monotonic() - started, 3)
        return result

    @staticmethod
    def _wait(
        process: subprocess.Popen[bytes],
        rpc: _Rpc,
        gids: dict[str, str],
        publication: Publication,
        result: SwarmResult,
        deadline: float,
        swarm_size: int,
        linger_s: float,
    ) -> None:
        keys = ["status", "completedLength", "totalLength", "uploadLength", "errorMessage"]
        handles = [item.handle for item in publication.items]
        uploaded_at, last_uploaded = time.monotonic(), -1
        while True:
            if process.poll() is not None:
                result.error = f"aria2c exited with status {process.returncode}"
                break
            try:
                status = {relpath: rpc.call("aria2.tellStatus", gid, keys) for relpath, gid in gids.items()}
            except NetworkError as exc:
                time.sleep(POLL_S)  # killed between the poll() above and the call: say that, not the socket
                result.error = (
                    f"aria2c exited with status {process.poll()}"
                    if process.poll() is not None
                    else exc.message
                )
                break
            done = [
                r
                for r, s in status.items()
                if s["totalLength"] != "0" and s["completedLength"] == s["totalLength"]
            ]
            result.completed = sorted(done)
            result.missing = sorted(set(gids) - set(done))
            result.downloaded_bytes = sum(int(s["completedLength"]) for s in status.values())
            result.uploaded_bytes = sum(int(s["uploadLength"]) for s in status.values())
            now = time.monotonic()
            if result.uploaded_bytes != last_uploaded:
                uploaded_at, last_uploaded = now, result.uploaded_bytes
            if not result.missing:
                everyone = scrape_downloaded(publication.tracker, handles) >= swarm_size
                if everyone or now - uploaded_at >= linger_s:
                    break
            if now >= deadline:
                result.timed_out = bool(result.missing)
                break
            time.sleep(POLL_S)

    def stop(self, state_dir: Path) -> None:
        stop_all(state_dir)
