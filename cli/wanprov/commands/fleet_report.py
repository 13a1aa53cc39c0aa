"""`wanprov fleet-report`: the fleet's doctor reports and instance health checks -> one table + JSON.
Thin: parse flags, read the files, build (wanprov.fleet.report), print, write."""

from __future__ import annotations

from pathlib import Path

import click

from wanprov.commands.output import FORMAT_OPTION, emit_json
from wanprov.exit_codes import ExitCode


def _pairs(option: str, values: tuple[str, ...]) -> dict[str, str]:
    """HOST=VALUE pairs; a malformed or repeated host, or one with control characters, is a usage error."""
    from wanprov.strict import has_control

    pairs: dict[str, str] = {}
    for value in values:
        host, sep, rest = value.partition("=")
        if not sep or not host or not rest:
            raise click.BadParameter(f"{value!r}: expected HOST=VALUE", param_hint=option)
        if has_control(host):
            raise click.BadParameter(f"host {host!r} holds a control character", param_hint=option)
        if host in pairs:
            raise click.BadParameter(f"host {host!r} given twice", param_hint=option)
        pairs[host] = rest
    return pairs


@click.command("fleet-report")
@click.option(
    "--doctor",
    "doctor_files",
    multiple=True,
    metavar="HOST=FILE",
    help="A host's `wanprov doctor --format json` report (repeat per host).",
)
@click.option(
    "--health",
    "health_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Instance health results (wanprov.instance-health/2, or /1): one object or a list (repeatable).",
)
@click.option(
    "--unreachable",
    "unreachable_pairs",
    multiple=True,
    metavar="HOST=REASON",
    help="A host that produced no doctor report, and why (repeatable).",
)
@click.option(
    "--instances",
    "instance_pairs",
    multiple=True,
    metavar="HOST=GPUS",
    help="The GPUs of HOST that run a ComfyUI instance (comma-separated indices, `cpu` for its --cpu "
    "instance, or `none`); its other "
    "ready GPUs are reported `excluded` (comfyui_gpus). Repeatable.",
)
@click.option(
    "--models-from",
    "models_from_pairs",
    multiple=True,
    metavar="HOST=SOURCES",
    help="Which sources served the host's model files, e.g. p2p or 'hub (p2p fell back)' (repeatable).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the report (JSON, wanprov.fleet-report/1) to this file, atomically.",
)
@FORMAT_OPTION
def fleet_report(
    doctor_files: tuple[str, ...],
    health_files: tuple[str, ...],
    unreachable_pairs: tuple[str, ...],
    instance_pairs: tuple[str, ...],
    models_from_pairs: tuple[str, ...],
    output: str | None,
    output_format: str,
) -> int:
    """One row per ComfyUI instance (host, GPU) with its verdict, URL and validated workflows; every
    refused, excluded or unreachable host or GPU with its reason and fix.

    Exit codes: 0 every instance healthy (excluded GPUs aside), 1 not, 2 usage, 3 --output not
    writable, 10 some input is unreadable or malformed: the report still covers every host (that one
    `invalid`, or listed under `problems`), and is printed and written.
    """
    from wanprov.datafiles import write_json_output
    from wanprov.fleet import inputs, report

    doctor = _pairs("--doctor", doctor_files)
    unreachable = _pairs("--unreachable", unreachable_pairs)
    instances = {
        host: _gpu_list(host, value) for host, value in _pairs("--instances", instance_pairs).items()
    }
    if not doctor and not unreachable:
        raise click.UsageError("give at least one --doctor HOST=FILE (or --unreachable HOST=REASON)")
    reports, invalid = {}, {}
    for host, path in doctor.items():
        try:
            reports[host] = inputs.read_doctor(Path(path), host)
        except report.FleetInputError as exc:  # that host's row says so; the others are reported
            invalid[host] = exc.message
    health, problems = [], []
    for path in health_files:
        try:
            results, bad = inputs.read_health(Path(path))
        except report.FleetInputError as exc:
            results, bad = [], [exc.message]
        health.extend(results)
        problems.extend(bad)
    document = report.build(
        reports,
        health,
        unreachable,
        instances=instances,
        problems=problems,
        invalid=invalid,
        models_from=_pairs("--models-from", models_from_pairs),
    )
    if output:  # the writer rules of every output file: no link or FIFO replaced, no folder created
        write_json_output(Path(output), document, what="fleet report")
    if output_format == "json":
        emit_json(document)
    else:
        click.echo(report.render_text(document))
    if report.has_bad_input(document):
        return ExitCode.BAD_MANIFEST
    return ExitCode.OK if document["ok"] else ExitCode.CHECK_FAILED


def _gpu_list(host: str, value: str) -> list[int | None]:
    """GPU indices; `cpu` is the host's --cpu instance (None), `none` no instance."""
    if value.strip().lower() == "none":
        return []
    try:
        return [None if part.strip() == "cpu" else int(part) for part in value.split(",")]
    except ValueError:
        raise click.BadParameter(
            f"{host}={value}: expected GPU indices like 0,1, cpu (or none)", param_hint="--instances"
        ) from None
