"""Test double: local git repositories standing in for ComfyUI and the node packs on GitHub."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

_ENV = {
    "GIT_AUTHOR_NAME": "wanprov tests",
    "GIT_AUTHOR_EMAIL": "tests@wanprov.invalid",
    "GIT_COMMITTER_NAME": "wanprov tests",
    "GIT_COMMITTER_EMAIL": "tests@wanprov.invalid",
    "GIT_CONFIG_GLOBAL": "/dev/null",
}


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, env={**os.environ, **_ENV}, check=True
    )
    return proc.stdout.strip()


def commit_files(repo: Path, files: dict[str, str | bytes], message: str) -> str:
    """Write `files` (path -> text, or bytes for a binary file) into `repo`, commit them, return the new
    40-hex commit."""
    for rel, text in files.items():
        target = repo / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def make_repo(path: Path, files: dict[str, str | bytes], message: str = "initial") -> str:
    """Create a repository at `path` (branch `main`) with one commit; return that commit."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "--quiet", "--initial-branch=main")
    return commit_files(path, files, message)


def node_pack_files(name: str, requirements: str) -> dict[str, str]:
    """A ComfyUI-shaped node pack: NODE_CLASS_MAPPINGS in __init__.py and a requirements.txt."""
    init = (
        f'"""Test double of the {name} node pack."""\n'
        "NODE_CLASS_MAPPINGS = {}\nNODE_DISPLAY_NAME_MAPPINGS = {}\n"
    )
    return {"__init__.py": init, "requirements.txt": requirements}
