"""`wanprov install-nodes`, `wanprov stack flags` and `wanprov stack wait`: thin click adapters over
wanprov.stack."""

from __future__ import annotations

from pathlib import Path

import click

from wanprov.commands.output import FORMAT_OPTION, emit_json
from wanprov.exit_codes import ExitCode
from wanprov.redact import shown

_DIR = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(dir_okay=False, path_type=Path)


def _default_python(comfyui_dir: Path) -> Path:
    for candidate in (
        comfyui_dir / "venv" / "bin" / "python",
        comfyui_dir.parent / "venv" / "bin" / "python",
    ):
        if candidate.exists():
            return candidate
    from wanprov.errors import UsageError

    raise UsageError(
        f"no venv found beside {comfyui_dir}", hint="pass --python /path/to/comfyui-venv/bin/python"
    )


@click.command("install-nodes")
@click.option("--comfyui-dir", required=True, type=_DIR, help="The ComfyUI checkout (holds main.py).")
@click.option(
    "--python", "python", type=_FILE, help="The ComfyUI venv's python [default: DIR/venv or ../venv]."
)
@click.option("--manifest", type=_FILE, help="Node pack manifest [default: the shipped node-packs.yaml].")
@click.option("--only", multiple=True, metavar="NAME", help="Converge only these packs (repeatable).")
@click.option("--with-optional", multiple=True, metavar="NAME", help="Add an optional pack, or `all`.")
@click.option("--url", "urls", multiple=True, metavar="NAME=URL", help="Override a pack's git URL (mirrors).")
@click.option("--commit", "commits", multiple=True, metavar="NAME=SHA", help="Override a pack's commit.")
@click.option("--allow-unpinned", is_flag=True, help="Accept a branch or tag instead of a 40-hex commit.")
@click.option(
    "--allow-url-scheme",
    "allow_schemes",
    multiple=True,
    type=click.Choice(["file", "ssh", "http"]),
    help="Also accept --url overrides of this transport (https always); local mirrors: file.",
)
@click.option(
    "--constraints",
    type=_FILE,
    help="Torch constraints file [default: VENV/wanprov-constraints.txt, written from the installed torch].",
)
@click.option("--pip-arg", "pip_args", multiple=True, help="Extra pip argument, e.g. --pip-arg=--no-index.")
@click.option("--skip-core-requirements", is_flag=True, help="Do not install ComfyUI's own requirements.txt.")
@click.option("--force", is_flag=True, help="Discard local changes to tracked files in a pack checkout.")
@click.option("--dry-run", is_flag=True, help="Only report what would change (exit 4 when something would).")
@FORMAT_OPTION
def install_nodes(
    comfyui_dir: Path,
    python: Path | None,
    manifest: Path | None,
    only: tuple[str, ...],
    with_optional: tuple[str, ...],
    urls: tuple[str, ...],
    commits: tuple[str, ...],
    allow_unpinned: bool,
    allow_schemes: tuple[str, ...],
    constraints: Path | None,
    pip_args: tuple[str, ...],
    skip_core_requirements: bool,
    force: bool,
    dry_run: bool,
    output_format: str,
) -> int:
    """Install pinned custom node packs into ComfyUI; no pack's requirements can replace torch."""
    from wanprov.stack import apply
    from wanprov.stack import manifest as stack_manifest

    comfyui_dir = comfyui_dir.absolute()
    python = (python or _default_python(comfyui_dir)).absolute()
    constraints = (constraints or python.parent.parent / "wanprov-constraints.txt").absolute()
    packs = stack_manifest.select(
        stack_manifest.load_node_packs(manifest),
        only=only,
        with_optional=with_optional,
        urls=stack_manifest.parse_assignments(urls, "url"),
        commits=stack_manifest.parse_assignments(commits, "commit"),
        allow_unpinned=allow_unpinned,
        allow_schemes=allow_schemes,
    )
    report = apply.install_nodes(
        packs,
        comfyui_dir,
        python,
        constraints,
        dry_run=dry_run,
        force=force,
        pip_args=pip_args,
        core_requirements=not skip_core_requirements,
        log=lambda message: click.echo(message, err=True),
    )
    if output_format == "json":
        emit_json(report.to_dict())
    else:
        if report.core_requirements.get("actions"):
            click.echo(f"{'ComfyUI':32} {'':12}  {'requirements':14} requirements")
        for plan in report.packs:
            what = ", ".join(plan.actions) if plan.actions else "up to date"
            click.echo(shown(f"{plan.name:32} {plan.commit[:12]}  {plan.state:14} {what}"))
        for path in report.protection_changes:
            click.echo(f"torch protection: {'would write' if dry_run else 'wrote'} {path}")
        verb = "pending" if dry_run else "done"
        click.echo(f"{verb}: torch pinned at {report.torch_pins.get('torch')}")
    return ExitCode.PENDING if dry_run and report.pending else ExitCode.OK


@click.group("stack")
def stack() -> None:
    """ComfyUI stack helpers used by the Ansible role (and by people)."""


@stack.command("flags")
@click.option("--comfyui-dir", required=True, type=_DIR, help="The ComfyUI checkout.")
@click.option("--python", "python", type=_FILE, help="Its venv's python (runs `main.py --help`).")
@click.argument("flags", nargs=-1)
@FORMAT_OPTION
def flags_command(comfyui_dir: Path, python: Path | None, flags: tuple[str, ...], output_format: str) -> int:
    """Check launch FLAGS against the installed ComfyUI (exit 1 when one is not accepted).

    Pass the flags after `--`, e.g. `wanprov stack flags --comfyui-dir D -- --highvram --reserve-vram 2`.
    """
    from wanprov.stack.flags import check_flags, known_flags

    known, source = known_flags(comfyui_dir, python)
    result = check_flags(flags, known, source)
    if output_format == "json":
        emit_json(result.to_dict())
    else:
        for name in result.accepted:
            click.echo(shown(f"ok      {name}"))
        for name in result.rejected:
            click.echo(shown(f"REFUSED {name} (not a flag of this ComfyUI; checked with {source})"))
    return ExitCode.CHECK_FAILED if result.rejected else ExitCode.OK


@stack.command("wait")
@click.option("--url", required=True, help="What must answer 200, e.g. http://127.0.0.1:8188/system_stats.")
@click.option("--pidfile", type=_FILE, help="The `process` supervisor's pid file (with --log).")
@click.option("--log", "logfile", type=_FILE, help="The `process` supervisor's log file.")
@click.option("--unit", help="The systemd unit (its journal is the log).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0), default=120.0, show_default=True)
@click.option("--interval", "interval_s", type=click.FloatRange(min=0.1), default=1.0, show_default=True)
@FORMAT_OPTION
def wait_command(
    url: str,
    pidfile: Path | None,
    logfile: Path | None,
    unit: str | None,
    timeout_s: float,
    interval_s: float,
    output_format: str,
) -> int:
    """Wait for the service to answer URL; fail at once, with its log's tail, if it exits or restarts.

    Exit codes: 0 answered, 11 the service exited or restarted, 5 it runs but did not answer in time.
    """
    from wanprov.stack.service_wait import wait_for_service, watch_for

    result = wait_for_service(
        url, watch_for(unit, pidfile, logfile), timeout_s=timeout_s, interval_s=interval_s
    )
    if output_format == "json":
        emit_json({"schema": "wanprov.stack-wait/1", **result})
    else:
        click.echo(shown(f"{url} answered after {result['waited_s']} s"))
    return ExitCode.OK
