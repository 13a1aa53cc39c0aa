"""Shared test fixtures: where the repository and the recorded shared/ data are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_dir() -> Path:
    """The project's shared/ folder (recorded hosts, node schemas), laid beside the checkout."""
    override = os.environ.get("WANPROV_SHARED_DIR")
    candidates = [Path(override)] if override else []
    candidates += [REPO_ROOT.parent / "shared", REPO_ROOT / "shared"]
    for candidate in candidates:
        if (candidate / "fixtures" / "hosts").is_dir():
            return candidate
    raise RuntimeError(
        "shared/ (recorded GPU hosts, ComfyUI node schemas) not found beside the checkout; "
        "set WANPROV_SHARED_DIR"
    )


SHARED_DIR = _shared_dir()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED_DIR


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
