"""`wanprov doctor` (being built; see the issue tracker)."""

from __future__ import annotations

import click

from wanprov.errors import WanprovError


@click.command("doctor")
def doctor() -> int:
    """Not built yet."""
    raise WanprovError("wanprov doctor is not built yet")
