"""`wanprov models` (being built; see the issue tracker)."""

from __future__ import annotations

import click

from wanprov.errors import WanprovError


@click.command("models")
def models() -> int:
    """Not built yet."""
    raise WanprovError("wanprov models is not built yet")
