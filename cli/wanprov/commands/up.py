"""`wanprov up`: a bare host to a running, verified ComfyUI in one command (an adapter over wanprov.up)."""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path
from typing import Any

import click

from wanprov.commands.output import FORMAT_OPTION, emit_json
from wanprov.commands.stack_options import default_unit_dir, is_root, stack_options

_FILE = click.Path(dir_okay=False, path_type=Path)
_DIR = click.Path(file_okay=False, path_type=Path)


@click.command("up")
@stack_options
@click.option("--profile", help="The model profile [each GPU's, from the doctor] (`wanprov models list`).")
@click.option(
    "--manifest", "manifests", multiple=True, type=_FILE, help="Your own model catalog (repeatable)."
)
@click.option(
    "--template", "templates", multiple=True, help="A workflow template [wan22-i2v-gguf-lightning]."
)
@click.option(
    "--service",
    "manager",
    type=click.Choice(["system", "user", "none", "process"]),
    help="system: hardened system units (root); user: systemd user units (no root); none: print the start "
    "commands [root: system, else user]. process is for tests only (no systemd as PID 1).",
)
@click.option("--service-user", help="Who runs the instances [root: comfyui, created; else you].")
@click.option(
    "--unit-dir", type=_DIR, help="Where the units go [/etc/systemd/system, or ~/.config/systemd/user]."
)
@click.option("--smoke/--no-smoke", default=True, show_default=True, help="Run one tiny video on each GPU.")
@click.option("--health-timeout", type=click.FloatRange(min=1), default=120.0, show_default=True,
              help="Seconds each instance has to answer.")  # fmt: skip
@click.option("--smoke-timeout", type=click.FloatRange(min=1), default=900.0, show_default=True,
              help="Seconds the smoke's tiny video may take.")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Print the whole plan, change nothing (exit 4 when it would).")
@FORMAT_OPTION
def up(
    profile: str | None,
    manifests: tuple[Path, ...],
    templates: tuple[str, ...],
    manager: str | None,
    service_user: str | None,
    unit_dir: Path | None,
    smoke: bool,
    health_timeout: float,
    smoke_timeout: float,
    dry_run: bool,
    output_format: str,
    **options: Any,
) -> int:
    """Doctor, stack, models, workflows, service, health and smoke on this host, in that order.

    A re-run changes nothing and says so. A host the doctor refuses stops with its findings and their fixes
    (exit 1), nothing written. Exit codes: 0 up and verified, 4 --dry-run found changes, others as
    docs/exit-codes.md.
    """
    from wanprov.commands.stack_options import converge_request
    from wanprov.service.install import ServiceRequest
    from wanprov.up import UpRequest, run_up

    manager = manager or ("system" if is_root() else "user")
    user = service_user or (
        "comfyui" if is_root() and manager != "user" else pwd.getpwuid(os.getuid()).pw_name
    )
    group = user if service_user or is_root() else grp.getgrgid(os.getgid()).gr_name
    units = (
        unit_dir or (default_unit_dir() if manager != "user" or not is_root() else _user_units())
    ).absolute()
    converge = converge_request(
        options,
        dry_run=dry_run,
        service_manager="process" if manager == "process" else "systemd",
        unit_dir=units,
    )
    service = ServiceRequest(manager=manager, user=user, group=group, unit_dir=units,
                             service_name=options["service_name"], wait_timeout_s=health_timeout)  # fmt: skip
    request = UpRequest(
        converge=converge,
        service=service,
        profile=profile,
        models_dir=converge.stack.models_dir,
        manifests=manifests,
        templates=templates or ("wan22-i2v-gguf-lightning",),
        smoke=smoke,
        smoke_timeout_s=smoke_timeout,
        health_timeout_s=health_timeout,
    )
    view = _View(enabled=output_format == "text")
    try:
        report = run_up(request, view, view.progress)
    finally:
        view.close()
    if output_format == "json":
        emit_json(report.to_dict())
    else:
        view.summary(report)
    return report.exit_code


def _user_units() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "systemd" / "user"


MARKS = {
    "ok": "[green]ok[/]",
    "changed": "[cyan]changed[/]",
    "would_change": "[yellow]would change[/]",
    "skipped": "[dim]skipped[/]",
    "failed": "[red]FAILED[/]",
    "refused": "[red]REFUSED[/]",
}


class _View:
    """One line per stage on stderr (a spinner while it runs, rich as fetch-models' bars), the closing table
    on stdout."""

    def __init__(self, enabled: bool) -> None:
        from rich.console import Console

        self.enabled = enabled
        self.err = Console(stderr=True, highlight=False)
        self.out = Console(highlight=False)
        self._status: Any = None

    def stage_started(self, stage: Any) -> None:
        if self.enabled and self.err.is_terminal:
            self._status = self.err.status(f"{stage.name} ...")
            self._status.start()

    def stage_done(self, stage: Any) -> None:
        self._stop()
        if not self.enabled:
            return
        mark = MARKS.get(stage.status, stage.status)
        self.err.print(f"{stage.name:10} {mark:24} {stage.seconds:6.1f} s  "
                       f"{stage.detail}", markup=True, soft_wrap=True)  # fmt: skip
        for change in stage.data.get("changes", [])[:20]:
            self.err.print(f"           {'would change' if stage.status == 'would_change' else 'changed'}: "
                           f"{change}", markup=False, soft_wrap=True)  # fmt: skip

    def log(self, message: str) -> None:
        if self.enabled:
            self.err.print(f"           {message}", markup=False, style="dim")

    def progress(self, total_bytes: int) -> Any:
        from wanprov.models.progress import terminal_progress

        self._stop()  # one live display at a time: the transfers' bars replace the spinner
        return terminal_progress(total_bytes, None if self.enabled else False)

    def _stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def close(self) -> None:
        self._stop()

    def summary(self, report: Any) -> None:
        from rich.table import Table

        if report.blocking:
            self.out.print("The doctor refused this host; nothing was written. Fix these, then run again:")
            for finding in report.blocking:
                self.out.print(f"  {finding['check']}: {finding['message']}", markup=False)
                self.out.print(f"    fix: {finding['fix'] or 'none given'}", markup=False)
            return
        if report.error:
            self.out.print(f"error: {report.error['message']}", markup=False)
            if report.error.get("hint"):
                self.out.print(f"  fix: {report.error['hint']}", markup=False)
        table = Table(title="ComfyUI on this host")
        for column in ("instance", "URL", "GPU", "profile", "files verified", "smoke"):
            table.add_column(column)
        for row in report.instances:
            gpu = "CPU" if row.gpu is None else f"{row.gpu}: {row.gpu_name or '?'}"
            files = "-" if row.files_verified is None else str(row.files_verified)
            table.add_row(row.name, row.url, gpu, row.profile or "-", files, row.smoke or "-")
        self.out.print(table)
        for row in report.instances:
            if row.start_command:
                self.out.print(f"start {row.name}: {row.start_command}", markup=False, soft_wrap=True)
        if report.dry_run:
            verdict = "changes pending (dry run)" if report.changed else "nothing to change"
        else:
            verdict = "changed" if report.changed else "nothing changed: already converged"
        self.out.print(f"{'ok' if report.ok else 'FAILED'}: {verdict}")
