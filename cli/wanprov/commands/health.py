"""`wanprov health check`: a thin click adapter over wanprov.health.instance."""

from __future__ import annotations

from pathlib import Path

import click

from wanprov.commands.output import FORMAT_OPTION, emit_json
from wanprov.redact import shown

_DIR = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(dir_okay=False, path_type=Path)


@click.group("health")
def health() -> None:
    """Check running ComfyUI instances: they answer, and the rendered workflows validate against them."""


@health.command("check")
@click.option("--url", required=True, help="The instance's base URL, e.g. http://127.0.0.1:8188.")
@click.option(
    "--workflows-dir",
    required=True,
    type=_DIR,
    help="The instance's rendered workflows (<user dir>/default/workflows); each *.api.json is checked.",
)
@click.option("--unit", help="The systemd unit (its journal is the log).")
@click.option("--pidfile", type=_FILE, help="The `process` supervisor's pid file (with --log).")
@click.option("--log", "logfile", type=_FILE, help="The `process` supervisor's log file.")
@click.option("--host", "host_name", default="", help="The host's name in the result (the inventory's).")
@click.option(
    "--gpu", type=click.IntRange(min=0), help="The instance's GPU (nvidia-smi index); omitted: --cpu."
)
@click.option("--tier", help="The GPU's VRAM tier (`none`: no smoke run).")
@click.option(
    "--require-files/--no-require-files",
    default=False,
    show_default=True,
    help="A file the server does not list is an error (once the models are in place).",
)
@click.option(
    "--comfyui-dir", type=_DIR, help="Also look each file up in this ComfyUI folder's model folders."
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds, wall time, to answer and serve /system_stats and /object_info.",
)
@click.option("--interval", "interval_s", type=click.FloatRange(min=0.1), default=2.0, show_default=True)
@click.option(
    "--smoke", "smoke_template", help="Also run this template at a tiny size (needs --gpu and --tier)."
)
@click.option("--profile", help="With --smoke: the model profile to run.")
@click.option("--smoke-timeout", type=click.FloatRange(min=1), default=900.0, show_default=True)
@FORMAT_OPTION
def check_command(
    url: str,
    workflows_dir: Path,
    unit: str | None,
    pidfile: Path | None,
    logfile: Path | None,
    host_name: str,
    gpu: int | None,
    tier: str | None,
    require_files: bool,
    comfyui_dir: Path | None,
    timeout_s: float,
    interval_s: float,
    smoke_template: str | None,
    profile: str | None,
    smoke_timeout: float,
    output_format: str,
) -> int:
    """Wait for the instance at --url, then validate each rendered API workflow against its live
    /object_info, listing every file each one names; print the wanprov.instance-health/2 result.

    Exit codes: 0 healthy, 1 a workflow fails (or no workflows), 11 the service exited or restarted (its
    log's tail in the error), 5 it did not answer in time, 12/13/14 the smoke run failed, timed out or
    wrote an output that does not verify."""
    from wanprov.health.instance import HealthRequest, SmokeRequest, check_instance
    from wanprov.stack.service_wait import watch_for

    request = HealthRequest(
        url=url,
        workflows_dir=workflows_dir,
        watch=watch_for(unit, pidfile, logfile),
        host=host_name,
        gpu=gpu,
        tier=tier,
        require_files=require_files,
        comfyui_dir=comfyui_dir,
        wait_timeout_s=timeout_s,
        interval_s=interval_s,
        smoke=SmokeRequest(smoke_template, profile, smoke_timeout) if smoke_template else None,
    )
    result = check_instance(request)
    if output_format == "json":
        emit_json(result.to_dict())
        return result.exit_code
    for workflow in result.workflows:
        click.echo(shown(f"{'ok  ' if workflow.ok else 'FAIL'} {workflow.file}"))
        for problem in workflow.problems:
            click.secho(shown(f"       {problem}"), fg="red")
        for file in workflow.files_checked:
            mark = file.status if file.required else f"{file.status} (user input)"
            click.echo(
                shown(f"       {mark:<22} node {file.node_id} ({file.class_type}) {file.input}: {file.name}")
            )
    if result.ok:
        version = f" (ComfyUI {result.comfyui_version})" if result.comfyui_version else ""
        click.echo(shown(f"{result.url}{version}: healthy, {len(result.workflows)} workflow(s) validate"))
    else:
        click.secho(shown(f"{result.url}: {result.error}".rstrip(), multiline=True), fg="red", err=True)
    return result.exit_code
