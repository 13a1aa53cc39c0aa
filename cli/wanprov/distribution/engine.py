"""The engine-neutral side: what wanprov asks of any peer-to-peer engine.

An engine publishes files wanprov already verified, fetches them into a staging folder that wanprov owns, and
stops. Everything an engine writes is untrusted; swarm.py verifies and places it. Another engine (Dragonfly,
a libtorrent session) replaces aria2.py by implementing Engine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from wanprov.errors import UsageError

SCHEMA = "wanprov.publication/1"


@dataclass(frozen=True)
class SwarmSettings:
    """Where the swarm listens; every listener binds to `bind_address`, on the cluster network."""

    bind_address: str
    tracker_address: str = ""  # the controller's cluster address (the tracker listens there)
    tracker_port: int = 6969  # TCP and UDP
    peer_port: int = 6881  # TCP, on every node
    piece_size_log2: int = 24  # 16 MiB pieces: few piece hashes for 28 GB, still many pieces per file
    announce_interval_s: int = 10  # a small fleet swarms faster when peers learn of each other quickly
    seed_deadline_s: int = 3600  # the controller's seeder stops by itself after this, if nobody stops it

    def __post_init__(self) -> None:
        for name in ("tracker_port", "peer_port"):
            port = getattr(self, name)
            if not 1 <= port <= 65535:
                raise UsageError(f"swarm setting {name}: {port} is not a TCP port", hint="use 1-65535")
        if not 16 <= self.piece_size_log2 <= 28:
            raise UsageError(
                f"swarm setting piece_size_log2: {self.piece_size_log2} is outside 16-28 (64 KiB-256 MiB)",
                hint="24 (16 MiB) suits model files",
            )


@dataclass(frozen=True)
class StagedFile:
    """A file wanprov verified: its path on the publisher and where it lands under a models folder."""

    relpath: str
    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class PublishedItem:
    relpath: str
    sha256: str
    size: int
    handle: str  # the engine's name for it (a BitTorrent info-hash)
    meta: str  # what a fetcher needs to join (a base64 .torrent)


@dataclass(frozen=True)
class Publication:
    """What the controller hands every host: the items, which engine, and where its tracker is."""

    engine: str
    items: tuple[PublishedItem, ...]
    tracker: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "engine": self.engine,
            "tracker": self.tracker,
            "items": [asdict(item) for item in self.items],
        }

    @classmethod
    def read(cls, path: Path) -> Publication:
        """The publication file a controller handed over (what `swarm publish --format json` printed): any
        other content - not UTF-8, not JSON, nested too deep, of another shape - is a UsageError naming it."""
        from wanprov.strict import StrictParseError, loads_json

        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"{path}: cannot be read ({exc.strerror})", hint="check the path") from exc
        try:
            document = loads_json(raw)
        except StrictParseError as exc:
            raise UsageError(f"{path}: not JSON ({exc})", hint="pass what `swarm publish` printed") from exc
        return cls.from_dict(document, str(path))

    @classmethod
    def from_dict(cls, document: dict[str, Any], where: str = "publication") -> Publication:
        if not isinstance(document, dict) or document.get("schema") != SCHEMA:
            raise UsageError(
                f"{where}: not a {SCHEMA} document",
                hint="pass what `wanprov swarm publish` wrote",
            )
        raw_items = document.get("items")
        if not isinstance(raw_items, list) or not all(_item_shape(item) for item in raw_items):
            raise UsageError(
                f"{where}: malformed item list (each item: relpath, sha256 (64 hex), size, handle, meta)",
                hint="publish again",
            )
        engine, tracker = document.get("engine"), document.get("tracker", "")
        if not isinstance(engine, str) or not isinstance(tracker, str):
            raise UsageError(f"{where}: engine and tracker must be strings", hint="publish again")
        return cls(engine=engine, items=tuple(PublishedItem(**item) for item in raw_items), tracker=tracker)


_ITEM_TYPES = {"relpath": str, "sha256": str, "size": int, "handle": str, "meta": str}


def _item_shape(item: Any) -> bool:
    """One published item as publish() writes it: exactly its fields, each of its type (a bool is no size)."""
    if not isinstance(item, dict) or set(item) != set(_ITEM_TYPES):
        return False
    if not all(isinstance(item[key], kind) for key, kind in _ITEM_TYPES.items()) or isinstance(
        item["size"], bool
    ):
        return False
    return (
        item["size"] >= 0
        and len(item["sha256"]) == 64
        and all(c in "0123456789abcdef" for c in item["sha256"])
    )


@dataclass
class SwarmResult:
    """What a fetch into staging did: which items completed, whether the deadline cut it short."""

    completed: list[str] = field(default_factory=list)  # relpaths the engine says are whole (still untrusted)
    missing: list[str] = field(default_factory=list)
    timed_out: bool = False
    downloaded_bytes: int = 0
    uploaded_bytes: int = 0
    seconds: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Engine(Protocol):
    name: str

    def publish(self, files: list[StagedFile], state_dir: Path, settings: SwarmSettings) -> Publication:
        """Start serving verified files; the serving outlives this call until stop(state_dir)."""
        ...

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
        """Download every item into staging/<relpath>, share with the swarm until it is done, then stop."""
        ...

    def stop(self, state_dir: Path) -> None:
        """Stop what publish() started under state_dir; safe to call twice."""
        ...
