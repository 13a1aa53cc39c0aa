"""Fixtures shared by the fleet modules (one pytest session builds the stack's sources once)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.fleet_setup import stack_sources
from stack.stack_sources import SourceRepos


@pytest.fixture(scope="session")
def fleet_sources() -> Iterator[tuple[SourceRepos, Path, Path]]:
    """ComfyUI's and the node packs' local git repos, their manifest and the wheelhouse (with wanprov's own
    wheel), built once for every fleet module. The hosts only read them; a module that needs another
    wheelhouse works on a copy."""
    # Not under pytest's 0700 tmp: the unprivileged service user must traverse to the repos.
    base = Path(tempfile.mkdtemp(prefix="wanprov-sources-", dir="/tmp"))
    base.chmod(0o755)
    try:
        yield stack_sources(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
