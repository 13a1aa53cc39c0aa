"""The one place that turns results and errors into output and exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from wanprov.errors import WanprovError
from wanprov.exit_codes import ExitCode

FORMAT_OPTION = click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people; json prints exactly one JSON document on stdout for scripts.",
)


def emit_json(document: Any) -> None:
    """Write exactly one JSON document to stdout."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def report_error(error: WanprovError, output_format: str = "text") -> None:
    if output_format == "json":
        emit_json(error.to_dict())
        return
    click.secho(f"error: {error.message}", fg="red", err=True)
    if error.hint:
        click.echo(f"  fix: {error.hint}", err=True)


def run_guarded(command: Callable[..., Any]) -> int:
    """Run a click command in standalone=False mode and map every outcome onto an ExitCode."""
    output_format = "json" if _wants_json(sys.argv[1:]) else "text"
    try:
        result = command.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        return ExitCode.INTERRUPTED
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return ExitCode.INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return ExitCode.USAGE if isinstance(exc, click.UsageError) else exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except WanprovError as exc:
        report_error(exc, output_format)
        return exc.exit_code
    return int(result) if isinstance(result, int) else ExitCode.OK


def _wants_json(argv: list[str]) -> bool:
    for index, arg in enumerate(argv):
        if arg == "--format=json" or (arg == "--format" and argv[index + 1 : index + 2] == ["json"]):
            return True
    return False
