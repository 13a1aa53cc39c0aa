"""Wait for a started ComfyUI to answer, and stop waiting the moment its process has exited or restarted:
then the reason is in its log, whose tail comes with the error (the journal for systemd, the log file for
the test-only `process` supervisor). Waiting the full timeout on a dead service shows nothing."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wanprov import bounded_http
from wanprov.bounded_http import Deadline
from wanprov.errors import NetworkError, UsageError, WanprovError
from wanprov.exit_codes import ExitCode

LOG_LINES = 40


class ServiceDownError(WanprovError):
    """The service exited or restarted while it was waited on."""

    exit_code = ExitCode.SERVICE_DOWN
    code = "service_down"


@dataclass(frozen=True)
class Watch:
    """How one service manager tells whether the process is the one that was started."""

    describe: str
    identity: Callable[[], str | None]  # a stable id of the running process; None when none runs
    log_tail: Callable[[int], str]


def process_watch(pidfile: Path, logfile: Path) -> Watch:
    """The `process` supervisor: its pid file names the process (gone when it exits or is replaced)."""

    def identity() -> str | None:
        try:
            pid = int(Path(pidfile).read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        if _zombie(pid):
            return None
        return str(pid)

    def log_tail(lines: int) -> str:
        try:
            text = Path(logfile).read_text(errors="replace")
        except FileNotFoundError:
            return f"(no log at {logfile})"
        return "\n".join(text.splitlines()[-lines:])

    return Watch(f"pid file {pidfile}", identity, log_tail)


def systemd_watch(unit: str, *, user: bool = False) -> Watch:
    """systemd: the unit's main pid and restart count (Restart=on-failure brings a crashed service back,
    which a poll of the URL alone would take for a slow start). `user`: a unit of the user's own systemd."""
    scope = ["--user"] if user else []

    def identity() -> str | None:
        proc = subprocess.run(
            ["systemctl", *scope, "show", unit, "--property=LoadState,ActiveState,MainPID,NRestarts"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        state = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
        if state.get("LoadState") == "not-found":
            # a mistyped unit is "inactive" too: say so instead of "ComfyUI exited" over an empty log
            raise UsageError(
                f"no systemd unit {unit} on this host (systemctl: LoadState=not-found)",
                hint="name the instance's unit (systemctl list-units 'comfyui*'), e.g. --unit comfyui-gpu0",
            )
        if state.get("ActiveState") not in ("active", "activating") or state.get("MainPID", "0") == "0":
            return None
        return f"{state['MainPID']}/{state.get('NRestarts', '0')}"

    def log_tail(lines: int) -> str:
        proc = subprocess.run(
            ["journalctl", "--user-unit" if user else "--unit", unit, "--no-pager", "--lines", str(lines),
             "--output", "cat"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        return (proc.stdout or proc.stderr).rstrip()

    return Watch(f"systemd unit {unit}", identity, log_tail)


def watch_for(unit: str | None = None, pidfile: Path | None = None, logfile: Path | None = None) -> Watch:
    """The watch of a service given as a systemd `unit`, or as the `process` supervisor's pid and log files
    (both); anything else is a UsageError."""
    if bool(unit) == bool(pidfile or logfile) or (pidfile is None) != (logfile is None):
        raise UsageError("give either --unit NAME or both --pidfile FILE and --log FILE")
    return systemd_watch(unit) if unit else process_watch(pidfile, logfile)  # type: ignore[arg-type]


def _zombie(pid: int) -> bool:
    """An exited child nobody has reaped yet still answers kill(pid, 0)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


PROBE_MAX_BYTES = 1 << 20


def _answers(url: str, timeout: float) -> bool:
    """One probe, over within `timeout` whatever the server does (trickles, sends without end)."""
    import requests

    try:
        reply = bounded_http.request("GET", url, deadline=Deadline(timeout), max_bytes=PROBE_MAX_BYTES)
    except (requests.RequestException, NetworkError, OSError, ValueError):
        return False
    return reply.status == 200


def wait_for_service(
    url: str,
    watch: Watch,
    *,
    timeout_s: float,
    interval_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    deadline: Deadline | None = None,
) -> dict[str, object]:
    """Poll GET `url` until it answers 200. Raise ServiceDownError (with the log's tail) as soon as the
    watched process is gone or another one has taken its place; NetworkError after `timeout_s` (or at
    `deadline`, a wall-clock end shared with the caller's later steps): no probe and no pause outlives
    `timeout_s`, so a server that accepts the connection and never answers cannot hold the wait longer."""
    start = clock()
    if deadline is None:
        deadline = Deadline(timeout_s, clock)
    first = watch.identity()
    while True:
        probe_s = max(0.05, min(max(1.0, interval_s), deadline.remaining()))
        if _answers(url, timeout=probe_s):
            return {"url": url, "answered": True, "waited_s": round(clock() - start, 1), "process": first}
        now = watch.identity()
        if now is None or (first is not None and now != first):
            what = "exited" if now is None else f"restarted ({first} -> {now})"
            raise ServiceDownError(
                f"ComfyUI {what} before answering {url} ({watch.describe}); the last lines of its log:\n"
                + watch.log_tail(LOG_LINES),
                hint="fix what the log shows (a missing package, a bad flag, an unwritable folder); rerun",
            )
        if first is None:
            first = now
        if clock() - start >= timeout_s or deadline.expired():
            raise NetworkError(
                f"ComfyUI ({watch.describe}) runs but did not answer {url} within {timeout_s:g} s; "
                f"the last lines of its log:\n" + watch.log_tail(LOG_LINES),
                hint="a first start with many node packs can be slow: raise the wait, or read the log",
            )
        sleep(min(interval_s, deadline.remaining()))
