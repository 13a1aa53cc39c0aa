"""Doctor tests run the real CLI and the real probes against fake GPU hosts (tests/doubles/gpu)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from doctor_cli import TARGET_PYTHON, run_doctor

from doubles.gpu import install_fake_host


@pytest.fixture
def fake_host(tmp_path: Path) -> Callable[[str], dict[str, str]]:
    def install(name: str) -> dict[str, str]:
        return install_fake_host(tmp_path / name, name)

    return install


@pytest.fixture
def doctor_json(fake_host: Callable[[str], dict[str, str]]) -> Callable[..., tuple[int, dict[str, Any]]]:
    """Run `wanprov doctor --format json` on a named fake host; return (exit code, document)."""

    def run(name: str, *extra: str) -> tuple[int, dict[str, Any]]:
        result = run_doctor(["--python", TARGET_PYTHON, "--format", "json", *extra], fake_host(name))
        assert result.stdout.startswith("{"), result.stdout  # exactly one JSON document on stdout
        return result.returncode, json.loads(result.stdout)

    return run
