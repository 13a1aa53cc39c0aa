"""Which files a node's file-name input lists, the way ComfyUI's `folder_paths` computes it.

Data: `manifests/workflows/file_inputs.yaml` (cited from the pinned ComfyUI and node-pack sources). Two
uses: without a ComfyUI folder, a name whose extension the input never lists is an error (ComfyUI would
refuse it); with one, the input's list is built like `folder_paths.get_filename_list` (default folders plus
`extra_model_paths.yaml`, recursive walk, extension filter) and the name must be on it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from wanprov.datafiles import read_yaml, read_yaml_mapping
from wanprov.errors import ManifestError
from wanprov.resources import manifest_path

EXTRA_MODEL_PATHS = "extra_model_paths.yaml"


@dataclass(frozen=True)
class Folder:
    """One folder_paths key: default folders (relative to the ComfyUI root) and the extensions it keeps."""

    name: str
    paths: tuple[str, ...]
    extensions: frozenset[str]  # empty: every file (ComfyUI's filter_files_extensions)
    recursive: bool = True
    same_paths_as: str | None = None  # GGUF's unet_gguf shares diffusion_models' folder list

    def keeps(self, filename: str) -> bool:
        return not self.extensions or PurePosixPath(filename).suffix.lower() in self.extensions


@dataclass(frozen=True)
class FileInputs:
    """Inputs that name files on the host, and the folder keys each one lists."""

    inputs: dict[str, dict[str, tuple[str, ...]]]  # class_type -> input -> folder keys
    folders: dict[str, Folder]
    legacy: dict[str, str]
    pseudo: frozenset[str]  # list values that are not files ("pixel_space")

    def keys_of(self, class_type: str, name: str) -> tuple[str, ...] | None:
        return self.inputs.get(class_type, {}).get(name)

    def folders_of(self, class_type: str, name: str) -> tuple[str, ...] | None:
        """Default folders (relative to the ComfyUI root) the input reads, or None for a non-file input."""
        keys = self.keys_of(class_type, name)
        if keys is None:
            return None
        return tuple(dict.fromkeys(p for key in keys for p in self.default_paths(key)))

    def default_paths(self, key: str) -> tuple[str, ...]:
        folder = self.folders[key]
        return self.folders[folder.same_paths_as].paths if folder.same_paths_as else folder.paths

    def extensions_of(self, class_type: str, name: str) -> frozenset[str] | None:
        """The extensions the input can ever list; None when any file (or not a file input)."""
        keys = self.keys_of(class_type, name)
        if keys is None or any(not self.folders[k].extensions for k in keys):
            return None
        return frozenset().union(*(self.folders[k].extensions for k in keys))

    def unlisted_type(self, class_type: str, name: str, value: str) -> str | None:
        """Why ComfyUI can never list `value` for this input (its extension), or None if it can."""
        keys = self.keys_of(class_type, name)
        allowed = self.extensions_of(class_type, name)
        if keys is None or allowed is None or value in self.pseudo:
            return None
        if PurePosixPath(value).suffix.lower() in allowed:
            return None
        where = ", ".join(f"{k} ({', '.join(self.default_paths(k))})" for k in keys)
        return (
            f"{class_type} lists only {', '.join(sorted(allowed))} files from {where}, "
            f"so {value!r} can never be in its list"
        )


def load_file_inputs(path: Path | None = None) -> FileInputs:
    path = path or manifest_path("workflows", "file_inputs.yaml")
    data = read_yaml_mapping(path, what="workflow manifest")
    try:
        sets = {k: frozenset(str(e).lower() for e in v) for k, v in data["extensions"].items()}
        folders = {
            key: Folder(
                key,
                tuple(raw.get("paths", ())),
                sets[raw["extensions"]] if raw.get("extensions") else frozenset(),
                bool(raw.get("recursive", True)),
                raw.get("same_paths_as"),
            )
            for key, raw in data["folders"].items()
        }
        inputs = {
            cls: {name: tuple(keys) for name, keys in spec.items()} for cls, spec in data["inputs"].items()
        }
        for cls, spec in inputs.items():
            for name, keys in spec.items():
                for key in keys:
                    if key not in folders:
                        raise KeyError(f"{cls}.{name} names unknown folder key {key!r}")
        for folder in folders.values():
            if folder.same_paths_as and folder.same_paths_as not in folders:
                raise KeyError(f"{folder.name}: same_paths_as names unknown key {folder.same_paths_as!r}")
        return FileInputs(inputs, folders, dict(data.get("legacy") or {}), frozenset(data.get("pseudo", [])))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ManifestError(f"{path} is invalid: {exc}", hint="restore it from the release") from exc


class HostFolders:
    """A ComfyUI install's folder table: defaults under `root`, plus `root/extra_model_paths.yaml` and then
    each `--extra-model-paths-config` file, in the order main.py loads them."""

    def __init__(self, rules: FileInputs, root: Path, extra_configs: Sequence[Path] = ()) -> None:
        self.rules = rules
        self.root = root
        self.paths: dict[str, list[Path]] = {
            key: [root / p for p in folder.paths] for key, folder in rules.folders.items() if folder.paths
        }
        beside = root / EXTRA_MODEL_PATHS
        for config in ([beside] if beside.is_file() else []) + list(extra_configs):
            self._add_extra_paths(config)
        self._cache: dict[str, dict[str, Path]] = {}

    def folders(self, key: str) -> list[Path]:
        folder = self.rules.folders[key]
        return self.paths.get(folder.same_paths_as or key, [])

    def _add_extra_paths(self, config: Path) -> None:
        """utils/extra_config.load_extra_path_config: sections of folder name -> newline-separated paths."""
        data = read_yaml(config, what="extra model paths config", hint="fix or remove it")
        if not isinstance(data, dict):
            raise ManifestError(f"{config}: must be a mapping of section -> folders", hint="fix or remove it")
        for section, conf in data.items():
            if conf is None:
                continue
            if not isinstance(conf, dict):
                raise ManifestError(
                    f"{config}: section {section!r} must be a mapping", hint="fix or remove it"
                )
            conf = dict(conf)
            base = conf.pop("base_path", None)
            base_path = None
            if base:
                base_path = Path(os.path.expandvars(str(base))).expanduser()
                if not base_path.is_absolute():
                    base_path = config.parent / base_path
            is_default = bool(conf.pop("is_default", False))
            for key, value in conf.items():
                key = self.rules.legacy.get(str(key), str(key))
                for line in str(value).split("\n"):
                    if not line:
                        continue
                    full = base_path / line if base_path else Path(line)
                    if not full.is_absolute():
                        full = config.parent / full
                    self._add(key, Path(os.path.normpath(full)), is_default)

    def _add(self, key: str, path: Path, is_default: bool) -> None:
        paths = self.paths.setdefault(key, [])
        if path in paths:
            if is_default and paths[0] != path:
                paths.remove(path)
                paths.insert(0, path)
        elif is_default:
            paths.insert(0, path)
        else:
            paths.append(path)

    def listing(self, key: str) -> dict[str, Path]:
        """get_filename_list(key): listed name (relative, '/'-separated) -> the first file of that name."""
        if key not in self._cache:
            folder = self.rules.folders[key]
            found: dict[str, Path] = {}
            for base in self.folders(key):
                for rel in _walk(base, folder.recursive):
                    if folder.keeps(rel):
                        found.setdefault(rel, base / rel)
            self._cache[key] = found
        return self._cache[key]

    def find(self, class_type: str, name: str, value: str) -> tuple[Path | None, list[str]]:
        """(the file ComfyUI would load for `value`, or None; the folders it looked in)."""
        keys = self.rules.keys_of(class_type, name) or ()
        looked = list(dict.fromkeys(str(p) for k in keys for p in self.folders(k)))
        wanted = str(PurePosixPath(value))
        for key in keys:
            hit = self.listing(key).get(wanted)
            if hit is not None:
                return hit, looked
        return None, looked


def _walk(base: Path, recursive: bool) -> list[str]:
    """recursive_search (os.walk, links followed) or, for input/, the top level only."""
    if not base.is_dir():
        return []
    if not recursive:
        return sorted(e.name for e in base.iterdir() if e.is_file())
    out = []
    for dirpath, _dirs, files in os.walk(base, followlinks=True):
        for name in files:
            out.append((Path(dirpath) / name).relative_to(base).as_posix())
    return sorted(out)
