"""Talking to the Hugging Face Hub (or a mirror at HF_ENDPOINT): URLs, headers, metadata, errors, retries.

huggingface_hub supplies the URL (`hf_hub_url`), the headers with the user's token (`build_hf_headers`:
HF_TOKEN or the stored `hf auth login`) and the metadata HEAD (`get_hf_file_metadata`: X-Linked-Etag is an
LFS file's sha256, X-Linked-Size its size, X-Repo-Commit the resolved commit, and `location` the redirect
to the CDN or Xet bridge, which it does not follow to another host). The body transfer is ours (transfer.py,
segmented.py): hf_hub_download neither verifies sha256, nor resumes across runs, nor segments a file over
several connections, and gives up at once on a 503 or a TCP reset.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from wanprov import __version__
from wanprov.bounded_http import Deadline, within
from wanprov.errors import (
    AuthError,
    IntegrityError,
    NetworkError,
    NotFoundError,
    OfflineError,
    UsageError,
    WanprovError,
)
from wanprov.models.catalog import FileEntry

T = TypeVar("T")
_RETRY_AFTER_CAP_S = 60.0
_BACKOFF_CAP_S = 30.0


@dataclass(frozen=True)
class HubSettings:
    endpoint: str
    offline: bool = False
    retries: int = 5
    backoff_base_s: float = 1.0  # WANPROV_BACKOFF_BASE: tests set it near 0 to stay fast
    timeout_s: float = 30.0
    segment_bytes: int = 8 << 20  # WANPROV_SEGMENT_BYTES: smallest byte range worth its own request
    deadline_s: float = 86400.0  # WANPROV_DEADLINE: one file's transfer, every try included, ends by then
    min_rate_bps: float = 1024.0  # WANPROV_MIN_RATE: a connection slower than this ...
    rate_window_s: float = 30.0  # WANPROV_RATE_WINDOW: ... for this long is cut and retried

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HubSettings:
        """Read the environment at call time (huggingface_hub's constants are frozen at its import)."""
        env = os.environ if environ is None else environ
        return cls(
            endpoint=(env.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/"),
            offline=env.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"},
            retries=int(_env_number(env, "WANPROV_RETRIES", "5", 0, 100, integer=True)),
            backoff_base_s=_env_number(env, "WANPROV_BACKOFF_BASE", "1.0", 0, 600),
            timeout_s=_env_number(env, "HF_HUB_DOWNLOAD_TIMEOUT", "30", 0.001, 86400),
            segment_bytes=int(
                _env_number(env, "WANPROV_SEGMENT_BYTES", str(8 << 20), 64 << 10, 1 << 40, integer=True)
            ),
            deadline_s=_env_number(env, "WANPROV_DEADLINE", "86400", 0.001, 30 * 86400),
            min_rate_bps=_env_number(env, "WANPROV_MIN_RATE", "1024", 0, 1 << 40),
            rate_window_s=_env_number(env, "WANPROV_RATE_WINDOW", "30", 0.001, 86400),
        )


def _env_number(
    env: Mapping[str, str], name: str, default: str, low: float, high: float, *, integer: bool = False
) -> float:
    """A numeric setting from the environment: finite and in range, else a usage error (exit 2)."""
    raw = env.get(name, default)
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise UsageError(f"{name}={raw!r} is not {kind} in {low:g}..{high:g}", hint=f"unset {name} or fix it")
    return value


@dataclass(frozen=True)
class RemoteFile:
    url: str
    size: int | None
    sha256: str | None
    commit: str | None
    location: str | None = None  # where the bytes are: the Hub's redirect (CDN, Xet bridge) or the URL itself


class TransientError(Exception):
    """A failure worth retrying (429, 5xx, connection cut or reset); carries Retry-After when sent."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def file_url(entry: FileEntry, settings: HubSettings) -> str:
    from huggingface_hub import hf_hub_url

    return hf_hub_url(entry.repo, entry.path, revision=entry.revision, endpoint=settings.endpoint)


def _sha256_or_none(etag: str | None) -> str | None:
    value = (etag or "").strip().strip('"').lower()
    if value.startswith("w/"):
        return None  # a weak ETag is not a content hash
    return value if len(value) == 64 and all(c in "0123456789abcdef" for c in value) else None


def advertised_sha256(headers: Mapping[str, str]) -> str | None:
    """The sha256 a response claims for the file: X-Linked-Etag (Hub, LFS), else an ETag that is one."""
    return _sha256_or_none(headers.get("X-Linked-Etag")) or _sha256_or_none(headers.get("ETag"))


def check_upstream(
    entry: FileEntry, sha256: str, size: int | None, upstream_sha: str | None, upstream_size: int | None
) -> None:
    """Stop at once when the hub says its file is not the pinned one: no retry can fix that."""
    where = f"{entry.repo}@{entry.revision}: {entry.path} (catalog entry {entry.id!r} in {entry.manifest})"
    if upstream_sha is not None and upstream_sha != sha256:
        raise IntegrityError(
            f"{where}: the hub serves sha256 {upstream_sha}, the catalog pins {sha256}",
            hint="the file changed upstream: pin the revision to a commit (`wanprov models lock`) or update "
            "the entry's sha256/size if the new file is wanted",
        )
    if upstream_size is not None and size is not None and upstream_size != size:
        raise IntegrityError(
            f"{where}: the hub serves {upstream_size} bytes, the catalog pins {size} (sha256 {sha256})",
            hint="the file changed upstream: pin the revision to a commit or update the entry",
        )


def request_headers() -> dict[str, str]:
    """User agent + Authorization (from HF_TOKEN or the stored login). Never log these."""
    from huggingface_hub.utils import build_hf_headers

    headers = build_hf_headers(library_name="wanprov", library_version=__version__)
    headers["Accept-Encoding"] = "identity"  # sizes and hashes are of the raw bytes
    return headers


def _token_present() -> bool:
    from huggingface_hub import get_token

    return get_token() is not None


def classify_status(
    status: int, error_code: str | None, retry_after: str | None, entry: FileEntry
) -> WanprovError | TransientError:
    """Map an HTTP error answer of the Hub onto a typed error (or a retryable one)."""
    where = f"{entry.repo}@{entry.revision}: {entry.path} (catalog entry {entry.id!r} in {entry.manifest})"
    if status in (408, 429) or status >= 500:
        return TransientError(f"HTTP {status} from the hub for {where}", _retry_after(retry_after))
    if error_code == "GatedRepo" or (status in (401, 403) and error_code != "RepoNotFound"):
        token_state = "with the token given" if _token_present() else "without a token"
        return AuthError(
            f"the hub refused {entry.repo} ({status}, {token_state}) for catalog entry {entry.id!r}",
            hint=(
                "set HF_TOKEN or run `hf auth login`, and accept the license at "
                f"https://huggingface.co/{entry.repo}"
            ),
        )
    if status in (401, 404) or error_code in {"RepoNotFound", "RevisionNotFound", "EntryNotFound"}:
        kind = {"RepoNotFound": "repository", "RevisionNotFound": "revision"}.get(error_code or "", "file")
        return NotFoundError(
            f"{kind} not found on the hub: {where}",
            hint="fix repo/revision/path of the entry; a private repo also needs HF_TOKEN",
        )
    return NetworkError(f"HTTP {status} from the hub for {where}", hint="retry later or use a mirror")


def _retry_after(value: str | None) -> float | None:
    try:
        return min(float(value), _RETRY_AFTER_CAP_S) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def backoff_delay(attempt: int, settings: HubSettings, retry_after_s: float | None = None) -> float:
    """Exponential backoff with jitter (so parallel jobs do not retry in step), at least Retry-After."""
    delay = min(_BACKOFF_CAP_S, settings.backoff_base_s * (2**attempt)) * (0.5 + random.random() / 2)
    return max(delay, retry_after_s or 0.0)


class Attempts:
    """The retry rule of one file's transfer, the same on the one-stream and the segmented path.

    A failure after progress starts the count again (it is a new failure, not a repeat); `retries` failures
    in a row, or the file's deadline passing, give up with a NetworkError (exit 5)."""

    def __init__(self, settings: HubSettings, what: str, hint: str, deadline: Deadline | None = None) -> None:
        self.settings, self.what, self.hint = settings, what, hint
        self.deadline = deadline or Deadline(settings.deadline_s)
        self.failures = 0

    def failed(self, exc: TransientError, progressed: bool, where: str) -> float:
        """Count a failure; the delay before the next try, or NetworkError when there is none."""
        self.failures = 1 if progressed else self.failures + 1
        if self.deadline.expired():
            raise NetworkError(
                f"{self.what}: the transfer's deadline ({self.settings.deadline_s:g} s, WANPROV_DEADLINE) "
                f"passed {where}: {exc}",
                hint=self.hint,
            ) from exc
        if self.failures > self.settings.retries:
            raise NetworkError(
                f"{self.what}: gave up after {self.failures} tries {where}: {exc}", hint=self.hint
            ) from exc
        delay = backoff_delay(self.failures - 1, self.settings, exc.retry_after_s)
        return min(delay, self.deadline.remaining())


def with_retries(
    action: Callable[[], T],
    settings: HubSettings,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `action`, retrying TransientError up to settings.retries times."""
    for attempt in range(settings.retries + 1):
        try:
            return action()
        except TransientError as exc:
            if attempt >= settings.retries:
                raise NetworkError(
                    f"{what}: gave up after {settings.retries + 1} tries: {exc}",
                    hint="check the network or HF_ENDPOINT, then re-run (downloads resume)",
                ) from exc
            sleep(backoff_delay(attempt, settings, exc.retry_after_s))
    raise AssertionError("unreachable")


def fetch_metadata(entry: FileEntry, settings: HubSettings) -> RemoteFile:
    """HEAD the file: size, sha256 (X-Linked-Etag of an LFS file) and the commit the revision points at."""
    if settings.offline:
        raise OfflineError(
            f"HF_HUB_OFFLINE is set and {entry.relpath} (entry {entry.id!r}) needs the hub",
            hint="unset HF_HUB_OFFLINE, or fetch --from a local copy",
        )
    import httpx2
    from huggingface_hub import get_hf_file_metadata
    from huggingface_hub.errors import HfHubHTTPError

    url = file_url(entry, settings)

    def call() -> Any:
        return get_hf_file_metadata(
            url, timeout=settings.timeout_s, library_name="wanprov", library_version=__version__
        )

    def head() -> RemoteFile:
        try:
            # httpx's timeouts are per operation: a server that trickles its answer would hold the HEAD
            meta = within(Deadline(settings.timeout_s), call, f"HEAD {entry.repo}/{entry.path}")
        except NetworkError as exc:  # the deadline: retried like a timeout
            raise TransientError(exc.message) from None
        except httpx2.TooManyRedirects:  # huggingface_hub follows the hub's own redirects itself
            raise NetworkError(
                f"the hub redirects {entry.repo}/{entry.path} (entry {entry.id!r}) in a loop",
                hint="check HF_ENDPOINT and any proxy in between; retry later",
            ) from None
        except HfHubHTTPError as exc:
            response = exc.response
            raise classify_status(
                response.status_code,
                response.headers.get("X-Error-Code"),
                response.headers.get("Retry-After"),
                entry,
            ) from None
        except httpx2.TransportError as exc:
            raise TransientError(f"{type(exc).__name__} talking to {settings.endpoint}") from None
        return RemoteFile(
            url=url,
            size=meta.size,
            sha256=_sha256_or_none(meta.etag),
            commit=meta.commit_hash,
            location=meta.location,
        )

    return with_retries(head, settings, f"metadata of {entry.repo}/{entry.path}")
