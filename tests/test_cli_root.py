"""The root command: lazy subcommands, version, and the shared exit-code mapping."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from wanprov.commands.output import run_guarded
from wanprov.commands.root import SUBCOMMANDS, cli
from wanprov.errors import IntegrityError, WanprovError
from wanprov.exit_codes import ExitCode


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wanprov", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_help_lists_every_subcommand() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for name in SUBCOMMANDS:
        assert name in result.stdout


def test_unknown_subcommand_is_a_usage_error() -> None:
    result = run_cli("no-such-command")
    assert result.returncode == ExitCode.USAGE
    assert "no-such-command" in result.stderr


@pytest.mark.parametrize(("error", "code"), [(WanprovError("x"), 3), (IntegrityError("x", hint="h"), 6)])
def test_typed_errors_map_to_their_exit_codes(
    monkeypatch: pytest.MonkeyPatch, error: WanprovError, code: int
) -> None:
    @click.command()
    def failing() -> None:
        raise error

    monkeypatch.setattr(sys, "argv", ["wanprov"])
    assert run_guarded(failing) == code


def test_every_lazy_subcommand_imports() -> None:
    ctx = click.Context(cli)
    for name in SUBCOMMANDS:
        assert cli.get_command(ctx, name) is not None, name
