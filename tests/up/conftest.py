"""The sources of a bare host for `wanprov up`, built once per session (tests/up/up_host.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from up_host import Sources, build_sources


@pytest.fixture(scope="session")
def up_sources(object_info_path: Path) -> Iterator[Sources]:
    yield from build_sources(object_info_path)
