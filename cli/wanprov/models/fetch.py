"""Plan and fetch a profile's files into a ComfyUI models folder.

plan_fetch(): what is present (by the verification record: a stat, no hashing), what is pending, the bytes
still to move and the free disk - no writes, so `--dry-run` is honest. run_fetch(): resolves unknown
sha256/size on the hub, checks disk before any byte moves, then downloads (or copies --from a mirror) in a
thread pool, one file lock per file so two runs on one folder are safe.
"""

from __future__ import annotations

import fnmatch
import shutil
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wanprov.errors import (
    IntegrityError,
    NetworkError,
    NoSpaceError,
    OfflineError,
    WanprovError,
    from_os_error,
)
from wanprov.models.catalog import FileEntry
from wanprov.models.hub import HubSettings, fetch_metadata
from wanprov.models.partfile import hash_path, partial_path
from wanprov.models.progress import NullProgress, Progress
from wanprov.models.record import VerificationRecord

if TYPE_CHECKING:
    from wanprov.models.segmented import ConnectionBudget
    from wanprov.models.transfer import Cancellation

SCHEMA = "wanprov.fetch/1"
CONNECTIONS_PER_FILE = 16  # what a CDN stream needs to fill 1-10 Gbit/s at tens of MB/s per connection
TOTAL_CONNECTIONS = 32  # the run's cap, however many files are in flight
DISK_MARGIN_BYTES = 256 << 20  # leave room for logs and the record: a full disk breaks everything else

DiskUsage = Callable[[Path], int]


def free_bytes(path: Path) -> int:
    """Free bytes on the filesystem that holds `path` (or its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


@dataclass
class FileState:
    entry: FileEntry
    path: Path
    status: str  # present | pending | downloaded | copied | failed
    action: str = "none"  # none | download | copy | verify (hash a file already there but not recorded)
    partial_bytes: int = 0
    error: WanprovError | None = None
    unresolved: bool = False  # dry run with the hub unreachable: size/sha256 not known yet

    @property
    def remaining_bytes(self) -> int:
        if self.status in ("pending", "failed") and self.action in ("download", "copy") and self.entry.size:
            return max(0, self.entry.size - self.partial_bytes)
        return 0

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "id": self.entry.id,
            "folder": self.entry.folder,
            "name": self.entry.name,
            "path": str(self.path),
            "size": self.entry.size,
            "sha256": self.entry.sha256,
            "status": self.status,
            "action": self.action,
            "repo": self.entry.repo,
            "revision": self.entry.revision,
            "gated": self.entry.gated,
            "partial_bytes": self.partial_bytes,
            "unresolved": self.unresolved,
        }
        if self.error is not None:
            document["error"] = self.error.to_dict()
        return document


@dataclass
class FetchPlan:
    profile: str
    models_dir: Path
    files: list[FileState]
    free_bytes: int
    source: str = "hub"
    errors: list[WanprovError] = field(default_factory=list)
    hub_error: str | None = None  # dry run: why the hub could not be asked (the plan is from catalog + lock)

    @property
    def to_download_bytes(self) -> int:
        return sum(state.remaining_bytes for state in self.files)

    @property
    def pending(self) -> list[FileState]:
        return [state for state in self.files if state.status == "pending"]

    @property
    def ok(self) -> bool:
        return not self.errors and all(s.status in ("present", "downloaded", "copied") for s in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "profile": self.profile,
            "models_dir": str(self.models_dir),
            "source": self.source,
            "files": [state.to_dict() for state in self.files],
            "to_download_bytes": self.to_download_bytes,
            "free_bytes": self.free_bytes,
            "hub_unreachable": self.hub_error,
            "ok": self.ok,
        }


def select(entries: Iterable[FileEntry], patterns: Iterable[str]) -> list[FileEntry]:
    """--only GLOB: keep entries whose id, local name or folder/name matches any pattern."""
    globs = list(patterns)
    if not globs:
        return list(entries)
    return [
        e for e in entries if any(fnmatch.fnmatch(v, g) for g in globs for v in (e.id, e.name, e.relpath))
    ]


def _part_bytes(final: Path, entry: FileEntry) -> int:
    if not entry.sha256:
        return 0
    try:
        info = partial_path(final, entry.sha256).lstat()
    except OSError:
        return 0
    return info.st_size if stat.S_ISREG(info.st_mode) else 0  # a planted link counts for nothing


def plan_fetch(
    profile: str,
    entries: list[FileEntry],
    models_dir: Path,
    *,
    from_dir: Path | None = None,
    disk_usage: DiskUsage = free_bytes,
    custom_nodes_dir: Path | None = None,
) -> FetchPlan:
    """What is there and what is not; reads only (stat + the verification record)."""
    record = VerificationRecord(models_dir)
    states = []
    for entry in entries:
        final = entry.destination(models_dir, custom_nodes_dir)
        recorded = record.verified_sha256(entry.relpath, final)
        if recorded and (entry.sha256 is None or recorded == entry.sha256):
            states.append(
                FileState(replace(entry, sha256=recorded, size=final.stat().st_size), final, "present")
            )
            continue
        action = "copy" if from_dir else "download"
        if final.is_file() and (entry.size is None or final.stat().st_size == entry.size):
            action = "verify"  # there but never verified by wanprov: hash it once instead of downloading
        states.append(
            FileState(entry, final, "pending", action=action, partial_bytes=_part_bytes(final, entry))
        )
    return FetchPlan(
        profile=profile,
        models_dir=models_dir,
        files=states,
        free_bytes=disk_usage(models_dir),
        source=str(from_dir) if from_dir else "hub",
    )


DRY_RUN_TIMEOUT_S = 5.0


def resolve_for_plan(plan: FetchPlan, settings: HubSettings, from_dir: Path | None = None) -> None:
    """`--dry-run`: resolve what the hub can tell at once; unreachable, plan from catalog and lock.

    One try per file, a short timeout, and after the first network failure no more asking: a plan is
    wanted in seconds, not after minutes of retries.
    """
    quick = replace(settings, retries=0, timeout_s=min(settings.timeout_s, DRY_RUN_TIMEOUT_S))
    resolve_unknowns(plan, quick, from_dir, tolerate_unreachable=True)


def resolve_unknowns(
    plan: FetchPlan,
    settings: HubSettings,
    from_dir: Path | None = None,
    *,
    tolerate_unreachable: bool = False,
) -> None:
    """Fill the sha256/size a pending entry lacks: from the mirror's own record, else the hub's HEAD."""
    for state in plan.pending:
        entry = state.entry
        if entry.sha256 and entry.size is not None:
            continue
        if from_dir is not None:
            source = from_dir / entry.relpath
            sha = entry.sha256 or VerificationRecord(from_dir).verified_sha256(entry.relpath, source)
            if not sha:
                raise IntegrityError(
                    f"no sha256 known for {entry.relpath} (entry {entry.id!r} in {entry.manifest}), "
                    f"and {from_dir} has no wanprov verification record for it",
                    hint="run `wanprov models lock` where the hub is reachable, or fill the mirror with "
                    "`wanprov fetch-models` so it carries its record",
                )
            size = entry.size if entry.size is not None else _size_or_none(source)
            state.entry = replace(entry, sha256=sha, size=size)
        else:
            if settings.offline and state.action == "verify" and entry.sha256:
                continue
            if plan.hub_error is not None:
                state.unresolved = True
                continue
            try:
                remote = fetch_metadata(entry, settings)
            except NetworkError as exc:
                if not tolerate_unreachable:
                    raise
                plan.hub_error, state.unresolved = exc.message, True
                continue
            if not (entry.sha256 or remote.sha256):
                raise IntegrityError(
                    f"the hub gave no sha256 for {entry.repo}/{entry.path} (entry {entry.id!r}): not LFS",
                    hint=f"add sha256: to the entry in {entry.manifest}",
                )
            state.entry = replace(
                entry,
                sha256=entry.sha256 or remote.sha256,
                size=entry.size if entry.size is not None else remote.size,
            )
        size = state.entry.size
        if state.action == "verify" and size is not None and state.path.stat().st_size != size:
            state.action = "copy" if from_dir else "download"
        state.partial_bytes = _part_bytes(state.path, state.entry)


def _size_or_none(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def preflight_disk(plan: FetchPlan) -> None:
    """Refuse before any byte moves when the bytes still to fetch do not fit."""
    need = plan.to_download_bytes
    if need and need + DISK_MARGIN_BYTES > plan.free_bytes:
        raise NoSpaceError(
            f"{plan.models_dir}: {_gib(need)} still to fetch (+{_gib(DISK_MARGIN_BYTES)} margin) "
            f"but only {_gib(plan.free_bytes)} free",
            hint="free space, point --models-dir at a bigger disk, or fetch part of the profile with --only",
        )


def _gib(count: int) -> str:
    return f"{count / (1 << 30):.2f} GiB"


def run_fetch(
    plan: FetchPlan,
    settings: HubSettings,
    *,
    from_dir: Path | None = None,
    jobs: int = 4,
    progress: Progress | None = None,
    connections: int | None = None,
) -> FetchPlan:
    """Fetch every pending file of an already resolved and preflighted plan; failures stay per file.

    `connections`: most connections one file uses (default CONNECTIONS_PER_FILE, fewer for small files);
    all files in flight share max(TOTAL_CONNECTIONS, connections) connections.
    """
    pending = plan.pending
    if not pending:  # the no-op re-run: no thread pool, no transfer machinery imported
        return plan
    from concurrent.futures import ThreadPoolExecutor

    from wanprov.models.segmented import ConnectionBudget
    from wanprov.models.transfer import Cancellation

    progress = progress or NullProgress()
    cancel = Cancellation()
    per_file = connections or CONNECTIONS_PER_FILE
    budget = ConnectionBudget(max(TOTAL_CONNECTIONS, per_file))
    if settings.offline and from_dir is None and any(s.action == "download" for s in pending):
        missing = ", ".join(s.entry.relpath for s in pending if s.action == "download")
        raise OfflineError(
            f"HF_HUB_OFFLINE is set and these files are missing: {missing}",
            hint="unset HF_HUB_OFFLINE, or fetch --from a local copy",
        )

    def work(state: FileState) -> None:
        progress.start_file(state.entry.id, state.entry.name, state.entry.size)
        try:
            _fetch_one(plan.models_dir, state, settings, from_dir, progress, cancel, budget, per_file)
        except WanprovError as exc:
            state.status, state.error = "failed", exc
        except OSError as exc:  # a read-only models folder, a full disk: this file fails, typed and named
            state.status, state.error = "failed", from_os_error(exc, f"fetch {state.entry.relpath}")
        finally:
            progress.finish_file(state.entry.id)

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="fetch") as pool:
        futures = [pool.submit(work, state) for state in pending]
        try:
            for future in futures:
                future.result()
        except KeyboardInterrupt:
            cancel.set()  # workers stop at their next chunk; part files stay for the next run
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    plan.errors = [state.error for state in plan.files if state.error is not None]
    return plan


def _fetch_one(
    models_dir: Path,
    state: FileState,
    settings: HubSettings,
    from_dir: Path | None,
    progress: Progress,
    cancel: Cancellation,
    budget: ConnectionBudget,
    connections: int,
) -> None:
    from wanprov.models.partfile import PartSlot
    from wanprov.models.segmented import fetch_remote
    from wanprov.models.transfer import copy_local

    entry, final = state.entry, state.path
    assert entry.sha256, "resolve_unknowns() runs first"

    def advance(amount: int) -> None:
        progress.advance(entry.id, amount)

    # The folders below the models (or custom_nodes) folder, then every name the file passes through, are
    # opened by the slot without following links (partfile.py): nothing is written through a planted one.
    below = len(entry.folder.split("/")) + (1 if entry.node_pack else 0)
    with PartSlot(final, final.parents[below], entry.sha256) as slot, slot.locked():
        record = VerificationRecord(models_dir)  # re-read: another run may have finished it while we waited
        if record.verified_sha256(entry.relpath, final) == entry.sha256 and slot.final_size() is not None:
            state.status, state.action = "present", "none"
            return
        size = slot.final_size()
        if size is not None and (entry.size is None or size == entry.size):
            if slot.hash_final(advance) == entry.sha256:
                record.add(entry.relpath, final, entry.sha256)
                state.status, state.action = "present", "verify"
                return
            state.action = "copy" if from_dir else "download"  # wrong bytes: replaced atomically below
        if from_dir is not None:
            sha = copy_local(entry, from_dir / entry.relpath, slot, entry.sha256, advance, cancel)
            state.status = "copied"
        else:
            sha = fetch_remote(entry, slot, entry.sha256, settings, advance, cancel, budget, connections)
            state.status = "downloaded"
        record.add(entry.relpath, final, sha)


def verify_files(
    entries: list[FileEntry], models_dir: Path, custom_nodes_dir: Path | None = None
) -> list[dict[str, Any]]:
    """`wanprov models verify`: re-hash every file that is there, whatever the record says."""
    record = VerificationRecord(models_dir)
    results = []
    for entry in entries:
        final = entry.destination(models_dir, custom_nodes_dir)
        result: dict[str, Any] = {"id": entry.id, "path": str(final), "expected_sha256": entry.sha256}
        if not final.is_file():
            result.update(status="missing", sha256=None)
        else:
            actual = hash_path(final)
            expected = entry.sha256 or record.verified_sha256(entry.relpath, final)
            result["sha256"] = actual
            if expected is None or actual == expected:
                record.add(entry.relpath, final, actual)
                result["status"] = "ok" if expected else "unpinned"
            else:
                record.forget(entry.relpath)  # the next fetch hashes it again and replaces it
                result["status"] = "mismatch"
        results.append(result)
    return results
