"""Fetch a profile: the one use case behind `wanprov fetch-models`, `wanprov up` and the
`wanprov.gpu.models` Ansible module.

The sequence, once: the catalog under its lock, the profile's files (or those `only` selects), the plan
against the models folder, then either the dry run's quick resolution (an unreachable hub is not an error)
or the real resolution, the disk check and the transfers. Per-file failures stay in the plan's `errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from wanprov.errors import UsageError
from wanprov.models.fetch import FetchPlan
from wanprov.models.progress import NullProgress, Progress


@dataclass(frozen=True)
class FetchProfileRequest:
    profile: str
    models_dir: Path
    custom_nodes_dir: Path | None = None  # for files a node pack reads from its own folder
    manifests: Sequence[Path] = ()  # the user's own catalogs and profiles; empty: the shipped ones
    lock: Path | None = None
    only: Sequence[str] = ()  # globs over id, name or folder/name
    from_dir: Path | None = None  # a local or NFS mirror instead of the Hub
    jobs: int = 4
    connections: int | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class FetchProfileReport:
    plan: FetchPlan
    present_before: list[str]  # relpaths present and verified before this run
    changed: bool  # something was (dry run: would be) downloaded, copied or hashed


def fetch_profile(
    request: FetchProfileRequest, progress: Callable[[int], Progress] | None = None
) -> FetchProfileReport:
    """Plan and (unless a dry run) fetch a profile. `progress(total_bytes)` makes the transfers' progress
    view; it is called only when something is pending, so a no-op re-run draws nothing."""
    from wanprov.models.catalog import load_catalog
    from wanprov.models.fetch import (
        plan_fetch,
        preflight_disk,
        resolve_for_plan,
        resolve_unknowns,
        run_fetch,
        select,
    )
    from wanprov.models.hub import HubSettings
    from wanprov.models.lock import locked_catalog

    if not 1 <= request.jobs <= 32:
        raise UsageError(f"jobs={request.jobs}: give 1 to 32 parallel files", hint="e.g. --jobs 4")
    if request.from_dir is not None and not request.from_dir.is_dir():
        raise UsageError(f"from_dir {request.from_dir} is not a folder", hint="give a mirror's models folder")
    catalog = locked_catalog(load_catalog(list(request.manifests)), request.lock)
    entries = select(catalog.profile(request.profile), request.only)
    if not entries:
        raise UsageError(
            f"only={list(request.only)} matches no file of profile {request.profile}",
            hint="see `wanprov models list`",
        )
    settings = HubSettings.from_env()
    plan = plan_fetch(
        request.profile,
        entries,
        request.models_dir,
        from_dir=request.from_dir,
        custom_nodes_dir=request.custom_nodes_dir,
    )
    before = [state.entry.relpath for state in plan.files if state.status == "present"]
    if request.dry_run:
        if not settings.offline:
            resolve_for_plan(plan, settings, request.from_dir)
        return FetchProfileReport(plan, before, bool(plan.pending))
    resolve_unknowns(plan, settings, request.from_dir)
    preflight_disk(plan)
    changed = bool(plan.pending)
    if changed:
        view = progress(plan.to_download_bytes) if progress else NullProgress()
        try:
            run_fetch(
                plan,
                settings,
                from_dir=request.from_dir,
                jobs=request.jobs,
                progress=view,
                connections=request.connections,
            )
        finally:
            view.close()
    return FetchProfileReport(plan, before, changed)
