"""What an engine staged is untrusted: verified by wanprov and renamed in place, else refused and replaced."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from wanprov.distribution.engine import Publication, PublishedItem, StagedFile, SwarmResult, SwarmSettings
from wanprov.distribution.swarm import fetch_chain, verified_files
from wanprov.errors import IntegrityError, UsageError
from wanprov.models.catalog import FileEntry
from wanprov.models.fetch import plan_fetch, run_fetch
from wanprov.models.hub import HubSettings

GOOD = b"model bytes " * 5000


def _entry(sha: str | None = None, size: int | None = len(GOOD)) -> FileEntry:
    return FileEntry(
        id="unet-a",
        repo="org/repo",
        revision="main",
        path="a.gguf",
        folder="unet",
        name="a.gguf",
        sha256=sha or hashlib.sha256(GOOD).hexdigest(),
        size=size,
        manifest="test.yaml",
    )


@dataclass
class FakeEngine:
    """An engine whose staged bytes the test chooses: wanprov must not care who wrote them."""

    payload: bytes
    name: str = "fake"
    calls: list[str] = field(default_factory=list)

    def publish(self, files: list[StagedFile], state_dir: Path, settings: SwarmSettings) -> Publication:
        raise NotImplementedError

    def fetch(self, publication, staging, settings, *, deadline_s, swarm_size, linger_s):
        self.calls.append("fetch")
        for item in publication.items:
            (staging / item.relpath).parent.mkdir(parents=True, exist_ok=True)
            (staging / item.relpath).write_bytes(self.payload)
        return SwarmResult(completed=[i.relpath for i in publication.items])

    def stop(self, state_dir: Path) -> None:
        self.calls.append("stop")


def _publication() -> Publication:
    item = PublishedItem("unet/a.gguf", hashlib.sha256(GOOD).hexdigest(), len(GOOD), "00" * 20, "")
    return Publication(engine="fake", items=(item,))


def test_staged_file_is_renamed_into_place_not_copied(tmp_path: Path) -> None:
    models, staging = tmp_path / "models", tmp_path / "models" / ".wanprov-swarm"
    (staging / "unet").mkdir(parents=True)
    staged = staging / "unet" / "a.gguf"
    staged.write_bytes(GOOD)
    inode = staged.stat().st_ino
    plan = plan_fetch("p", [_entry()], models, from_dir=staging)
    run_fetch(plan, HubSettings.from_env(), from_dir=staging, adopt=True)
    final = models / "unet" / "a.gguf"
    assert plan.ok and plan.files[0].status == "adopted"
    assert final.stat().st_ino == inode  # the same file: no second copy was written
    assert not staged.exists()


def test_wrong_bytes_from_the_engine_are_refused_and_deleted(tmp_path: Path) -> None:
    models, staging = tmp_path / "models", tmp_path / "models" / ".wanprov-swarm"
    (staging / "unet").mkdir(parents=True)
    (staging / "unet" / "a.gguf").write_bytes(GOOD[:-1] + b"X")
    plan = plan_fetch("p", [_entry()], models, from_dir=staging)
    run_fetch(plan, HubSettings.from_env(), from_dir=staging, adopt=True)
    assert plan.files[0].status == "failed"
    assert isinstance(plan.files[0].error, IntegrityError)
    assert not (models / "unet" / "a.gguf").exists()
    assert not (staging / "unet" / "a.gguf").exists()


def test_corrupt_swarm_falls_back_to_the_controller_and_says_so(tmp_path: Path) -> None:
    controller = tmp_path / "controller"
    (controller / "unet").mkdir(parents=True)
    (controller / "unet" / "a.gguf").write_bytes(GOOD)
    engine = FakeEngine(payload=b"evil" * (len(GOOD) // 4))
    document = fetch_chain(
        engine,
        _publication(),
        "p",
        [_entry()],
        tmp_path / "models",
        SwarmSettings(bind_address="127.0.0.1"),
        controller_dir=controller,
        hub=None,
    )
    assert document["ok"] and document["served_by"] == ["controller"] and document["fell_back"]
    p2p = document["chain"][0]
    assert p2p["outcome"] == "error" and "sha256 mismatch" in p2p["failed"]["unet/a.gguf"]
    assert (tmp_path / "models" / "unet" / "a.gguf").read_bytes() == GOOD


def test_nothing_is_swarmed_when_the_files_are_already_verified(tmp_path: Path) -> None:
    engine = FakeEngine(payload=GOOD)
    settings = SwarmSettings(bind_address="127.0.0.1")
    first = fetch_chain(
        engine, _publication(), "p", [_entry()], tmp_path, settings, controller_dir=None, hub=None
    )
    again = fetch_chain(
        engine, _publication(), "p", [_entry()], tmp_path, settings, controller_dir=None, hub=None
    )
    assert first["served_by"] == ["p2p"] and again["served_by"] == [] and again["ok"]
    assert engine.calls == ["fetch"]


def test_only_files_wanprov_verified_are_published(tmp_path: Path) -> None:
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "a.gguf").write_bytes(GOOD)  # there, but no verification record
    with pytest.raises(IntegrityError, match="not verified by wanprov"):
        verified_files([_entry()], tmp_path)


@pytest.mark.parametrize("document", [{}, {"schema": "wanprov.publication/1", "engine": "x"}, []])
def test_a_malformed_publication_is_refused_by_name(document: object) -> None:
    with pytest.raises(UsageError, match=r"pub\.json"):
        Publication.from_dict(document, "pub.json")  # type: ignore[arg-type]


def test_swarm_settings_refuse_bad_ports() -> None:
    with pytest.raises(UsageError, match="peer_port"):
        SwarmSettings(bind_address="10.0.0.1", peer_port=70000)
