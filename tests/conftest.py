"""Shared test fixtures: where the repository and its recorded test data are."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Recorded hosts and ComfyUI answers, copied into the repository (tests/fixtures/README.md says from where).
FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures"
# The node schemas of the pinned ComfyUI: the package's vendored copy is the recording itself.
OBJECT_INFO = REPO_ROOT / "manifests" / "comfyui" / "object_info.json"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES_DIR


@pytest.fixture(scope="session")
def object_info_path() -> Path:
    return OBJECT_INFO


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Under pytest-xdist: whole modules (or modules that share state) per worker (tests/parallel.py)."""
    from parallel import ModuleScheduling

    return ModuleScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker: the slowest modules first (every worker sorts alike; tests/parallel.py)."""
    if hasattr(config, "workerinput"):
        from parallel import slowest_first

        items[:] = slowest_first(items)
