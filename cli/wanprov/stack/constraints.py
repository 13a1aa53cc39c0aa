"""Torch protection: a pip constraints file pinning torch/torchvision/torchaudio, and the venv's pip.conf
pointing every later `pip install` in that venv (ComfyUI-Manager, a user) at it."""

from __future__ import annotations

import configparser
import re
from collections.abc import Mapping
from pathlib import Path

from wanprov.datafiles import write_text_if_changed
from wanprov.errors import ManifestError

PROTECTED = ("torch", "torchvision", "torchaudio")
_PIN_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")


def render_constraints(pins: Mapping[str, str]) -> str:
    lines = ["# Written by wanprov: pins the CUDA torch so no node requirement can replace it."]
    lines += [f"{name}=={pins[name]}" for name in PROTECTED if pins.get(name)]
    return "\n".join(lines) + "\n"


def render_pip_conf(constraints: Path) -> str:
    return (
        "# Written by wanprov: every pip install in this venv obeys the torch constraints.\n"
        f"[install]\nconstraint = {constraints}\n"
    )


def read_pins(path: Path) -> dict[str, str]:
    """The `name==version` pins of a constraints file, names normalised to lower case."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError as exc:
        raise ManifestError(
            f"constraints file {path} does not exist",
            hint="pass --constraints FILE, or let install-nodes write one from the installed torch",
        ) from exc
    pins = {}
    for line in text.splitlines():
        match = _PIN_RE.match(line)
        if match:
            pins[match[1].lower()] = match[2]
    return pins


def venv_prefix(python: Path) -> Path:
    """`<venv>/bin/python` -> `<venv>` (pip reads `<sys.prefix>/pip.conf` as its site config)."""
    return Path(python).parent.parent


def pip_conf_points_at(python: Path, constraints: Path) -> bool:
    """Does the venv's pip.conf already make every install obey `constraints`?"""
    parser = configparser.ConfigParser()
    try:
        parser.read_string((venv_prefix(python) / "pip.conf").read_text())
    except (FileNotFoundError, configparser.Error):
        return False
    listed = parser.get("install", "constraint", fallback="").split()
    return str(constraints) in listed


def protection_changes(
    python: Path, constraints: Path, pins: Mapping[str, str], pins_are_new: bool
) -> list[str]:
    """Files that `write_protection` would write. An existing constraints file (the Ansible role templates
    one) is authoritative and never rewritten; only a missing one is created from the venv's torch."""
    changes = []
    if pins_are_new:
        changes.append(str(constraints))
    if not pip_conf_points_at(python, constraints):
        changes.append(str(venv_prefix(python) / "pip.conf"))
    return changes


def write_protection(
    python: Path, constraints: Path, pins: Mapping[str, str], pins_are_new: bool
) -> list[str]:
    changes = protection_changes(python, constraints, pins, pins_are_new)
    if pins_are_new:
        write_text_if_changed(constraints, render_constraints(pins))
    if str(venv_prefix(python) / "pip.conf") in changes:
        write_text_if_changed(venv_prefix(python) / "pip.conf", render_pip_conf(constraints))
    return changes
