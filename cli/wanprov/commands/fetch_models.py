"""`wanprov fetch-models` (being built; see the issue tracker)."""

from __future__ import annotations

import click

from wanprov.errors import WanprovError


@click.command("fetch-models")
def fetch_models() -> int:
    """Not built yet."""
    raise WanprovError("wanprov fetch-models is not built yet")
