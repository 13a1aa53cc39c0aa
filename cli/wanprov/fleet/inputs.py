"""Read the fleet report's input files (doctor reports, health results); errors name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wanprov.fleet.report import FleetInputError, Health, parse_health
from wanprov.strict import loads_json


def read_json(path: Path, what: str) -> Any:
    """The JSON document in `path`; FleetInputError (exit 10) when it is missing, unreadable or not JSON."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise FleetInputError(f"{what} {path} cannot be read: {exc.strerror}", hint="check the path") from exc
    except UnicodeDecodeError as exc:
        raise FleetInputError(f"{what} {path} is not UTF-8 text") from exc
    try:
        return loads_json(text)
    except ValueError as exc:
        raise FleetInputError(
            f"{what} {path} is not JSON: {exc}",
            hint="give the output of `wanprov doctor --format json` / the health task, unchanged",
        ) from exc


def read_doctor(path: Path, host: str) -> dict[str, Any]:
    document = read_json(path, f"doctor report of {host}")
    if not isinstance(document, dict):
        raise FleetInputError(f"doctor report of {host} ({path}) is not a JSON object")
    return document


def read_health(path: Path) -> tuple[list[Health], list[str]]:
    """One health result (an object) or several (a list of objects): the usable ones, and why each other
    one is not (one bad record does not hide the others). An unreadable file is FleetInputError."""
    document = read_json(path, "health results")
    records = document if isinstance(document, list) else [document]
    results, problems = [], []
    for position, record in enumerate(records):
        try:
            results.append(parse_health(record, f"{path} [{position}]"))
        except FleetInputError as exc:
            problems.append(f"{exc.message}: left out")
    return results, problems
