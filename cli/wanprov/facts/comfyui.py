"""The ComfyUI install at --comfyui-dir: version, git commit, custom node packs, accepted launch flags."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from wanprov.facts import process


def probe(comfyui_dir: str | None) -> dict[str, Any]:
    if not comfyui_dir:
        return {"status": "skipped", "reason": "no --comfyui-dir given", "dir": None}
    root = Path(comfyui_dir)
    if not (root / "main.py").is_file():
        return {
            "status": "absent",
            "reason": f"{root} has no main.py: not a ComfyUI checkout",
            "dir": str(root),
        }
    return {
        "status": "ok",
        "reason": None,
        "dir": str(root),
        "version": _version(root),
        "commit": git_commit(root),
        "custom_nodes": custom_nodes(root / "custom_nodes"),
        "launch_flags": launch_flags(root),
    }


def _version(root: Path) -> str | None:
    try:
        text = (root / "comfyui_version.py").read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", text)
    return match.group(1) if match else None


def git_commit(repo: Path) -> str | None:
    if not (repo / ".git").exists():
        return None
    result = process.run(["git", "-C", str(repo), "rev-parse", "HEAD"], timeout=5.0)
    commit = result.stdout.strip()
    return commit if result.ok and re.fullmatch(r"[0-9a-f]{40,64}", commit) else None


def custom_nodes(folder: Path) -> list[dict[str, Any]]:
    """Node packs: directories under custom_nodes (skipping disabled ones and caches), with their commit."""
    if not folder.is_dir():
        return []
    packs = []
    for entry in sorted(folder.iterdir()):
        if not entry.is_dir() or entry.name.startswith((".", "__")) or entry.name.endswith(".disabled"):
            continue
        packs.append({"name": entry.name, "commit": git_commit(entry)})
    return packs


def launch_flags(root: Path) -> list[str] | None:
    """Every `--flag` the install's comfy/cli_args.py declares (None when the file is missing)."""
    try:
        text = (root / "comfy" / "cli_args.py").read_text(encoding="utf-8")
    except OSError:
        return None
    return sorted(set(re.findall(r"add_argument\(\s*['\"](--[a-z0-9-]+)['\"]", text)))
