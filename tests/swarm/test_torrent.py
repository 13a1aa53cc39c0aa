"""The torrents wanprov publishes: private, large pieces, its tracker only; the info-hash aria2c sees."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import bencodepy
import pytest

from wanprov.distribution.aria2 import SWARM_FLAGS, info_hash, make_torrent

pytestmark = pytest.mark.skipif(
    not (shutil.which("mktorrent") and shutil.which("aria2c")), reason="needs mktorrent and aria2c"
)


def test_a_private_torrent_with_the_given_piece_size_and_tracker(tmp_path: Path) -> None:
    data = tmp_path / "model.gguf"
    data.write_bytes(b"\1" * 300_000)
    torrent = make_torrent(data, "http://10.0.0.1:6969/announce", 16, tmp_path / "m.torrent")
    decoded = bencodepy.decode(torrent)
    assert decoded[b"info"][b"private"] == 1
    assert decoded[b"info"][b"piece length"] == 1 << 16
    assert decoded[b"announce"] == b"http://10.0.0.1:6969/announce"
    assert b"announce-list" not in decoded and b"url-list" not in decoded  # no other tracker, no web seed
    shown = subprocess.run(["aria2c", "-S", str(tmp_path / "m.torrent")], capture_output=True, text=True)
    assert f"Info Hash: {info_hash(torrent)}" in shown.stdout


def test_aria2c_runs_without_dht_peer_exchange_or_local_discovery() -> None:
    for flag in ("--enable-dht=false", "--enable-dht6=false", "--enable-peer-exchange=false"):
        assert flag in SWARM_FLAGS
    assert "--bt-enable-lpd=false" in SWARM_FLAGS and "--seed-ratio=0.0" in SWARM_FLAGS
