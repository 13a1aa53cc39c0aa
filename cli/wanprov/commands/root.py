"""The `wanprov` command group.

Subcommands load lazily (click's documented LazyGroup pattern) so `wanprov doctor` does not pay for
importing huggingface_hub, jinja2 or rich when it does not need them.
"""

from __future__ import annotations

import importlib
import sys

import click

from wanprov import __version__
from wanprov.commands.output import run_guarded
from wanprov.exit_codes import ExitCode

# command name -> "module:attribute"; the modules live in wanprov.commands.
SUBCOMMANDS: dict[str, str] = {
    "doctor": "wanprov.commands.doctor:doctor",
    "fleet-report": "wanprov.commands.fleet_report:fleet_report",
    "health": "wanprov.commands.health:health",
    "fetch-models": "wanprov.commands.fetch_models:fetch_models",
    "models": "wanprov.commands.models:models",
    "workflow": "wanprov.commands.workflow:workflow",
    "install-nodes": "wanprov.commands.stack:install_nodes",
    "stack": "wanprov.commands.stack:stack",
    "up": "wanprov.commands.up:up",
    "swarm": "wanprov.commands.swarm:swarm",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        return getattr(importlib.import_module(module_name), attribute)


# The exit-code list in --help comes from the enum itself, so it cannot drift from the code (the docs table is
# checked against the same enum by tests/hostile/test_exit_contract.py).
HELP = (
    "Turn an NVIDIA GPU host into a tuned, verified ComfyUI for Wan 2.2 I2V and Flux.\n\n"
    "Exit codes: "
    + ", ".join(f"{int(code)} {code.name.lower().replace('_', ' ')}" for code in ExitCode)
    + " (docs/exit-codes.md)."
)


@click.group(cls=LazyGroup, help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="wanprov")
def cli() -> None:
    pass


def main() -> None:
    sys.exit(run_guarded(cli))
