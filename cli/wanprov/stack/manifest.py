"""Load and validate the stack manifests (`manifests/stack/*.yaml`): ComfyUI and node packs, each pinned."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from wanprov.datafiles import read_yaml_mapping
from wanprov.errors import ManifestError
from wanprov.resources import manifest_path
from wanprov.stack.errors import RefusedError

COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
REQUIREMENT_POLICIES = ("install", "skip")


@dataclass(frozen=True)
class NodePack:
    name: str
    url: str
    commit: str  # 40-hex, or a branch/tag only when allow_unpinned
    source: str
    requirements: str = "install"
    optional: bool = False

    @property
    def pinned(self) -> bool:
        return bool(COMMIT_RE.match(self.commit))


@dataclass(frozen=True)
class ComfyUIPin:
    url: str
    commit: str
    version: str
    source: str


def default_node_packs_path() -> Path:
    return manifest_path("stack", "node-packs.yaml")


def default_comfyui_path() -> Path:
    return manifest_path("stack", "comfyui.yaml")


def _read_yaml(path: Path) -> Mapping[str, object]:
    return read_yaml_mapping(path, what="stack manifest", hint="see manifests/stack/ for the format")


def load_comfyui(path: Path | None = None) -> ComfyUIPin:
    path = path or default_comfyui_path()
    entry = _read_yaml(path).get("comfyui")
    if not isinstance(entry, dict):
        raise ManifestError(f"{path}: missing the `comfyui:` mapping", hint="add url, commit and version")
    pin = ComfyUIPin(
        url=str(entry.get("url", "")),
        commit=str(entry.get("commit", "")),
        version=str(entry.get("version", "")),
        source=str(_read_yaml(path).get("source", "")),
    )
    if not pin.url or not COMMIT_RE.match(pin.commit):
        raise ManifestError(f"{path}: comfyui needs a url and a 40-hex commit", hint="pin an exact commit")
    return pin


def load_node_packs(path: Path | None = None) -> dict[str, NodePack]:
    """Every pack of the manifest, validated; a branch or tag is kept here and refused by `select`."""
    path = path or default_node_packs_path()
    packs = _read_yaml(path).get("packs")
    if not isinstance(packs, dict) or not packs:
        raise ManifestError(f"{path}: `packs:` must be a non-empty mapping", hint="see manifests/stack/")
    result: dict[str, NodePack] = {}
    for name, entry in packs.items():
        where = f"{path}: pack {name!r}"
        if not isinstance(entry, dict):
            raise ManifestError(f"{where} must be a mapping", hint="give url, commit, source")
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", str(name)):
            raise ManifestError(f"{where}: the name must be a plain folder name", hint="use [A-Za-z0-9._-]")
        missing = [key for key in ("url", "commit", "source") if not entry.get(key)]
        if missing:
            raise ManifestError(f"{where} lacks {', '.join(missing)}", hint="every pack cites its source")
        policy = entry.get("requirements", "install")
        if policy not in REQUIREMENT_POLICIES:
            raise ManifestError(
                f"{where}: requirements={policy!r}", hint=f"use one of {REQUIREMENT_POLICIES}"
            )
        result[str(name)] = NodePack(
            name=str(name),
            url=str(entry["url"]),
            commit=str(entry["commit"]),
            source=str(entry["source"]),
            requirements=str(policy),
            optional=bool(entry.get("optional", False)),
        )
    return result


def parse_assignments(values: Iterable[str], what: str) -> dict[str, str]:
    """Parse repeated `NAME=VALUE` options (`--url`, `--commit`)."""
    parsed: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise ManifestError(
                f"--{what} {value!r} is not NAME=VALUE", hint=f"e.g. --{what} ComfyUI-GGUF=..."
            )
        parsed[name] = rest
    return parsed


def select(
    packs: Mapping[str, NodePack],
    *,
    only: Iterable[str] = (),
    with_optional: Iterable[str] = (),
    urls: Mapping[str, str] | None = None,
    commits: Mapping[str, str] | None = None,
    allow_unpinned: bool = False,
) -> list[NodePack]:
    """The packs to converge: required ones (or `only`), plus optional ones named; overrides applied.

    A pack whose commit is not 40 hex is refused unless `allow_unpinned`: a branch moves under you.
    """
    only, with_optional = list(only), list(with_optional)
    urls, commits = dict(urls or {}), dict(commits or {})
    known = set(packs)
    wanted_optional = known if "all" in with_optional else set(with_optional)
    unknown = (set(only) | (wanted_optional - known) | set(urls) | set(commits)) - known
    if unknown:
        raise ManifestError(
            f"unknown node pack(s): {', '.join(sorted(unknown))}",
            hint=f"known packs: {', '.join(sorted(known))}",
        )
    chosen = []
    for name, pack in packs.items():
        if only and name not in only:
            continue
        if not only and pack.optional and name not in wanted_optional:
            continue
        pack = replace(pack, url=urls.get(name, pack.url), commit=commits.get(name, pack.commit))
        if not pack.pinned and not allow_unpinned:
            raise RefusedError(
                f"node pack {name} is pinned to {pack.commit!r}, a branch or tag, not a 40-hex commit",
                hint="pin the exact commit (git rev-parse REF), or opt in with --allow-unpinned",
            )
        chosen.append(pack)
    return chosen
