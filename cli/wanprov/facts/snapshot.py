"""Save and load a facts snapshot (JSON, `"schema": "wanprov.facts/1"`), so a host can be judged elsewhere."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from wanprov.datafiles import write_json_output
from wanprov.errors import ManifestError, WanprovError

SCHEMA = "wanprov.facts/1"
SECTIONS = ("gpu", "driver", "torch", "ffmpeg", "nvenc", "memory", "disk", "comfyui")


class FactsFileError(ManifestError):
    """A --facts file that is missing, not JSON, or not a wanprov.facts/1 document (exit 10)."""

    code = "bad_facts"


def save(facts: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write atomically (never a half-written file), keys sorted so snapshots diff cleanly."""
    write_json_output(Path(path), facts, what="--save-facts file", sort_keys=True)


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise FactsFileError(
            f"cannot read facts file {source}: {exc.strerror}",
            hint="give a file written by `wanprov doctor --save-facts`",
        ) from exc
    try:
        facts = json.loads(text)
    except ValueError as exc:
        raise FactsFileError(
            f"facts file {source} is not JSON: {exc}",
            hint="give a file written by `wanprov doctor --save-facts`",
        ) from exc
    validate(facts, str(source))
    return facts


def validate(facts: Any, where: str) -> None:
    if not isinstance(facts, dict):
        raise FactsFileError(
            f"facts file {where} holds a {type(facts).__name__}, not an object",
            hint="give a file written by `wanprov doctor --save-facts`",
        )
    if facts.get("schema") != SCHEMA:
        raise FactsFileError(
            f"facts file {where} has schema {facts.get('schema')!r}, expected {SCHEMA!r}",
            hint="re-record the host with this wanprov version: wanprov doctor --save-facts FILE",
        )
    for section in SECTIONS:
        if not isinstance(facts.get(section), dict):
            raise FactsFileError(
                f"facts file {where}: section {section!r} is missing or not an object",
                hint="re-record the host: wanprov doctor --save-facts FILE",
            )
