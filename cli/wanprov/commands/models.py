"""`wanprov models`: list profiles, lock unknown hashes from the hub, re-verify files on disk."""

from __future__ import annotations

from pathlib import Path

import click

from wanprov.commands.fetch_models import models_dir_option, resolve_custom_nodes_dir, resolve_models_dir
from wanprov.commands.output import FORMAT_OPTION, emit_json
from wanprov.exit_codes import ExitCode
from wanprov.redact import shown

MANIFEST_OPTION = click.option(
    "--manifest",
    "manifests",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Your own catalog/profile YAML (same format); repeatable.",
)


@click.group("models")
def models() -> None:
    """Model catalog and profiles: list, lock, verify."""


@models.command("list")
@MANIFEST_OPTION
@click.option("--profile", help="Show one profile's files by role.")
@FORMAT_OPTION
def list_profiles(manifests: tuple[Path, ...], profile: str | None, output_format: str) -> int:
    """List profiles (or one profile's files by role)."""
    from wanprov.models.catalog import load_catalog
    from wanprov.models.tiers import describe_tiers, profile_tiers

    catalog = load_catalog(manifests)
    names = [profile] if profile else sorted(catalog.profiles)
    document = {
        "schema": "wanprov.models/1",
        "profiles": {
            name: {
                "description": catalog.descriptions.get(name, ""),
                # the doctor's tiers that recommend it (none: Flux, or your own profile)
                "tiers": profile_tiers(name),
                "files": {
                    role: {
                        "id": e.id,
                        "relpath": e.relpath,
                        "size": e.size,
                        "sha256": e.sha256,
                        "gated": e.gated,
                        "pinned": e.pinned,
                    }
                    for role, e in catalog.profile_roles(name).items()
                },
            }
            for name in names
        },
    }
    if output_format == "json":
        emit_json(document)
        return ExitCode.OK
    for name, info in document["profiles"].items():
        total = sum(f["size"] or 0 for f in info["files"].values())
        unknown = sum(1 for f in info["files"].values() if f["size"] is None)
        # Unpinned entries have no size until `models lock` (or a fetch) asks the hub: say so.
        size = f"{total / 1e9:.1f} GB" + (f" + {unknown} file(s) of unknown size" if unknown else "")
        tiers = describe_tiers(info["tiers"])
        click.echo(shown(f"{name}  ({size}{'; ' + tiers if tiers else ''})  {info['description']}"))
        if profile:
            for role, f in info["files"].items():
                marks = ("gated " if f["gated"] else "") + ("" if f["pinned"] else "unpinned")
                click.echo(shown(f"  {role:16} {f['relpath']}  {marks}"))
    return ExitCode.OK


@models.command("lock")
@MANIFEST_OPTION
@click.option(
    "--profile",
    "profiles",
    multiple=True,
    help="Lock these profiles' files (default: the --manifest files' entries, else all).",
)
@click.option(
    "--lock",
    "lock_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write this lock file instead of the one next to each manifest.",
)
@FORMAT_OPTION
def lock(
    manifests: tuple[Path, ...], profiles: tuple[str, ...], lock_file: Path | None, output_format: str
) -> int:
    """Resolve commit, size and sha256 of catalog files on the hub and record them in the lock file."""
    from wanprov.models.catalog import load_catalog
    from wanprov.models.hub import HubSettings
    from wanprov.models.lock import as_dict, lock_entries

    catalog = load_catalog(manifests)
    if profiles:
        chosen = {e.id: e for name in profiles for e in catalog.profile(name)}
        entries = list(chosen.values())
    elif manifests:  # your manifests' own entries; the shipped ones are locked in the wanprov release
        mine = {str(path) for path in manifests}
        entries = [e for e in catalog.files.values() if e.manifest in mine]
    else:
        entries = list(catalog.files.values())
    written = lock_entries(entries, HubSettings.from_env(), lock_file)
    if output_format == "json":
        emit_json(
            {
                "schema": "wanprov.lock-result/1",
                "locks": {
                    str(path): {
                        key: as_dict(item) for key, item in items.items() if key in {e.id for e in entries}
                    }
                    for path, items in written.items()
                },
            }
        )
    else:
        for path, items in written.items():
            for entry in entries:
                if entry.id in items:
                    item = items[entry.id]
                    click.echo(f"{entry.id:40} {item.commit or '?':.12} {item.sha256 or '?'}")
            click.echo(f"wrote {path}")
    return ExitCode.OK


@models.command("verify")
@click.option("--profile", required=True)
@models_dir_option
@MANIFEST_OPTION
@click.option("--lock", "lock_file", type=click.Path(dir_okay=False, path_type=Path))
@FORMAT_OPTION
def verify(
    profile: str,
    comfyui_dir: Path | None,
    models_dir: Path | None,
    custom_nodes_dir: Path | None,
    manifests: tuple[Path, ...],
    lock_file: Path | None,
    output_format: str,
) -> int:
    """Re-hash the profile's files on disk (ignores the verification record). Exit 6 on a mismatch."""
    from wanprov.models.catalog import load_catalog
    from wanprov.models.fetch import verify_files
    from wanprov.models.lock import locked_catalog

    target = resolve_models_dir(comfyui_dir, models_dir)
    entries = locked_catalog(load_catalog(manifests), lock_file).profile(profile)
    results = verify_files(entries, target, resolve_custom_nodes_dir(comfyui_dir, custom_nodes_dir))
    bad = [r for r in results if r["status"] == "mismatch"]
    missing = [r for r in results if r["status"] == "missing"]
    if output_format == "json":
        emit_json({"schema": "wanprov.verify/1", "models_dir": str(target), "files": results, "ok": not bad})
    else:
        for r in results:
            click.echo(f"{r['status']:9} {r['path']}")
            if r["status"] == "mismatch":
                click.echo(f"          expected {r['expected_sha256']}\n          actual   {r['sha256']}")
    if bad:
        return ExitCode.INTEGRITY
    return ExitCode.PENDING if missing else ExitCode.OK
