"""The engine's processes: started in their own session, recorded by pid, stopped by pid only.

A publisher's processes outlive the call that started them (the play's later tasks stop them), so they are
recorded in the state folder; stop() checks the recorded pid still runs the same program before signalling.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from wanprov.errors import ManifestError, WanprovError

RECORD = "processes.json"


def require(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise WanprovError(
            f"{program} is not installed (needed for peer-to-peer distribution)",
            hint=f"install the Debian/Ubuntu package {package}",
        )
    return path


def spawn(argv: list[str], log: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a program detached from our session (it survives us), its output in `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )


def read_record(path: Path) -> dict[str, dict[str, object]]:
    """The record of started processes: name -> {pid (> 0), program}. A damaged one (not JSON, another
    shape: someone else's file, a write cut short) is a ManifestError naming it - nothing is signalled on
    its word."""
    from wanprov.strict import StrictParseError, loads_json

    try:
        known = loads_json(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, StrictParseError) as exc:
        raise _damaged(path, str(exc)) from exc
    good = isinstance(known, dict) and all(
        isinstance(entry, dict)
        and type(entry.get("pid")) is int
        and entry["pid"] > 0
        and isinstance(entry.get("program"), str)
        for entry in known.values()
    )
    if not good:
        raise _damaged(path, "not a record of name -> {pid, program}")
    return known


def _damaged(path: Path, why: str) -> ManifestError:
    return ManifestError(
        f"{path}: the swarm's process record is damaged ({why})",
        hint="stop the tracker and seeder by hand (pgrep -a opentracker; pgrep -a aria2c), remove the file",
    )


def remember(state_dir: Path, name: str, process: subprocess.Popen[bytes]) -> None:
    path = state_dir / RECORD
    known = read_record(path)
    known[name] = {"pid": process.pid, "program": Path(str(process.args[0])).name}  # type: ignore[index]
    path.write_text(json.dumps(known))


def _runs(pid: int, program: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False
    return Path(cmdline.decode(errors="replace")).name == program


def terminate(pid: int, program: str, grace_s: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after `grace_s`; only if `pid` still runs `program` (no pid reuse accidents)."""
    if not _runs(pid, program):
        return
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + grace_s
    while time.monotonic() < end:
        if not _runs(pid, program) or _zombie(pid):
            return
        time.sleep(0.05)
    if _runs(pid, program):
        os.kill(pid, signal.SIGKILL)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


def stop_all(state_dir: Path) -> list[str]:
    """Stop every process recorded under `state_dir`; returns the names stopped."""
    path = state_dir / RECORD
    if not path.exists():
        return []
    known = read_record(path)
    for entry in known.values():
        terminate(int(entry["pid"]), str(entry["program"]))
    path.unlink()
    return sorted(known)
