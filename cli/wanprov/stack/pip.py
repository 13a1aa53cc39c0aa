"""Run pip and read installed versions through the *target* venv's interpreter, never wanprov's own."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from wanprov.stack.errors import InstallFailedError
from wanprov.stack.opencv import requirements_for_pip

_VERSIONS = (
    "import json, sys, importlib.metadata as m\n"
    "out = {}\n"
    "for n in sys.argv[1:]:\n"
    "    try: out[n] = m.version(n)\n"
    "    except m.PackageNotFoundError: out[n] = None\n"
    "print(json.dumps(out))\n"
)


def installed_versions(python: Path, names: Sequence[str]) -> dict[str, str | None]:
    proc = subprocess.run([str(python), "-c", _VERSIONS, *names], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise InstallFailedError(
            f"could not read installed packages with {python}: {proc.stderr.strip()[-300:]}",
            hint="pass --python pointing at the ComfyUI venv's interpreter",
        )
    return json.loads(proc.stdout)


def install_requirements(
    python: Path, requirements: Path, constraints: Path, extra_args: Sequence[str] = ()
) -> str:
    """`pip install -r REQ -c CONSTRAINTS`: a requirement that conflicts with the torch pin fails here. Any
    OpenCV distribution REQ names is asked for as the one the constraints allow."""
    with requirements_for_pip(requirements) as asked:
        command = [
            str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
            "-r", str(asked), "-c", str(constraints), *extra_args,
        ]  # fmt: skip
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-12:])
        raise InstallFailedError(
            f"pip could not install {requirements} under the torch constraints {constraints}:\n{tail}",
            hint="a requirement conflicts with the pinned torch (or a wheel is missing from the index); "
            "pin a compatible version of the pack, or set its `requirements: skip` in the manifest",
        )
    return proc.stdout


def install_pins(python: Path, pins: Mapping[str, str], args: Sequence[str] = ()) -> str:
    """`pip install NAME==VERSION ...` (the torch wheels from their index, `args` first naming it)."""
    command = [
        str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
        *(f"{name}=={version}" for name, version in pins.items()), *args,
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-12:])
        raise InstallFailedError(
            f"pip could not install {', '.join(f'{n}=={v}' for n, v in pins.items())} into {python}:\n{tail}",
            hint="check the torch index (or its mirror) serves these wheels for this Python",
        )
    return proc.stdout
