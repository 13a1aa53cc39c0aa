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
# https is always allowed; the others only by an explicit opt-in: `allow_url_schemes: [file]` in the
# manifest, or `--allow-url-scheme file` (local repositories for tests and air-gapped mirrors).
OPT_IN_SCHEMES = ("file", "ssh", "http")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9][\w.-]*@[A-Za-z0-9][\w.-]*:[^:]")


def url_scheme(url: str) -> str | None:
    """https/http/ssh/file for a URL git would take from us, None for anything else (ext::, relative...)."""
    if "://" in url:
        scheme = url.split("://", 1)[0].lower()
        return scheme if scheme in ("https", *OPT_IN_SCHEMES) else None
    if url.startswith("/"):
        return "file"  # a plain absolute path: git's local transport
    if _SCP_LIKE.match(url):
        return "ssh"  # git@host:owner/repo
    return None


def check_git_url(url: object, where: str, allowed: Iterable[str] = ()) -> str:
    """Refuse a git URL that is not https (or an opted-in scheme): a URL starting with '-' would be an
    option to git (`--upload-pack=...` runs a command), and ext:: or odd transports run programs too."""
    allowed = {"https", *allowed}
    if (
        not isinstance(url, str)
        or not url
        or url.startswith("-")
        or any(c.isspace() or ord(c) < 32 for c in url)
    ):
        raise ManifestError(
            f"{where}: git URL {url!r} is not a URL",
            hint="use https://host/owner/repo (no spaces, no leading '-')",
        )
    scheme = url_scheme(url)
    if scheme is None:
        raise ManifestError(
            f"{where}: git URL {url!r} uses an unsupported transport",
            hint=f"use https://...; {', '.join(OPT_IN_SCHEMES)} (or a plain /path) only with an opt-in",
        )
    if scheme not in allowed:
        raise ManifestError(
            f"{where}: git URL {url!r} is {scheme}, and only https is allowed by default",
            hint=f"opt in: `allow_url_schemes: [{scheme}]` in the manifest, or --allow-url-scheme {scheme}",
        )
    return url


def _allowed_schemes(data: Mapping[str, object], path: Path) -> frozenset[str]:
    raw = data.get("allow_url_schemes") or []
    if not isinstance(raw, list) or any(item not in OPT_IN_SCHEMES for item in raw):
        raise ManifestError(
            f"{path}: allow_url_schemes: {raw!r} must be a list drawn from {list(OPT_IN_SCHEMES)}",
            hint="https is always allowed; list only the extra transports you need",
        )
    return frozenset(str(item) for item in raw)


@dataclass(frozen=True)
class NodePack:
    name: str
    url: str
    commit: str  # 40-hex, or a branch/tag only when allow_unpinned
    source: str
    requirements: str = "install"
    optional: bool = False
    url_schemes: frozenset[str] = frozenset()  # what its manifest opted into beyond https

    @property
    def pinned(self) -> bool:
        return bool(COMMIT_RE.fullmatch(self.commit))


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
    data = _read_yaml(path)
    entry = data.get("comfyui")
    if not isinstance(entry, dict):
        raise ManifestError(f"{path}: missing the `comfyui:` mapping", hint="add url, commit and version")
    pin = ComfyUIPin(
        url=str(entry.get("url", "")),
        commit=str(entry.get("commit", "")),
        version=str(entry.get("version", "")),
        source=str(data.get("source", "")),
    )
    if not pin.url or not COMMIT_RE.fullmatch(pin.commit):
        raise ManifestError(f"{path}: comfyui needs a url and a 40-hex commit", hint="pin an exact commit")
    check_git_url(pin.url, f"{path}: comfyui", _allowed_schemes(data, path))
    return pin


def load_node_packs(path: Path | None = None) -> dict[str, NodePack]:
    """Every pack of the manifest, validated; a branch or tag is kept here and refused by `select`."""
    path = path or default_node_packs_path()
    data = _read_yaml(path)
    schemes = _allowed_schemes(data, path)
    packs = data.get("packs")
    if not isinstance(packs, dict) or not packs:
        raise ManifestError(f"{path}: `packs:` must be a non-empty mapping", hint="see manifests/stack/")
    result: dict[str, NodePack] = {}
    for name, entry in packs.items():
        where = f"{path}: pack {name!r}"
        if not isinstance(entry, dict):
            raise ManifestError(f"{where} must be a mapping", hint="give url, commit, source")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", str(name)) or str(name) in {".", ".."}:
            raise ManifestError(f"{where}: the name must be a plain folder name", hint="use [A-Za-z0-9._-]")
        missing = [key for key in ("url", "commit", "source") if not entry.get(key)]
        if missing:
            raise ManifestError(f"{where} lacks {', '.join(missing)}", hint="every pack cites its source")
        policy = entry.get("requirements", "install")
        if policy not in REQUIREMENT_POLICIES:
            raise ManifestError(
                f"{where}: requirements={policy!r}", hint=f"use one of {REQUIREMENT_POLICIES}"
            )
        commit = entry["commit"]
        if not isinstance(commit, str) or not re.fullmatch(r"[A-Za-z0-9][\w./-]*", commit) or ".." in commit:
            raise ManifestError(f"{where}: commit {commit!r} is not a commit, branch or tag name", hint=None)
        optional = entry.get("optional", False)
        if not isinstance(optional, bool):
            raise ManifestError(f"{where}: optional: must be true or false", hint=None)
        result[str(name)] = NodePack(
            name=str(name),
            url=check_git_url(entry["url"], where, schemes),
            commit=commit,
            source=str(entry["source"]),
            requirements=str(policy),
            optional=optional,
            url_schemes=schemes,
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
    allow_schemes: Iterable[str] = (),
) -> list[NodePack]:
    """The packs to converge: required ones (or `only`), plus optional ones named; overrides applied.

    A pack whose commit is not 40 hex is refused unless `allow_unpinned`: a branch moves under you.
    An override URL is held to the same allow-list (https, plus the manifest's and `allow_schemes`).
    """
    allow_schemes = frozenset(allow_schemes)
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
        if name in urls:
            check_git_url(urls[name], f"--url {name}", pack.url_schemes | allow_schemes)
        if name in commits and not re.fullmatch(r"[A-Za-z0-9][\w./-]*", commits[name]):
            raise ManifestError(
                f"--commit {name}={commits[name]!r} is not a commit, branch or tag", hint=None
            )
        pack = replace(pack, url=urls.get(name, pack.url), commit=commits.get(name, pack.commit))
        if not pack.pinned and not allow_unpinned:
            raise RefusedError(
                f"node pack {name} is pinned to {pack.commit!r}, a branch or tag, not a 40-hex commit",
                hint="pin the exact commit (git rev-parse REF), or opt in with --allow-unpinned",
            )
        chosen.append(pack)
    return chosen
