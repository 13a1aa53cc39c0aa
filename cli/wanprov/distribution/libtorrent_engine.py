"""The BitTorrent engine in-process: libtorrent (its Python binding) moves the bytes; opentracker admits.

The same contract as the aria2c engine: private v1 torrents of verified files, the tracker's whitelist holds
exactly their info-hashes, and every session runs with DHT, local discovery, UPnP and NAT-PMP off, peer
exchange off per torrent (a private torrent turns it off too), uTP off (peers speak TCP on the peer port), its
listener and its outgoing connections bound to the cluster address. The publisher's seeder is a detached
process (`python -m wanprov.distribution.libtorrent_seed`) that adds the verified files in seed mode (no
re-check: their sha256 was verified before publishing); a host's fetch runs a session in its own process.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path
from typing import Any

from wanprov.distribution.engine import Publication, PublishedItem, StagedFile, SwarmResult, SwarmSettings
from wanprov.distribution.processes import remember, spawn, stop_all, terminate
from wanprov.distribution.tracker import announce_url, scrape_downloaded, start_tracker
from wanprov.errors import NetworkError, WanprovError

POLL_S = 0.25
SEED_CONFIG = "seed.json"
READY = "seeder.ready"


def load() -> Any:
    """The binding, imported when an engine is used (not at wanprov's import)."""
    try:
        import libtorrent
    except ImportError as exc:
        raise WanprovError(
            f"the libtorrent engine needs the libtorrent Python package ({exc})",
            hint="reinstall wanprov (libtorrent is one of its dependencies), or use the aria2 engine",
        ) from exc
    return libtorrent


def session_settings(bind_address: str, peer_port: int) -> dict[str, Any]:
    """A closed session: one TCP listener on the cluster address, no discovery of any kind."""
    lt = load()
    host = f"[{bind_address}]" if ":" in bind_address else bind_address
    return {
        "listen_interfaces": f"{host}:{peer_port}",
        "outgoing_interfaces": bind_address,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "enable_ip_notifier": False,
        "announce_to_all_trackers": True,
        "seed_choking_algorithm": 1,  # fastest upload: spread pieces to the peers that take them quickest
        "alert_mask": lt.alert_category.error | lt.alert_category.status,
    }


def torrent_flags(lt: Any) -> int:
    return int(lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd | lt.torrent_flags.disable_pex)


def make_torrent(path: Path, tracker: str, piece_size_log2: int) -> bytes:
    """A private v1 single-file torrent of `path` (v1: opentracker's whitelist names SHA-1 info-hashes)."""
    lt = load()
    creator = lt.create_torrent(lt.list_files(str(path)), 1 << piece_size_log2, lt.create_torrent.v1_only)
    creator.set_priv(True)
    creator.add_tracker(tracker)
    lt.set_piece_hashes(creator, str(path.parent))
    return bytes(lt.bencode(creator.generate()))


def open_session(bind_address: str, peer_port: int, timeout_s: float = 10) -> Any:
    """A session listening on bind_address:peer_port, or a NetworkError naming why not."""
    lt = load()
    session = lt.session(session_settings(bind_address, peer_port))
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        session.wait_for_alert(100)
        for alert in session.pop_alerts():
            if isinstance(alert, lt.listen_failed_alert):
                raise NetworkError(
                    f"libtorrent cannot listen on {bind_address}:{peer_port}: {alert.message()}",
                    hint="is the peer port taken, or the address not on this host?",
                )
            if isinstance(alert, lt.listen_succeeded_alert):
                return session
    raise NetworkError(f"libtorrent did not listen on {bind_address}:{peer_port} within {timeout_s:.0f} s")


def add(session: Any, meta: bytes, save_path: Path, *, seed: bool) -> Any:
    lt = load()
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(lt.bdecode(meta))
    params.save_path = str(save_path)
    flags = torrent_flags(lt) | int(lt.torrent_flags.duplicate_is_error)
    params.flags = flags | (int(lt.torrent_flags.seed_mode) if seed else 0)
    return session.add_torrent(params)


class LibtorrentEngine:
    name = "libtorrent"

    def publish(self, files: list[StagedFile], state_dir: Path, settings: SwarmSettings) -> Publication:
        state_dir.mkdir(parents=True, exist_ok=True)
        stop_all(state_dir)
        (state_dir / READY).unlink(missing_ok=True)
        tracker = announce_url(settings.tracker_address, settings.tracker_port)
        torrents = state_dir / "torrents"
        torrents.mkdir(exist_ok=True)
        items, seeds = [], []
        for number, staged in enumerate(files):
            meta = make_torrent(staged.path, tracker, settings.piece_size_log2)
            out = torrents / f"{number}.torrent"
            out.write_bytes(meta)
            lt = load()
            handle = str(lt.torrent_info(lt.bdecode(meta)).info_hashes().v1)
            encoded = base64.b64encode(meta).decode()
            items.append(PublishedItem(staged.relpath, staged.sha256, staged.size, handle, encoded))
            seeds.append({"torrent": str(out), "save_path": str(staged.path.parent)})
        start_tracker(state_dir, settings.tracker_address, settings.tracker_port, [i.handle for i in items])
        config = {
            "bind_address": settings.bind_address,
            "peer_port": settings.peer_port,
            "deadline_s": settings.seed_deadline_s,
            "seeds": seeds,
        }
        (state_dir / SEED_CONFIG).write_text(json.dumps(config))
        try:
            seeder = spawn(
                [sys.executable, "-m", "wanprov.distribution.libtorrent_seed", str(state_dir)],
                state_dir / "seeder.log",
            )
            remember(state_dir, "seeder", seeder)
            _wait_ready(seeder, state_dir)
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
        lt = load()
        started = time.monotonic()
        result = SwarmResult()
        log_path = staging / ".engine" / "peer.libtorrent.log"  # kept after the fetch, for a post-mortem
        log_path.parent.mkdir(parents=True, exist_ok=True)
        session = open_session(settings.bind_address, settings.peer_port)
        handles: dict[str, Any] = {}
        with log_path.open("a") as log:
            try:
                for item in publication.items:
                    folder = (staging / item.relpath).parent
                    folder.mkdir(parents=True, exist_ok=True)
                    handles[item.relpath] = add(session, base64.b64decode(item.meta), folder, seed=False)
                limits = (started, deadline_s, swarm_size, linger_s, settings.announce_interval_s)
                _wait(lt, session, handles, publication, result, log, *limits)
            finally:
                for handle in handles.values():
                    session.remove_torrent(handle)  # closes its files: nothing writes to staging after this
                session.pause()
                del session
                result.seconds = round(time.monotonic() - started, 3)
                log.write(json.dumps({"result": result.to_dict()}) + "\n")
        return result

    def stop(self, state_dir: Path) -> None:
        stop_all(state_dir)


def _wait(
    lt: Any,
    session: Any,
    handles: dict[str, Any],
    publication: Publication,
    result: SwarmResult,
    log: Any,
    started: float,
    deadline_s: float,
    swarm_size: int,
    linger_s: float,
    announce_interval_s: float,
) -> None:
    tracker_handles = [item.handle for item in publication.items]
    uploaded_at, last_uploaded, announced = time.monotonic(), -1, time.monotonic()
    while True:
        for alert in session.pop_alerts():  # errors: a tracker's, a file's, a peer's (bad pieces, bans)
            log.write(f"{time.monotonic() - started:8.2f} {type(alert).__name__}: {alert.message()}\n")
            if isinstance(alert, lt.file_error_alert | lt.torrent_error_alert):
                result.error = alert.message()
        status = {relpath: handle.status() for relpath, handle in handles.items()}
        done = sorted(r for r, s in status.items() if s.is_seeding)
        result.completed = done
        result.missing = sorted(set(handles) - set(done))
        result.downloaded_bytes = sum(int(s.total_wanted_done) for s in status.values())
        result.uploaded_bytes = sum(int(s.all_time_upload) for s in status.values())
        now = time.monotonic()
        if result.error:
            break
        if result.uploaded_bytes != last_uploaded:
            uploaded_at, last_uploaded = now, result.uploaded_bytes
        if not result.missing:
            everyone = scrape_downloaded(publication.tracker, tracker_handles) >= swarm_size
            if everyone or now - uploaded_at >= linger_s:
                break
        elif now - announced >= announce_interval_s:
            for handle in handles.values():  # opentracker says 30 min: a young swarm learns of peers sooner
                handle.force_reannounce()
            announced = now
        if now - started >= deadline_s:
            result.timed_out = bool(result.missing)
            break
        session.wait_for_alert(int(POLL_S * 1000))


def _wait_ready(seeder: Any, state_dir: Path, timeout_s: float = 30) -> None:
    end = time.monotonic() + timeout_s
    log = state_dir / "seeder.log"
    while time.monotonic() < end:
        if (state_dir / READY).exists():
            return
        if seeder.poll() is not None:
            raise NetworkError(
                f"the libtorrent seeder exited at start: {log.read_text(errors='replace')[-400:]}",
                hint="is the peer port taken, or the address not on this host?",
            )
        time.sleep(0.05)
    terminate(seeder.pid, Path(sys.executable).name)
    raise NetworkError(f"the libtorrent seeder did not start within {timeout_s:.0f} s")
