"""Every network call ends: a total deadline, a lowest throughput, a cap on the size of the body.

requests and urllib3 time out per socket operation (the connect, each recv): a server that sends one byte
per read timeout, or an endless body, holds them forever, and neither library has a total deadline or a
minimum rate. What they do give is used: `stream=True` so the body is read here piece by piece and counted,
`timeout=(connect, read)` clipped to the time left, and urllib3's `HTTPResponse.shutdown()`, which wakes a
thread blocked in recv. On top of that:

- `Watchdog` (large bodies: the model transfers) watches registered responses from one thread and shuts
  down any past its deadline or slower than the lowest throughput over a window (curl's --speed-limit /
  --speed-time); the reader then sees the read fail and `Watch.reason` says why (retried by the caller);
- `request()` (small answers: health, smoke, /object_info) runs one call in a daemon thread and waits for
  it at most until the deadline, so even a server that trickles its headers cannot hold the caller; the
  body is read incrementally and refused past `max_bytes`;
- `within()` bounds a call of another library the same way (huggingface_hub's metadata HEAD: httpx's
  timeouts are per operation too, and its shared client cannot be aborted from outside), and the head of
  each transfer GET (before there is a response for the watchdog to shut down).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from wanprov.errors import NetworkError
from wanprov.strict import loads_json

T = TypeVar("T")
READ = 64 << 10
DEFAULT_MAX_BYTES = 64 << 20  # a ComfyUI JSON answer (/object_info with many node packs is a few MB)


class DeadlineExceeded(NetworkError):
    code = "deadline_exceeded"


class BodyTooLarge(NetworkError):
    code = "body_too_large"


class Deadline:
    """A point in time every call of one job must end by (`--timeout` as wall time).

    `label` names the job's limit (e.g. "workflow smoke --timeout"): when a call is cut because that limit
    (not a step's own, shorter share of it) ran out, the error says so."""

    def __init__(
        self,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
        label: str | None = None,
        parent: Deadline | None = None,
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self.at = clock() + seconds
        self.label = label
        self.parent = parent

    def remaining(self) -> float:
        return max(0.0, self.at - self._clock())

    def expired(self) -> bool:
        return self._clock() >= self.at

    def clipped(self, seconds: float) -> Deadline:
        """A deadline of at most `seconds` from now, never past this one."""
        return Deadline(min(seconds, self.remaining()), self._clock, parent=self)

    def monotonic_at(self) -> float:
        """The same point on time.monotonic's scale (for the watchdog, whatever clock this one reads)."""
        return time.monotonic() + self.remaining()

    def exceeded(self, what: str) -> DeadlineExceeded:
        """The error for `what` cut at this deadline, naming the job's labelled limit when that ran out."""
        limit: Deadline | None = self
        while limit is not None and not (limit.label and limit.expired()):
            limit = limit.parent
        if limit is not None:
            return DeadlineExceeded(
                f"{what}: cut when the {limit.label} of {limit.seconds:g} s (wall time) ran out",
                hint=f"is the server overloaded or the network slow? raise {limit.label.split()[-1]}",
            )
        return DeadlineExceeded(
            f"{what}: no complete answer within {self.seconds:g} s",
            hint="is the server overloaded or the network slow? raise the timeout or retry",
        )


def abort_response(response: Any) -> None:
    """Wake a thread blocked in recv(): urllib3's shutdown() does, close() alone may not."""
    with contextlib.suppress(Exception):
        response.raw.shutdown()
    with contextlib.suppress(Exception):
        response.close()


@dataclass(eq=False)
class Watch:
    """One response under the watchdog; the reader calls count() for every piece it reads."""

    response: Any
    deadline_at: float
    min_rate_bps: float
    window_s: float
    received: int = 0
    reason: str | None = None  # set when the watchdog aborted it
    _window_start: float = field(default_factory=time.monotonic)
    _window_bytes: int = 0

    def count(self, amount: int) -> None:
        self.received += amount  # one int add per read: the hot path stays cheap

    def _check(self, now: float) -> str | None:
        if now >= self.deadline_at:
            return "the transfer's deadline passed"
        span = now - self._window_start
        if span >= self.window_s:
            rate = (self.received - self._window_bytes) / span
            if rate < self.min_rate_bps:
                return f"slower than {self.min_rate_bps:g} B/s for {span:.0f} s ({rate:.0f} B/s)"
            self._window_start, self._window_bytes = now, self.received
        return None


class Watchdog:
    """One thread for the whole process that aborts watched responses past their deadline or too slow."""

    TICK_S = 0.1

    def __init__(self) -> None:
        self._watches: set[Watch] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, response: Any, deadline_at: float, min_rate_bps: float, window_s: float) -> Watch:
        watch = Watch(response, deadline_at, min_rate_bps, window_s)
        with self._lock:
            self._watches.add(watch)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="net-watchdog", daemon=True)
                self._thread.start()
        return watch

    def release(self, watch: Watch) -> None:
        with self._lock:
            self._watches.discard(watch)

    def _run(self) -> None:
        while True:
            time.sleep(self.TICK_S)
            now = time.monotonic()
            with self._lock:
                watches = list(self._watches)
            for watch in watches:
                reason = watch._check(now)
                if reason is not None:
                    watch.reason = reason
                    self.release(watch)
                    abort_response(watch.response)


WATCHDOG = Watchdog()


def within(
    deadline: Deadline, action: Callable[[], T], what: str, on_expiry: Callable[[], None] = lambda: None
) -> T:
    """Run `action` in a daemon thread and wait for it until `deadline`; then DeadlineExceeded.

    The thread is left to end on its own (its socket's timeout, or `on_expiry` aborting it): a CLI run
    does not wait for it, daemon threads end with the process."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = action()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="net-call", daemon=True).start()
    if not done.wait(deadline.remaining()):
        on_expiry()
        raise deadline.exceeded(what)
    if "error" in box:
        raise box["error"]
    return box["value"]


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    url: str

    def json(self) -> Any:
        return loads_json(self.body)


def request(
    method: str,
    url: str,
    *,
    deadline: Deadline,
    max_bytes: int = DEFAULT_MAX_BYTES,
    shown: str | None = None,
    connect_s: float = 10.0,
    **kwargs: Any,
) -> Reply:
    """One HTTP call whose answer, body included, is complete by `deadline` and at most `max_bytes`.

    Raises requests' own exceptions for transport failures (the caller names them), DeadlineExceeded
    and BodyTooLarge (both NetworkError, exit 5)."""
    import requests

    what = f"{method} {shown or url}"
    held: dict[str, Any] = {}

    def call() -> Reply:
        left = max(deadline.remaining(), 0.001)
        response = requests.request(method, url, stream=True, timeout=(min(connect_s, left), left), **kwargs)
        held["response"] = response
        with response:
            body = bytearray()
            for piece in response.iter_content(READ):  # decoded: a compressed bomb is counted as it grows
                body += piece
                if len(body) > max_bytes:
                    raise BodyTooLarge(
                        f"{what} answered more than {max_bytes} bytes; not read further",
                        hint="is it the server you meant? (a ComfyUI answer is at most a few MB)",
                    )
            return Reply(response.status_code, dict(response.headers), bytes(body), response.url)

    return within(deadline, call, what, on_expiry=lambda: abort_response(held.get("response")))
