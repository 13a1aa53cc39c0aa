"""Launch-flag validation against the *installed* ComfyUI: flags come and go between versions
(`--normalvram` existed in 0.3.64 and is gone from 2026 releases), so the pinned checkout is the authority."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from wanprov.errors import ManifestError

_HELP_FLAG = re.compile(r"(?<![\w-])(--[A-Za-z0-9][\w-]*)")
_ADD_ARGUMENT = re.compile(r"add_argument\(\s*[\"'](--[A-Za-z0-9][\w-]*)[\"']")


@dataclass(frozen=True)
class FlagCheck:
    known: frozenset[str]
    source: str  # "main.py --help" or "comfy/cli_args.py"
    accepted: list[str]
    rejected: list[str]

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "known": sorted(self.known),
        }


def flags_from_help(text: str) -> frozenset[str]:
    return frozenset(_HELP_FLAG.findall(text)) - {"--help"}


def flags_from_cli_args(text: str) -> frozenset[str]:
    return frozenset(_ADD_ARGUMENT.findall(text))


def known_flags(comfyui_dir: Path, python: Path | None) -> tuple[frozenset[str], str]:
    """Ask the install itself (`python main.py --help`); fall back to reading comfy/cli_args.py."""
    if python is not None:
        try:
            proc = subprocess.run(
                [str(python), "main.py", "--help"],
                cwd=comfyui_dir,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            proc = None
        if proc is not None and proc.returncode == 0:
            flags = flags_from_help(proc.stdout)
            if flags:
                return flags, "main.py --help"
    cli_args = comfyui_dir / "comfy" / "cli_args.py"
    if cli_args.is_file():
        return flags_from_cli_args(cli_args.read_text()), "comfy/cli_args.py"
    raise ManifestError(
        f"cannot read the launch flags of {comfyui_dir}: `main.py --help` failed, no comfy/cli_args.py",
        hint="pass --comfyui-dir of a ComfyUI checkout and --python of its venv",
    )


def check_flags(flags: Iterable[str], known: frozenset[str], source: str) -> FlagCheck:
    """Split launch arguments into accepted and rejected option names (values after a flag pass through)."""
    accepted, rejected = [], []
    for arg in flags:
        if not arg.startswith("--"):
            continue  # a value, e.g. the 2 of `--reserve-vram 2`
        name = arg.split("=", 1)[0]
        (accepted if name in known else rejected).append(name)
    return FlagCheck(known, source, accepted, rejected)
