"""Where the shipped data lives: `manifests/` and `templates/`.

In a source checkout (editable install) they are at the repository root; a wheel carries them under
`wanprov/_data/`. Nothing is read at import time.
"""

from __future__ import annotations

from pathlib import Path

from wanprov.errors import WanprovError

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the directory of shipped data `name` ("manifests" or "templates")."""
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parents[1] / name):
        if candidate.is_dir():
            return candidate
    raise WanprovError(
        f"wanprov's data folder {name!r} is missing from {_PACKAGE_DIR}",
        hint="reinstall wanprov (pip install --force-reinstall wanprov)",
    )


def manifest_path(*parts: str) -> Path:
    return data_dir("manifests").joinpath(*parts)


def template_path(*parts: str) -> Path:
    return data_dir("templates").joinpath(*parts)
