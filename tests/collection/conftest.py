"""Collection tests: the modules run in-process, the way Ansible runs them on a host (AnsibleModule reads its
arguments, exit_json/fail_json print one JSON document and exit)."""

from __future__ import annotations

import importlib
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils import basic

NAMESPACE, NAME = "wanprov", "gpu"
ModuleRunner = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture(scope="session")
def collections_root(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Iterator[Path]:
    """ansible_collections/wanprov/gpu -> the repository, importable as Ansible imports a collection."""
    root = tmp_path_factory.mktemp("collections")
    (root / "ansible_collections" / NAMESPACE).mkdir(parents=True)
    (root / "ansible_collections" / NAMESPACE / NAME).symlink_to(repo_root)
    sys.path.insert(0, str(root))
    try:
        yield root
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.startswith("ansible_collections")]:
            del sys.modules[name]


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    """A module sets its environment as its own process would (models: HF_TOKEN); in-process, undo it."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def run_module(collections_root: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleRunner:
    """run_module(name, args, check=False, diff=False) -> (exit status, the module's JSON result)."""

    def run(name: str, args: dict[str, Any], *, check: bool = False, diff: bool = False):
        module = importlib.import_module(f"ansible_collections.{NAMESPACE}.{NAME}.plugins.modules.{name}")
        payload = {"ANSIBLE_MODULE_ARGS": {**args, "_ansible_check_mode": check, "_ansible_diff": diff}}
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps(payload).encode())
        if hasattr(basic, "_ANSIBLE_PROFILE"):  # ansible-core >= 2.19 also reads the serialization profile
            monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")
        out = io.StringIO()
        with redirect_stdout(out), pytest.raises(SystemExit) as exited:
            module.main()
        return int(exited.value.code or 0), json.loads(out.getvalue())

    return run


def _tree(root: Path) -> dict[str, tuple[int, bytes | None]]:
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): (p.lstat().st_mode, p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def tree() -> Callable[[Path], dict[str, tuple[int, bytes | None]]]:
    """Every path under a folder with its mode and bytes: the before/after snapshot of a check-mode run."""
    return _tree
