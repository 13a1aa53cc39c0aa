"""`wanprov workflow` (being built; see the issue tracker)."""

from __future__ import annotations

import click

from wanprov.errors import WanprovError


@click.command("workflow")
def workflow() -> int:
    """Not built yet."""
    raise WanprovError("wanprov workflow is not built yet")
