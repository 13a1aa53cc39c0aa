"""Fixtures for the workflow tests: the recorded node schemas and the hand-built workflows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wanprov.workflows.schema import ObjectInfo, load_object_info

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def shared_schemas(object_info_path: Path) -> ObjectInfo:
    """shared/comfyui/object_info.json read as a user-given file (not the vendored copy)."""
    return load_object_info(str(object_info_path))


@pytest.fixture(scope="session")
def responses(fixtures_dir: Path) -> dict[str, Any]:
    return json.loads((fixtures_dir / "comfyui" / "prompt_validation_responses.json").read_text())


@pytest.fixture(scope="session")
def load_data():
    """load_data("seed-example.json") -> a fresh copy of a hand-built workflow under data/."""
    return lambda name: json.loads((DATA / name).read_text())
