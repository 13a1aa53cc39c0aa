"""Every default of every role is prefixed with its role's name and documented: in the role's README or in
docs/fleet.md (the fleet guide)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROLES_DIR = Path(__file__).resolve().parents[2] / "roles"  # parametrize needs it at collection
ROLES = sorted(p.parent.parent.name for p in ROLES_DIR.glob("*/defaults/main.yml"))


def test_every_role_is_covered(repo_root: Path):
    roles = sorted(p.name for p in (repo_root / "roles").iterdir() if p.is_dir())
    assert roles == ROLES, "a role without defaults/main.yml"


@pytest.mark.parametrize("role", ROLES)
def test_role_defaults_are_prefixed_and_documented(role: str, repo_root: Path):
    defaults = yaml.safe_load((repo_root / "roles" / role / "defaults" / "main.yml").read_text()) or {}
    docs = (repo_root / "docs" / "fleet.md").read_text()
    readme = repo_root / "roles" / role / "README.md"
    if readme.is_file():
        docs += readme.read_text()
    unprefixed = [name for name in defaults if not name.startswith(f"{role}_")]
    undocumented = [name for name in defaults if not re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", docs)]
    assert unprefixed == [], f"roles/{role}: defaults must start with {role}_"
    assert undocumented == [], f"roles/{role}: document these in roles/{role}/README.md or docs/fleet.md"
