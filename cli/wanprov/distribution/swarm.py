"""The p2p use cases: publish a verified profile (controller), fetch it through the swarm (host).

A host's fetch goes through the engine into a staging folder on the models' filesystem, stops the engine,
then hands the staging folder to the same verified placement as `fetch-models --from`, by rename: the
engine's bytes count for nothing until wanprov's sha256 says so. What the swarm did not deliver in time
stays pending, so the caller falls back (controller, then hub) and says so.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from wanprov.distribution.engine import Engine, Publication, StagedFile, SwarmResult, SwarmSettings
from wanprov.errors import IntegrityError, UsageError, WanprovError
from wanprov.models.catalog import FileEntry
from wanprov.models.fetch import FetchPlan, plan_fetch, run_fetch
from wanprov.models.hub import HubSettings
from wanprov.models.record import VerificationRecord

STAGING = ".wanprov-swarm"  # inside the models folder: same filesystem, so placing is a rename
ENGINES = ("aria2", "libtorrent")


def profile_entries(profile: str, manifests: list[Path] | tuple[Path, ...] = ()) -> list[FileEntry]:
    """A profile's files from the shipped catalog and the user's manifests, at their locked revisions."""
    from wanprov.models.catalog import load_catalog
    from wanprov.models.lock import locked_catalog

    return locked_catalog(load_catalog(manifests), None).profile(profile)


def make_engine(name: str) -> Engine:
    if name == "aria2":
        from wanprov.distribution.aria2 import Aria2Engine

        return Aria2Engine()
    if name == "libtorrent":
        from wanprov.distribution.libtorrent_engine import LibtorrentEngine

        return LibtorrentEngine()
    raise UsageError(f"unknown swarm engine {name!r}", hint=f"one of: {', '.join(ENGINES)}")


def verified_files(entries: list[FileEntry], cache_dir: Path) -> list[StagedFile]:
    """The files of `entries` that wanprov verified in `cache_dir` (a `fetch-models` target); all or error."""
    record = VerificationRecord(cache_dir)
    files, unverified = [], []
    for entry in entries:
        path = cache_dir / entry.relpath
        sha = record.verified_sha256(entry.relpath, path)
        if not sha or (entry.sha256 and sha != entry.sha256):
            unverified.append(entry.relpath)
            continue
        files.append(StagedFile(entry.relpath, path, sha, path.stat().st_size))
    if unverified:
        raise IntegrityError(
            f"{cache_dir}: not verified by wanprov: {', '.join(unverified)}",
            hint="fill it with `wanprov fetch-models --models-dir` first: only verified files are shared",
        )
    return files


def publish(
    engine: Engine, entries: list[FileEntry], cache_dir: Path, state_dir: Path, settings: SwarmSettings
) -> Publication:
    return engine.publish(verified_files(entries, cache_dir), state_dir, settings)


def publish_many(
    engine: Engine, profiles: list[tuple[list[FileEntry], Path]], state_dir: Path, settings: SwarmSettings
) -> Publication:
    """Several profiles' caches in one swarm (one tracker, one seeder); a file two profiles share, once."""
    files: dict[str, StagedFile] = {}
    for entries, cache_dir in profiles:
        for staged in verified_files(entries, cache_dir):
            files.setdefault(staged.relpath, staged)
    return engine.publish(list(files.values()), state_dir, settings)


def publish_profiles(
    engine: str,
    profiles: list[str],
    manifests: list[Path],
    cache_root: Path,
    state_dir: Path,
    settings: SwarmSettings,
) -> Publication:
    """The controller's use case: publish each profile's verified copy under `cache_root/PROFILE` (the
    models role's controller cache) in one swarm of `engine`."""
    cache_dirs = [(profile_entries(profile, manifests), cache_root / profile) for profile in profiles]
    return publish_many(make_engine(engine), cache_dirs, state_dir, settings)


def fetch(
    engine: Engine,
    publication: Publication,
    profile: str,
    entries: list[FileEntry],
    models_dir: Path,
    settings: SwarmSettings,
    *,
    custom_nodes_dir: Path | None = None,
    deadline_s: float = 1800,
    swarm_size: int = 1,
    linger_s: float = 30,
) -> tuple[FetchPlan, SwarmResult]:
    """Swarm what is missing into staging, then verify and place it; what is still missing stays pending."""
    staging = models_dir / STAGING
    published = {item.relpath: item for item in publication.items}
    entries = [_pinned(e, published) for e in entries]
    plan = plan_fetch(profile, entries, models_dir, from_dir=staging, custom_nodes_dir=custom_nodes_dir)
    wanted = {state.entry.relpath for state in plan.pending}
    unpublished = sorted(wanted - set(published))
    items = tuple(published[r] for r in sorted(wanted & set(published)))
    result = SwarmResult(missing=unpublished)
    if items:
        try:
            result = engine.fetch(
                replace(publication, items=items),
                staging,
                settings,
                deadline_s=deadline_s,
                swarm_size=swarm_size,
                linger_s=linger_s,
            )
        except WanprovError as exc:  # the engine could not start: the chain moves on, and says why
            result = SwarmResult(missing=sorted(r.relpath for r in items), error=exc.message)
        result.missing = sorted(set(result.missing) | set(unpublished))
    delivered = [s for s in plan.pending if s.entry.relpath in set(result.completed)]
    run_fetch(_only(plan, delivered), HubSettings.from_env(), from_dir=staging, adopt=True)
    plan.errors = [s.error for s in plan.files if s.error is not None]
    _clean(staging)
    return plan, result


def _pinned(entry: FileEntry, published: dict[str, Any]) -> FileEntry:
    """The catalog's sha256 wins; an unpinned entry takes the one the controller verified."""
    item = published.get(entry.relpath)
    if item is None or entry.sha256:
        return entry
    return replace(entry, sha256=item.sha256, size=entry.size if entry.size is not None else item.size)


def _only(plan: FetchPlan, states: list) -> FetchPlan:
    return replace(plan, files=states)


def _clean(staging: Path) -> None:
    """Drop what the engine left (partial or refused files); keep its logs for a post-mortem."""
    if not staging.is_dir():
        return
    for child in staging.iterdir():
        if child.name != ".engine":
            shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)


def fetch_chain(
    engine: Engine | None,
    publication: Publication | None,
    profile: str,
    entries: list[FileEntry],
    models_dir: Path,
    settings: SwarmSettings | None,
    *,
    controller_dir: Path | None,
    hub: HubSettings | None,
    custom_nodes_dir: Path | None = None,
    deadline_s: float = 1800,
    swarm_size: int = 1,
    linger_s: float = 30,
) -> dict[str, Any]:
    """p2p, then the controller's folder, then the hub, each for what the one before left; says which served.

    A source is skipped when not given (None). The document's `distribution` names, per source, what it
    placed and why the chain moved on (`timeout`, `error`, `incomplete`).
    """
    chain: list[dict[str, Any]] = []
    plan: FetchPlan | None = None
    if engine is not None and publication is not None and settings is not None:
        plan, swarm = fetch(
            engine,
            publication,
            profile,
            entries,
            models_dir,
            settings,
            custom_nodes_dir=custom_nodes_dir,
            deadline_s=deadline_s,
            swarm_size=swarm_size,
            linger_s=linger_s,
        )
        chain.append(_step("p2p", plan, swarm.timed_out, swarm.error, extra={"swarm": swarm.to_dict()}))
    for name, source in (("controller", controller_dir), ("hub", hub)):
        if source is None or (plan is not None and plan.ok):
            continue
        from_dir = source if isinstance(source, Path) else None
        plan = plan_fetch(profile, entries, models_dir, from_dir=from_dir, custom_nodes_dir=custom_nodes_dir)
        if not plan.pending:
            break
        from wanprov.models.fetch import resolve_unknowns

        error = None
        try:
            settings_hub = source if isinstance(source, HubSettings) else HubSettings.from_env()
            resolve_unknowns(plan, settings_hub, from_dir)
            run_fetch(plan, settings_hub, from_dir=from_dir)
        except (IntegrityError, UsageError, OSError) as exc:
            error = str(exc)
        except Exception as exc:
            error = getattr(exc, "message", str(exc))
        chain.append(_step(name, plan, False, error))
    final = plan_fetch(profile, entries, models_dir, custom_nodes_dir=custom_nodes_dir)
    missing = [s.entry.relpath for s in final.pending]
    served = [step["source"] for step in chain if step["placed"]]
    return {
        "schema": "wanprov.distribution/1",
        "profile": profile,
        "models_dir": str(models_dir),
        "requested": chain[0]["source"] if chain else "none",
        "served_by": served,
        "fell_back": len(chain) > 1,
        "chain": chain,
        "missing": missing,
        "ok": not missing,
    }


def _step(
    source: str, plan: FetchPlan, timed_out: bool, error: str | None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    placed = [s.entry.relpath for s in plan.files if s.status in ("adopted", "copied", "downloaded")]
    failed = {s.entry.relpath: s.error.message for s in plan.files if s.error is not None}
    left = [s.entry.relpath for s in plan.files if s.status in ("pending", "failed")]
    outcome = "ok" if not left else "timeout" if timed_out else "error" if (error or failed) else "incomplete"
    step = {"source": source, "outcome": outcome, "placed": placed, "left": left, "failed": failed}
    if error:
        step["error"] = error
    return {**step, **(extra or {})}
