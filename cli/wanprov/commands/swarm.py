"""`wanprov swarm`: share a verified profile across a fleet peer to peer (publish / fetch / stop)."""

from __future__ import annotations

from pathlib import Path

import click

from wanprov.commands.fetch_models import models_dir_option, resolve_custom_nodes_dir, resolve_models_dir
from wanprov.commands.models import MANIFEST_OPTION
from wanprov.commands.output import FORMAT_OPTION, emit_json
from wanprov.exit_codes import ExitCode

BIND_OPTION = click.option(
    "--bind", required=True, help="This node's address on the cluster network; every listener binds to it."
)
PEER_PORT_OPTION = click.option(
    "--peer-port", type=click.IntRange(1, 65535), default=6881, show_default=True, help="Peer TCP port."
)
ENGINE_OPTION = click.option(
    "--engine",
    type=click.Choice(["libtorrent", "aria2"]),
    default="libtorrent",
    show_default=True,
    help="The swarm engine: libtorrent in-process, or aria2c as a process (Debian package aria2).",
)


def _entries(profile: str, manifests: tuple[Path, ...]):
    from wanprov.models.catalog import load_catalog
    from wanprov.models.lock import locked_catalog

    return locked_catalog(load_catalog(manifests), None).profile(profile)


@click.group("swarm")
def swarm() -> None:
    """Fetch each model once per fleet: the controller seeds verified files, the hosts swarm them."""


@swarm.command("publish")
@click.option("--profile", required=True, help="The profile whose verified files to share.")
@click.option(
    "--cache-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder `fetch-models --models-dir` filled and verified (the controller cache).",
)
@click.option(
    "--state-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Torrents, logs, pids.",
)
@MANIFEST_OPTION
@BIND_OPTION
@click.option(
    "--tracker-port", type=click.IntRange(1, 65535), default=6969, show_default=True, help="Tracker TCP+UDP."
)
@PEER_PORT_OPTION
@click.option("--piece-size-log2", type=click.IntRange(16, 28), default=24, show_default=True)
@click.option(
    "--seed-deadline",
    type=click.IntRange(1),
    default=3600,
    show_default=True,
    help="Seconds the seeder lives.",
)
@ENGINE_OPTION
@FORMAT_OPTION
def publish_command(
    profile: str,
    cache_dir: Path,
    state_dir: Path,
    manifests: tuple[Path, ...],
    bind: str,
    tracker_port: int,
    peer_port: int,
    piece_size_log2: int,
    seed_deadline: int,
    engine: str,
    output_format: str,
) -> int:
    """Start the tracker and the seeder for a verified profile; prints the publication the hosts need."""
    from wanprov.distribution.engine import SwarmSettings
    from wanprov.distribution.swarm import make_engine, publish

    settings = SwarmSettings(
        bind_address=bind,
        tracker_address=bind,
        tracker_port=tracker_port,
        peer_port=peer_port,
        piece_size_log2=piece_size_log2,
        seed_deadline_s=seed_deadline,
    )
    publication = publish(
        make_engine(engine),
        _entries(profile, manifests),
        cache_dir.absolute(),
        state_dir.absolute(),
        settings,
    )
    if output_format == "json":
        emit_json(publication.to_dict())
    else:
        click.echo(f"seeding {len(publication.items)} files of {profile}; tracker {publication.tracker}")
    return ExitCode.OK


@swarm.command("fetch")
@click.option("--profile", required=True)
@models_dir_option
@MANIFEST_OPTION
@click.option(
    "--publication",
    "publication_file",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The JSON `swarm publish --format json` printed.",
)
@BIND_OPTION
@PEER_PORT_OPTION
@click.option(
    "--deadline", type=click.FloatRange(1), default=1800, show_default=True, help="Seconds for the swarm."
)
@click.option("--swarm-size", type=click.IntRange(1), default=1, show_default=True, help="Hosts fetching.")
@click.option(
    "--linger", type=click.FloatRange(0), default=30, show_default=True, help="Seed on until idle this long."
)
@click.option(
    "--fallback-from",
    type=click.Path(file_okay=False, path_type=Path),
    help="The controller's folder (copied or mounted) to take what the swarm did not deliver from.",
)
@click.option("--fallback-hub/--no-fallback-hub", default=True, show_default=True, help="Then the hub.")
@click.option(
    "--engine",
    type=click.Choice(["libtorrent", "aria2"]),
    default=None,
    help="The swarm engine  [default: the one the publication names]",
)
@FORMAT_OPTION
def fetch_command(
    profile: str,
    comfyui_dir: Path | None,
    models_dir: Path | None,
    custom_nodes_dir: Path | None,
    manifests: tuple[Path, ...],
    publication_file: Path,
    bind: str,
    peer_port: int,
    deadline: float,
    swarm_size: int,
    linger: float,
    fallback_from: Path | None,
    fallback_hub: bool,
    engine: str | None,
    output_format: str,
) -> int:
    """Fetch a profile through the swarm, verified by wanprov; fall back to the controller, then the hub."""
    from wanprov.distribution.engine import Publication, SwarmSettings
    from wanprov.distribution.swarm import fetch_chain, make_engine
    from wanprov.models.hub import HubSettings

    publication = Publication.read(publication_file)
    target = resolve_models_dir(comfyui_dir, models_dir)
    document = fetch_chain(
        make_engine(engine or publication.engine),
        publication,
        profile,
        _entries(profile, manifests),
        target,
        SwarmSettings(bind_address=bind, peer_port=peer_port),
        controller_dir=fallback_from.absolute() if fallback_from else None,
        hub=HubSettings.from_env() if fallback_hub else None,
        custom_nodes_dir=resolve_custom_nodes_dir(comfyui_dir, custom_nodes_dir),
        deadline_s=deadline,
        swarm_size=swarm_size,
        linger_s=linger,
    )
    if output_format == "json":
        emit_json(document)
    else:
        for step in document["chain"]:
            click.echo(
                f"{step['source']:10} {step['outcome']:10} "
                f"placed {len(step['placed'])}, left {len(step['left'])}"
            )
        click.echo(f"served by: {', '.join(document['served_by']) or 'nothing new'}")
    return ExitCode.OK if document["ok"] else ExitCode.NETWORK


@swarm.command("stop")
@click.option("--state-dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@ENGINE_OPTION
@FORMAT_OPTION
def stop_command(state_dir: Path, engine: str, output_format: str) -> int:
    """Stop the tracker and the seeder `swarm publish` started."""
    from wanprov.distribution.swarm import make_engine

    make_engine(engine).stop(state_dir.absolute())
    if output_format == "json":
        emit_json({"schema": "wanprov.swarm-stop/1", "ok": True, "state_dir": str(state_dir.absolute())})
    else:
        click.echo(f"stopped the swarm of {state_dir}")
    return ExitCode.OK
