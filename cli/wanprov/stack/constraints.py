"""Torch protection: a pip constraints file pinning torch/torchvision/torchaudio together (ComfyUI requires
all three) and allowing one OpenCV distribution, and the venv's pip.conf pointing every later `pip install`
in that venv (ComfyUI-Manager, a user) at it.

A pin is written as given: `2.9.1+cu128` (the PyTorch index's local label) or `2.9.1`, which PEP 440 matches
against any local label (`==2.9.1` accepts `2.9.1+cu128`), so one pin serves the PyTorch index and a mirror
of the ordinary index alike (where Linux torch 2.9.1 is the cu128 build with no label)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from wanprov.datafiles import write_text_if_changed
from wanprov.errors import ManifestError

PROTECTED = ("torch", "torchvision", "torchaudio")
CONSTRAINTS_NAME = "wanprov-constraints.txt"  # in the venv, beside pip.conf
# The wheels that each install the same `cv2` package over one another. Node packs ask for either (VHS for
# opencv-python, KJNodes for opencv-python-headless); the venv keeps one, the headless build (a service
# has no display, and the GUI build needs libGL).
OPENCV = "opencv-python-headless"
OPENCV_OTHERS = ("opencv-python", "opencv-contrib-python", "opencv-contrib-python-headless")
_PIN_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")


def render_constraints(pins: Mapping[str, str]) -> str:
    missing = [name for name in PROTECTED if not pins.get(name) or pins[name] == "none"]
    if missing:
        raise ManifestError(
            f"no version for {', '.join(missing)}: torch, torchvision and torchaudio are pinned together",
            hint="ComfyUI requires all three; install the matching torchvision/torchaudio, or pin them",
        )
    lines = ["# Written by wanprov: pins the CUDA torch so no node requirement can replace it."]
    lines += [f"{name}=={pins[name]}" for name in PROTECTED]
    return "\n".join(lines) + "\n" + render_opencv_guard()


def render_opencv_guard() -> str:
    """Constraints no version satisfies: a later `pip install opencv-python` in the venv fails instead of
    writing a second `cv2` over the first (install-nodes asks for OPENCV in their place)."""
    lines = [f"# One OpenCV: cv2 comes from {OPENCV}; the other distributions of cv2 are refused."]
    lines += [f"{name}<0" for name in OPENCV_OTHERS]
    return "\n".join(lines) + "\n"


def pin_satisfied(pin: str, installed: str | None) -> bool:
    """Whether `installed` satisfies `==pin` (PEP 440): a pin without a local label ignores the candidate's
    label; release segments compare with zero padding (`2.9` == `2.9.0`)."""
    if not installed:
        return False
    pin_public, _, pin_local = pin.strip().lower().partition("+")
    public, _, local = installed.strip().lower().partition("+")
    if pin_local and pin_local != local:
        return False
    return _release(pin_public) == _release(public)


def _release(version: str) -> tuple[object, ...]:
    parts = version.lstrip("v").split(".")
    if all(part.isdigit() for part in parts):
        numbers = [int(part) for part in parts]
        while len(numbers) > 1 and numbers[-1] == 0:
            numbers.pop()
        return tuple(numbers)
    return (version,)


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


def protection_files(
    venv_dir: Path, pins: Mapping[str, str], constraints: Path | None = None
) -> dict[str, str]:
    """Path -> text of the torch protection files of a venv: the constraints file (VENV/CONSTRAINTS_NAME
    unless given) and the venv's pip.conf naming it (pip reads `<sys.prefix>/pip.conf` as its site config)."""
    constraints = constraints or venv_dir / CONSTRAINTS_NAME
    return {
        str(constraints): render_constraints(pins),
        str(venv_dir / "pip.conf"): render_pip_conf(constraints),
    }


def write_protection(files: Mapping[str, str], *, dry_run: bool = False) -> dict[str, str]:
    """The one writer of the protection files: each file whose text differs is written (0644, atomically),
    or with dry_run only reported. Returns path -> the text it held before ("" when missing)."""
    changed = {}
    for path, text in files.items():
        try:
            before = Path(path).read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            before = ""
        if before == text:
            continue
        changed[path] = before
        if not dry_run:
            write_text_if_changed(Path(path), text, mode=0o644)
    return changed
