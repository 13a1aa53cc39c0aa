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
