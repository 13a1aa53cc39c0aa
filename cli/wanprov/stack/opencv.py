"""One OpenCV per venv. opencv-python, opencv-python-headless and the contrib builds all install the same
`cv2` package: two of them overwrite each other's files, and uninstalling one breaks the other. Requirement
files are handed to pip with every OpenCV distribution renamed to the one the constraints allow; a venv that
already has another (an older converge, a manual install) is brought back to that one."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from wanprov.stack.constraints import OPENCV, OPENCV_OTHERS
from wanprov.stack.errors import InstallFailedError

# `name`, then extras / specifier / marker / comment; names compared as PEP 503 normalises them.
_REQ_NAME = re.compile(r"^(\s*)([A-Za-z0-9][A-Za-z0-9._-]*)(.*)$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def rewrite_requirements(text: str) -> tuple[str, list[str]]:
    """`text` with each other OpenCV distribution renamed to OPENCV (specifiers kept: the versions are the
    same series); returns the new text and the names replaced."""
    others = {_normalise(name) for name in OPENCV_OTHERS}
    replaced = []
    lines = []
    for line in text.splitlines():
        match = _REQ_NAME.match(line)
        if match and not line.lstrip().startswith(("-", "#")) and _normalise(match[2]) in others:
            replaced.append(match[2])
            line = f"{match[1]}{OPENCV}{match[3]}"
        lines.append(line)
    return "\n".join(lines) + "\n", replaced


@contextmanager
def requirements_for_pip(requirements: Path) -> Iterator[Path]:
    """The requirements file to pass to pip: the original, or (when it names another OpenCV) a rewritten
    copy next to nothing the pack owns, so the pack's checkout stays clean."""
    text = Path(requirements).read_text()
    rewritten, replaced = rewrite_requirements(text)
    # A file that includes others by relative path must stay where it is (none of the pinned packs does).
    includes = any(line.lstrip().startswith(("-r", "-c", "--requirement")) for line in text.splitlines())
    if not replaced or includes:
        yield Path(requirements)
        return
    with tempfile.TemporaryDirectory(prefix="wanprov-req-") as tmp:
        path = Path(tmp) / "requirements.txt"
        path.write_text(f"# {requirements}, with {', '.join(replaced)} -> {OPENCV}\n{rewritten}")
        yield path


def extra_opencv(installed: dict[str, str | None]) -> list[str]:
    """The OpenCV distributions installed besides the allowed one."""
    return [name for name in OPENCV_OTHERS if installed.get(name)]


def restore_one_opencv(
    python: Path, installed: dict[str, str | None], constraints: Path, extra_args: Sequence[str] = ()
) -> list[str]:
    """Uninstall the other OpenCV distributions; reinstall the allowed one, whose `cv2` files the uninstall
    removed. Returns the names removed."""
    others = extra_opencv(installed)
    if not others:
        return []
    steps = [[str(python), "-m", "pip", "uninstall", "--yes", *others]]
    wanted = OPENCV + (f"=={installed[OPENCV]}" if installed.get(OPENCV) else "")
    steps.append(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
         "--force-reinstall", "--no-deps", wanted, "-c", str(constraints), *extra_args]
    )  # fmt: skip
    for command in steps:
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
            raise InstallFailedError(
                f"could not bring {python}'s venv back to one OpenCV ({OPENCV}): "
                f"{' '.join(command[3:5])}:\n{tail}",
                hint=f"by hand: {python} -m pip uninstall {' '.join(others)}; "
                f"{python} -m pip install --force-reinstall {OPENCV}",
            )
    return others
