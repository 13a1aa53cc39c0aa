"""The one place that turns results and errors into output and exit codes."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from wanprov.errors import Interrupted, UsageError, WanprovError, from_os_error
from wanprov.exit_codes import ExitCode
from wanprov.redact import redact, redact_text, shown

FORMAT_OPTION = click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people; json prints exactly one JSON document on stdout for scripts.",
)

# Set to 1 to see the traceback of an unexpected error (a wanprov bug) after its one-line report.
DEBUG_ENV = "WANPROV_DEBUG"


def emit_json(document: Any) -> None:
    """Write exactly one JSON document to stdout, with credentials taken out of any URL in it."""
    text = json.dumps(redact(document), indent=2, sort_keys=False, default=str, allow_nan=False)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def report_error(error: WanprovError, output_format: str = "text") -> None:
    if output_format == "json":
        emit_json(error.to_dict())
        return
    # a message may quote a host, a server or a file: escaped, and its extra lines indented
    click.secho(f"error: {shown(error.message, multiline=True)}", fg="red", err=True)
    if error.hint:
        click.echo(f"  fix: {shown(error.hint, multiline=True)}", err=True)


def run_guarded(command: Callable[..., Any], args: Sequence[str] | None = None) -> int:
    """Run a click command in standalone=False mode and map every outcome onto an ExitCode.

    Every failure ends here as one message (one JSON document under --format json) and a documented code;
    nothing escapes as a traceback."""
    argv = list(sys.argv[1:] if args is None else args)
    output_format = "json" if _wants_json(argv) else "text"
    try:
        result = command.main(args=argv, prog_name="wanprov", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        if output_format == "json":
            emit_json(Interrupted("interrupted", hint="run it again: work done so far is kept").to_dict())
        click.echo("interrupted", err=True)
        return ExitCode.INTERRUPTED
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        # click's other exceptions (an unopenable click.File) mean the command could not run, not exit 1
        kind = UsageError if isinstance(exc, click.UsageError) else WanprovError
        error = kind(redact_text(exc.format_message()), hint=_usage_hint(exc))
        if output_format == "json":
            emit_json(error.to_dict())
        else:
            ctx = getattr(exc, "ctx", None)
            if ctx is not None and isinstance(exc, click.UsageError):
                click.echo(ctx.get_usage(), err=True)
            report_error(error)  # not exc.show(): that prints the arguments unredacted
        return error.exit_code
    except WanprovError as exc:
        report_error(exc, output_format)
        return exc.exit_code
    except OSError as exc:
        error = from_os_error(exc)
        report_error(error, output_format)
        return error.exit_code
    except ValueError as exc:
        if "null byte" not in str(exc):  # the OS refuses a NUL in a path or name: the argument is wrong
            return _unexpected(exc, output_format)
        error = UsageError("a path or name holds a NUL byte", hint="check the arguments")
        report_error(error, output_format)
        return error.exit_code
    except Exception as exc:  # the last line of defence: a wanprov bug, reported as exit 3
        return _unexpected(exc, output_format)
    return int(result) if isinstance(result, int) else ExitCode.OK


def _unexpected(exc: Exception, output_format: str) -> int:
    report_error(unexpected_error(exc), output_format)
    if os.environ.get(DEBUG_ENV):
        import traceback

        traceback.print_exc()
    return ExitCode.COULD_NOT_RUN


def unexpected_error(exc: BaseException) -> WanprovError:
    """Any other exception is a wanprov bug: exit 3 with the standard error document, not a traceback."""
    detail = str(exc)[:300] or "(no message)"
    if isinstance(exc, RecursionError):
        return WanprovError(
            "the input is nested too deeply to process", hint="check the input file is what you meant"
        )
    return WanprovError(
        f"unexpected error {type(exc).__name__}: {detail}",
        hint=f"this is a wanprov bug; rerun with {DEBUG_ENV}=1 for the traceback and report it",
    )


def _usage_hint(exc: click.ClickException) -> str | None:
    ctx = getattr(exc, "ctx", None)
    return f"see `{ctx.command_path} --help`" if ctx is not None else "see `wanprov --help`"


def _wants_json(argv: list[str]) -> bool:
    for index, arg in enumerate(argv):
        if arg == "--format=json" or (arg == "--format" and argv[index + 1 : index + 2] == ["json"]):
            return True
    return False
