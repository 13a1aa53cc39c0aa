"""The model catalog (files on the Hub) and profiles (role -> file), loaded from YAML and validated.

Shipped data: `manifests/models/catalog.yaml` and `profiles.yaml`. Users add files of the same format with
`--manifest FILE` (a file may hold `files:`, `profiles:` or both); a later file overrides an id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from wanprov.datafiles import read_yaml_mapping
from wanprov.errors import ManifestError, NotFoundError, UsageError
from wanprov.resources import manifest_path

# ComfyUI's model folders (folder_paths.py); `clip` is the legacy name of text_encoders, `unet` of
# diffusion_models - both still read by current ComfyUI and by ComfyUI-GGUF.
COMFYUI_FOLDERS = frozenset(
    {
        "checkpoints",
        "clip",
        "clip_vision",
        "controlnet",
        "diffusion_models",
        "embeddings",
        "loras",
        "text_encoders",
        "unet",
        "upscale_models",
        "vae",
        "vae_approx",
    }
)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_ID = re.compile(r"^[A-Za-z0-9][\w.-]*$")
_REVISION = re.compile(r"^[A-Za-z0-9][\w./-]{0,199}$")
# libyaml's safe loader when built in: 10x faster, which keeps a no-op fetch well under a second.
_ENTRY_KEYS = {"repo", "revision", "path", "name", "folder", "node_pack", "size", "sha256", "gated", "source"}


@dataclass(frozen=True)
class FileEntry:
    """One file of the catalog. `size`/`sha256` are None when not known yet (see `wanprov models lock`)."""

    id: str
    repo: str
    revision: str
    path: str
    name: str
    folder: str
    size: int | None
    sha256: str | None
    gated: bool = False
    source: str = ""
    manifest: str = ""  # the file this entry came from, for error messages
    # A node pack's own checkpoint folder instead of models/ (Frame-Interpolation's ckpts/rife): the pack
    # folder under custom_nodes/, and `folder` is then relative to it.
    node_pack: str | None = None

    @property
    def pinned(self) -> bool:
        """True when the revision is a commit and the content hash is known."""
        return bool(_COMMIT.fullmatch(self.revision)) and self.sha256 is not None

    @property
    def relpath(self) -> str:
        """Where the file lands, relative to the models folder (a pack's file: `custom_nodes/PACK/...`,
        which is also where a `--from` mirror keeps it)."""
        if self.node_pack:
            return f"custom_nodes/{self.node_pack}/{self.folder}/{self.name}"
        return f"{self.folder}/{self.name}"

    def destination(self, models_dir: Path, custom_nodes_dir: Path | None) -> Path:
        """The file's path on the host; a node pack's file needs ComfyUI's custom_nodes folder."""
        if not self.node_pack:
            return models_dir / self.folder / self.name
        if custom_nodes_dir is None:
            raise UsageError(
                f"{self.name} (entry {self.id!r}) goes into the {self.node_pack} node pack's {self.folder}/, "
                "and no custom_nodes folder is known",
                hint="pass --comfyui-dir DIR, or --custom-nodes-dir next to --models-dir",
            )
        return custom_nodes_dir / self.node_pack / self.folder / self.name


@dataclass
class Catalog:
    files: dict[str, FileEntry] = field(default_factory=dict)
    profiles: dict[str, dict[str, str]] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    sources: list[Path] = field(default_factory=list)

    def profile_roles(self, name: str) -> dict[str, FileEntry]:
        """Role key (high_noise_unet, vae, ...) -> FileEntry for profile `name`."""
        roles = self.profiles.get(name)
        if roles is None:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise NotFoundError(  # documented: a name not in the catalog is exit 8
                f"unknown model profile {name!r}",
                hint=f"pick one of: {known} (or add it with --manifest FILE)",
            )
        return {role: self.files[file_id] for role, file_id in roles.items()}

    def profile(self, name: str) -> list[FileEntry]:
        """The distinct files of profile `name`, in role order."""
        seen: dict[str, FileEntry] = {}
        for entry in self.profile_roles(name).values():
            seen.setdefault(entry.id, entry)
        return list(seen.values())

    def with_overrides(self, overrides: Mapping[str, FileEntry]) -> Catalog:
        files = {key: overrides.get(key, entry) for key, entry in self.files.items()}
        return replace(self, files=files)


def default_manifest_paths() -> list[Path]:
    return [manifest_path("models", "catalog.yaml"), manifest_path("models", "profiles.yaml")]


def load_catalog(paths: Iterable[str | Path] | None = None, *, include_default: bool = True) -> Catalog:
    """Load and validate the shipped catalog plus any user manifests (`paths`), later files winning.

    Raises ManifestError naming the file and the entry on any invalid field.
    """
    chosen = default_manifest_paths() if include_default else []
    chosen += [Path(p) for p in paths or []]
    catalog = Catalog()
    for path in chosen:
        _merge(catalog, path, _read_yaml(path))
    _check_profiles(catalog)
    _check_distinct_names(catalog)
    return catalog


def profile_roles(name: str, paths: Iterable[str | Path] | None = None) -> dict[str, FileEntry]:
    """Convenience for the workflow renderer: role -> FileEntry of a profile in the shipped catalog."""
    return load_catalog(paths).profile_roles(name)


def _read_yaml(path: Path) -> dict[str, Any]:
    return read_yaml_mapping(
        path, what="model manifest", hint="see manifests/models/catalog.yaml for the format"
    )


def _merge(catalog: Catalog, path: Path, data: dict[str, Any]) -> None:
    catalog.sources.append(path)
    unknown = set(data) - {"schema", "files", "profiles"}
    if unknown:
        raise ManifestError(
            f"{path}: unknown top-level key(s) {sorted(unknown)}", hint="use files:, profiles: and schema:"
        )
    files = data.get("files") or {}
    if not isinstance(files, dict):
        raise ManifestError(f"{path}: files: must be a mapping of id -> entry", hint=None)
    for file_id, raw in files.items():
        catalog.files[str(file_id)] = parse_entry(str(file_id), raw, path)
    profiles = data.get("profiles") or {}
    if not isinstance(profiles, dict):
        raise ManifestError(f"{path}: profiles: must be a mapping of name -> profile", hint=None)
    for name, raw in profiles.items():
        where = f"{path}: profile {name!r}"
        if not isinstance(raw, dict) or not isinstance(raw.get("files"), dict) or not raw["files"]:
            raise ManifestError(f"{where}: needs files: (a mapping of role -> catalog id)", hint=None)
        catalog.profiles[str(name)] = {str(role): str(fid) for role, fid in raw["files"].items()}
        catalog.descriptions[str(name)] = str(raw.get("description", "")).strip()


def parse_entry(file_id: str, raw: Any, path: Path) -> FileEntry:
    """Validate one catalog entry; every error names the manifest file and the entry id."""
    where = f"{path}: entry {file_id!r}"

    def bad(message: str, hint: str | None = None) -> ManifestError:
        return ManifestError(f"{where}: {message}", hint=hint)

    if not _ID.fullmatch(file_id):
        raise bad("id must be letters, digits, '.', '_' or '-'")
    if not isinstance(raw, dict):
        raise bad("must be a mapping")
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise bad(f"unknown key(s) {sorted(unknown)}", hint=f"allowed: {sorted(_ENTRY_KEYS)}")
    for key in ("repo", "revision", "path", "folder"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise bad(f"{key}: is required (a non-empty string)")
    repo = check_repo(raw["repo"], where)
    revision = check_revision(raw["revision"], where)
    repo_path = check_repo_path(raw["path"], where)
    folder = raw["folder"]
    node_pack = raw.get("node_pack")
    if node_pack is not None:
        if not isinstance(node_pack, str) or not _ID.fullmatch(node_pack):
            raise bad(f"node_pack {node_pack!r} must be a node pack's folder name under custom_nodes/")
        parts = folder.split("/")
        if folder.startswith("/") or "\\" in folder or any(p in ("", ".", "..") for p in parts):
            raise bad(f"folder {folder!r} must be a relative path inside the {node_pack} pack")
    elif folder not in COMFYUI_FOLDERS:
        raise bad(
            f"folder {folder!r} is not a ComfyUI models folder",
            hint=f"use one of {sorted(COMFYUI_FOLDERS)} (or node_pack: for a pack's own folder)",
        )
    name = raw.get("name") or repo_path.rsplit("/", 1)[-1]
    check_local_name(name, where)
    size = check_size(raw.get("size"), where)
    sha256 = check_sha256(raw.get("sha256"), where)
    gated = raw.get("gated", False)
    if not isinstance(gated, bool):
        raise bad("gated: must be true or false")
    return FileEntry(
        id=file_id,
        repo=repo,
        revision=revision,
        path=repo_path,
        name=name,
        folder=folder,
        size=size,
        sha256=sha256,
        gated=gated,
        source=str(raw.get("source", "")),
        manifest=str(path),
        node_pack=node_pack,
    )


# The checks below are shared by the manifest (parse_entry) and the lock file (lock.read_lock): a value
# either file gives ends up in a URL or a path, so both are held to the same rules.


def check_repo(repo: Any, where: str) -> str:
    if not isinstance(repo, str) or not _REPO.fullmatch(repo):
        raise ManifestError(f"{where}: repo {repo!r} is not of the form owner/name", hint=None)
    return repo


def check_revision(revision: Any, where: str) -> str:
    """A branch, tag or commit as the hub takes it in a URL path; no '..', no URL syntax."""
    if not isinstance(revision, str) or not _REVISION.fullmatch(revision) or ".." in revision:
        raise ManifestError(
            f"{where}: revision {revision!r} is not a branch, tag or commit name",
            hint="use a 40-hex commit (or a branch such as main)",
        )
    return revision


def check_commit(commit: Any, where: str) -> str | None:
    if commit is not None and (not isinstance(commit, str) or not _COMMIT.fullmatch(commit)):
        raise ManifestError(f"{where}: commit {commit!r} is not 40 lowercase hex digits", hint=None)
    return commit


def check_repo_path(repo_path: Any, where: str) -> str:
    if (
        not isinstance(repo_path, str)
        or not repo_path
        or repo_path.startswith("/")
        or ".." in repo_path.split("/")
        or "\\" in repo_path
        or any(ord(c) < 32 for c in repo_path)
    ):
        raise ManifestError(f"{where}: path {repo_path!r} must be relative inside the repo", hint=None)
    return repo_path


def check_size(size: Any, where: str) -> int | None:
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise ManifestError(
            f"{where}: size {size!r} must be a non-negative integer (bytes) or null", hint=None
        )
    return size


def check_sha256(sha256: Any, where: str) -> str | None:
    if sha256 is None:
        return None
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256.lower()):
        raise ManifestError(f"{where}: sha256 {sha256!r} is not 64 hex digits", hint=None)
    return sha256.lower()


def check_local_name(name: Any, where: str) -> None:
    """Refuse a local file name that could escape its folder or hide from ComfyUI."""
    if not isinstance(name, str) or not name:
        raise ManifestError(f"{where}: name must be a non-empty string", hint=None)
    if "/" in name or "\\" in name or "\0" in name or name in {".", ".."} or name.startswith("."):
        raise ManifestError(
            f"{where}: local name {name!r} must be a bare file name (no path separators, no leading '.')",
            hint="set name: to the bare file name ComfyUI should list",
        )


def _check_profiles(catalog: Catalog) -> None:
    for name, roles in catalog.profiles.items():
        for role, file_id in roles.items():
            if file_id not in catalog.files:
                raise ManifestError(
                    f"profile {name!r} role {role!r} names unknown catalog entry {file_id!r}",
                    hint=f"define {file_id!r} under files: in one of {', '.join(map(str, catalog.sources))}",
                )


def _check_distinct_names(catalog: Catalog) -> None:
    """Two entries may not land on the same folder/name (lightx2v's high/low_noise_model twins)."""
    seen: dict[str, FileEntry] = {}
    for entry in catalog.files.values():
        other = seen.get(entry.relpath)
        if other is not None and (other.repo, other.path) != (entry.repo, entry.path):
            raise ManifestError(
                f"{entry.manifest}: entry {entry.id!r} lands on {entry.relpath}, like entry {other.id!r}",
                hint="give one of them a distinct `name:` in its entry",
            )
        seen[entry.relpath] = entry
