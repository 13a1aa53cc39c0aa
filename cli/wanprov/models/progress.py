"""Progress display: an overall bar plus one bar per active file on a terminal, nothing otherwise.

The core reports through the small `Progress` protocol; only `terminal_progress()` knows about rich.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Protocol


class Progress(Protocol):
    def start_file(self, key: str, label: str, total: int | None) -> None: ...
    def advance(self, key: str, amount: int) -> None: ...
    def finish_file(self, key: str) -> None: ...
    def close(self) -> None: ...


class NullProgress:
    """When stderr is not a terminal: results only, no bars."""

    def start_file(self, key: str, label: str, total: int | None) -> None:
        return

    def advance(self, key: str, amount: int) -> None:
        return

    def finish_file(self, key: str) -> None:
        return

    def close(self) -> None:
        return


class RichProgress:
    def __init__(self, total_bytes: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as RichBars

        self._bars = RichBars(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._overall = self._bars.add_task("total", total=total_bytes or None)
        self._tasks: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._bars.start()

    def start_file(self, key: str, label: str, total: int | None) -> None:
        with self._lock:
            self._tasks[key] = self._bars.add_task(_label(label), total=total)

    def advance(self, key: str, amount: int) -> None:
        task = self._tasks.get(key)
        if task is not None:
            self._bars.advance(task, amount)
        self._bars.advance(self._overall, amount)

    def finish_file(self, key: str) -> None:
        with self._lock:
            task = self._tasks.pop(key, None)
        if task is not None:
            self._bars.remove_task(task)

    def close(self) -> None:
        self._bars.stop()


def terminal_progress(total_bytes: int, enabled: bool | None = None) -> Progress:
    """Bars only when a person watches (stderr is a TTY), unless forced either way."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    return RichProgress(total_bytes) if enabled else NullProgress()


def _label(text: str) -> str:
    """A file name as a bar's label: control characters escaped and rich's [markup] taken literally."""
    from rich.markup import escape

    from wanprov.redact import shown

    return escape(shown(text))
