"""`wanprov install-nodes` (being built; see the issue tracker)."""

from __future__ import annotations

import click

from wanprov.errors import WanprovError


@click.command("install-nodes")
def install_nodes() -> int:
    """Not built yet."""
    raise WanprovError("wanprov install-nodes is not built yet")
