"""`wanprov fetch-models`: a profile's model files, verified, resumable, parallel, in ComfyUI's folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from wanprov.commands.output import FORMAT_OPTION, emit_json
from wanprov.errors import UsageError
from wanprov.exit_codes import ExitCode
from wanprov.redact import shown

if TYPE_CHECKING:
    from wanprov.models.catalog import FileEntry
    from wanprov.models.fetch import FetchPlan

F = TypeVar("F", bound=Callable[..., Any])


def models_dir_option(function: F) -> F:  # shared by fetch-models and `models verify`
    function = click.option(
        "--custom-nodes-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="ComfyUI's custom_nodes folder, for files a node pack reads from its own folder "
        "(default with --comfyui-dir: DIR/custom_nodes).",
    )(function)
    function = click.option(
        "--models-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="ComfyUI's models folder itself.",
    )(function)
    return click.option(
        "--comfyui-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="A ComfyUI checkout; models go to DIR/models.",
    )(function)


def resolve_models_dir(comfyui_dir: Path | None, models_dir: Path | None) -> Path:
    if (comfyui_dir is None) == (models_dir is None):
        raise UsageError(
            "give exactly one of --comfyui-dir or --models-dir",
            hint="e.g. --comfyui-dir ~/ComfyUI (models go to ~/ComfyUI/models)",
        )
    return (models_dir or comfyui_dir / "models").expanduser().absolute()  # type: ignore[operator]


def resolve_custom_nodes_dir(comfyui_dir: Path | None, custom_nodes_dir: Path | None) -> Path | None:
    """--custom-nodes-dir, else DIR/custom_nodes of --comfyui-dir; None: only models/ files can be placed."""
    chosen = custom_nodes_dir or (comfyui_dir / "custom_nodes" if comfyui_dir else None)
    return chosen.expanduser().absolute() if chosen else None


@click.command("fetch-models")
@click.option(
    "--profile", required=True, help="Model profile, e.g. wan22-i2v-a14b-q5-lightning (`models list`)."
)
@models_dir_option
@click.option(
    "--manifest",
    "manifests",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Your own catalog/profile YAML (same format); repeatable.",
)
@click.option(
    "--lock",
    "lock_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Lock file to read (default: the one next to each manifest).",
)
@click.option(
    "--jobs", "-j", type=click.IntRange(1, 32), default=4, show_default=True, help="Parallel files."
)
@click.option(
    "--connections",
    type=click.IntRange(1, 64),
    metavar="N",
    help="Most connections one file uses (default 16, fewer for small files); all files share max(32, N).",
)
@click.option(
    "--only", "only", multiple=True, metavar="GLOB", help="Only entries whose id/name/folder/name match."
)
@click.option(
    "--from",
    "from_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Copy from a local/NFS mirror laid out like the models folder instead of the hub.",
)
@click.option("--dry-run", is_flag=True, help="Show the plan; exit 4 when anything is to fetch.")
@FORMAT_OPTION
def fetch_models(
    profile: str,
    comfyui_dir: Path | None,
    models_dir: Path | None,
    custom_nodes_dir: Path | None,
    manifests: tuple[Path, ...],
    lock_file: Path | None,
    jobs: int,
    connections: int | None,
    only: tuple[str, ...],
    from_dir: Path | None,
    dry_run: bool,
    output_format: str,
) -> int:
    """Fetch a profile's model files, sha256-verified, into ComfyUI's model folders."""
    from wanprov.models.catalog import load_catalog
    from wanprov.models.fetch import (
        plan_fetch,
        preflight_disk,
        resolve_for_plan,
        resolve_unknowns,
        run_fetch,
    )
    from wanprov.models.hub import HubSettings
    from wanprov.models.lock import locked_catalog
    from wanprov.models.progress import terminal_progress

    target = resolve_models_dir(comfyui_dir, models_dir)
    catalog = locked_catalog(load_catalog(manifests), lock_file)
    entries = _select(catalog.profile(profile), only)
    settings = HubSettings.from_env()
    source = from_dir.absolute() if from_dir else None
    custom_nodes = resolve_custom_nodes_dir(comfyui_dir, custom_nodes_dir)
    plan = plan_fetch(profile, entries, target, from_dir=source, custom_nodes_dir=custom_nodes)
    if dry_run:
        if not settings.offline:
            resolve_for_plan(plan, settings, source)
        _show(plan, output_format)
        return ExitCode.PENDING if plan.pending else ExitCode.OK
    resolve_unknowns(plan, settings, source)
    preflight_disk(plan)
    if plan.pending:  # a no-op re-run draws no progress bars (and imports no rich)
        progress = terminal_progress(plan.to_download_bytes, None if output_format == "text" else False)
        try:
            run_fetch(plan, settings, from_dir=source, jobs=jobs, progress=progress, connections=connections)
        finally:
            progress.close()
    _show(plan, output_format)
    if plan.errors:
        if output_format == "text":
            from wanprov.commands.output import report_error

            for error in plan.errors:
                report_error(error)
        return max(plan.errors, key=lambda e: int(e.exit_code)).exit_code
    return ExitCode.OK


def _select(entries: list[FileEntry], only: tuple[str, ...]) -> list[FileEntry]:
    from wanprov.models.fetch import select

    chosen = select(entries, only)
    if not chosen:
        raise UsageError(
            f"--only {' '.join(only)} matches no file of the profile", hint="see `wanprov models list`"
        )
    return chosen


def _show(plan: FetchPlan, output_format: str) -> None:
    if output_format == "json":
        emit_json(plan.to_dict())
        return
    for state in plan.files:
        size = f"{state.entry.size / 1e9:6.2f} GB" if state.entry.size is not None else "   ? GB  "
        extra = f" (resume at {state.partial_bytes / 1e9:.2f} GB)" if state.partial_bytes else ""
        action = f" [{state.action}]" if state.status == "pending" else ""
        unresolved = " (size/sha256 not resolved: hub unreachable)" if state.unresolved else ""
        click.echo(shown(f"{state.status:10} {size}  {state.entry.relpath}{action}{extra}{unresolved}"))
    if plan.hub_error:
        click.echo(shown(f"hub unreachable, plan from the catalog and lock only: {plan.hub_error}"))
    click.echo(
        f"{plan.models_dir}: {plan.to_download_bytes / 1e9:.2f} GB to fetch, "
        f"{plan.free_bytes / 1e9:.2f} GB free"
    )
