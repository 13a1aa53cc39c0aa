"""Load the cited compatibility tables in `manifests/compat/` (one YAML file per table).

Every table must carry a non-empty `source:` (its citation) and `rows:`; a file that does not is a
ManifestError naming the file. Tables are read once per process, on first use.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any

from wanprov.datafiles import read_yaml_mapping
from wanprov.errors import ManifestError
from wanprov.resources import manifest_path

TABLES = (
    "comfyui-launch-flags",
    "cuda-driver-minimums",
    "cuda-minor-compat",
    "driver-branches",
    "gpu-architectures",
    "host-minimums",
    "nvenc",
    "torch-arch-lists",
    "torch-cuda-variants",
    "torch-recommended",
    "triton-pins",
    "vram-tiers",
)


def table_path(name: str) -> Path:
    return manifest_path("compat", f"{name}.yaml")


@functools.cache
def load(name: str) -> Any:
    """Return the `rows` of compat table `name` (validated: it exists, parses, and is cited)."""
    path = table_path(name)
    document = read_yaml_mapping(
        path, what="compat table", hint="reinstall wanprov; the compat tables ship with it"
    )
    if not isinstance(document, dict) or not str(document.get("source") or "").strip():
        raise ManifestError(
            f"compat table {path} has no `source:` citation",
            hint="every compat table must name the public source its facts come from",
        )
    if "rows" not in document:
        raise ManifestError(f"compat table {path} has no `rows:`", hint="add the table's rows")
    return document["rows"]


def source(name: str) -> str:
    """The citation of table `name` (for reports that want to say where a rule's data comes from)."""
    return str(read_yaml_mapping(table_path(name), what="compat table")["source"]).strip()


def preload() -> None:
    """Parse every table now (doctor runs this in a thread while probes wait on subprocesses).
    Errors are left for the real `load()` call to raise, where they can be reported."""
    for name in TABLES:
        with contextlib.suppress(ManifestError):
            load(name)
