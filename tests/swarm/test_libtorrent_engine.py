"""The libtorrent engine's torrents and session: private v1 torrents, nothing that finds peers by itself."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import bencodepy
import libtorrent as lt
import pytest

from wanprov.distribution.libtorrent_engine import make_torrent, open_session, session_settings
from wanprov.errors import NetworkError
from wanprov.exit_codes import ExitCode


def test_a_private_v1_torrent_with_the_given_piece_size_and_tracker(tmp_path: Path) -> None:
    data = tmp_path / "model.gguf"
    data.write_bytes(b"\1" * 300_000)
    torrent = make_torrent(data, "http://10.0.0.1:6969/announce", 16)
    decoded = bencodepy.decode(torrent)
    info = decoded[b"info"]
    assert info[b"private"] == 1 and info[b"piece length"] == 1 << 16
    assert b"meta version" not in info and b"file tree" not in info  # v1 only: the whitelist holds SHA-1s
    assert len(info[b"pieces"]) == 20 * 5  # 300 000 bytes in 64 KiB pieces, one SHA-1 each
    assert decoded[b"announce"] == b"http://10.0.0.1:6969/announce"
    assert b"announce-list" not in decoded and b"url-list" not in decoded  # no other tracker, no web seed
    handle = str(lt.torrent_info(lt.bdecode(torrent)).info_hashes().v1)
    assert handle == hashlib.sha1(bencodepy.encode(info)).hexdigest()


def test_the_session_finds_no_peers_by_itself_and_listens_on_one_address() -> None:
    settings = session_settings("127.0.0.1", 6881)
    for key in ("enable_dht", "enable_lsd", "enable_upnp", "enable_natpmp", "enable_incoming_utp"):
        assert settings[key] is False, key
    assert settings["listen_interfaces"] == "127.0.0.1:6881"
    assert settings["outgoing_interfaces"] == "127.0.0.1"
    assert session_settings("fd00::1", 7000)["listen_interfaces"] == "[fd00::1]:7000"
    session = open_session("127.0.0.1", 0)
    applied = session.get_settings()
    assert applied["enable_dht"] is False and applied["enable_lsd"] is False
    assert applied["listen_interfaces"] == "127.0.0.1:0"


def test_a_session_that_cannot_listen_says_where() -> None:
    with pytest.raises(NetworkError, match=r"192\.0\.2\.7:6881"):
        open_session("192.0.2.7", 6881, timeout_s=5)  # TEST-NET-1: not an address of this host


def test_swarm_fetch_uses_the_engine_its_publication_names(tmp_path: Path) -> None:
    """No --engine: the host runs what the controller published with; an engine wanprov lacks is refused."""
    publication = {"schema": "wanprov.publication/1", "engine": "dragonfly", "tracker": "", "items": []}
    (tmp_path / "publication.json").write_text(json.dumps(publication))
    argv = [
        sys.executable, "-m", "wanprov", "swarm", "fetch", "--profile", "wan22-i2v-a14b-q4km-lightning",
        "--models-dir", str(tmp_path / "models"), "--publication", str(tmp_path / "publication.json"),
        "--bind", "127.0.0.1",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert "unknown swarm engine 'dragonfly'" in done.stderr and "libtorrent" in done.stderr
