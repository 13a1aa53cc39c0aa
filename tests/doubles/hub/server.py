"""A threaded HTTP server speaking what huggingface_hub and wanprov need of the Hub:

`HEAD/GET /{owner}/{name}/resolve/{revision}/{path}` answer ETag / X-Linked-Etag (the file's sha256, as the
Hub does for LFS files), X-Linked-Size, X-Repo-Commit, Content-Length and Accept-Ranges; `Range: bytes=N-`
gets 206; errors carry X-Error-Code (EntryNotFound, RepoNotFound, RevisionNotFound, GatedRepo) like the Hub.
`GET /api/models/{owner}/{name}/revision/{rev}` lists the repo's files.

What a real link adds, each off by default:
- `cdn=True`: like the Hub for large (LFS/Xet) files, `resolve` answers 302 (with X-Linked-Etag/Size) to a
  second origin, the "CDN", at `/cdn/<token>/<repo path>`, which serves the bytes and honours
  `Range: bytes=a-b` / `bytes=a-` with 206 and Content-Range, or 416.
- `location_uses=N`: each CDN location serves N GETs, then answers `expired_status` (403, as a lapsed signed
  URL does) until the client resolves a new one at the hub.
- `rate_bps=R`: every response body is paced to R bytes/s (per connection, as a CDN stream over a WAN).

Faults are set per repo path (`server.faults["owner/name/path"] = Fault(...)`) and are consumed as they fire.
Byte faults (cut, reset, stall) are at absolute file offsets: they hit only the request whose range covers
that offset, so one range of a segmented transfer fails while the others go on.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
_API_REV = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/revision/(?P<rev>[^/]+)$")
_API_TREE = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$")
_SEND_CHUNK = 8 << 20
_RATE_STEP = 128 << 10  # paced sends: small enough to keep the rate smooth over one range


@dataclass
class Fault:
    """What goes wrong for one file. Counters are consumed by GET requests (statuses: by any request)."""

    statuses: list[int] = field(default_factory=list)  # answered in order before the file is served
    retry_after: str | None = None  # Retry-After header sent with those statuses
    cut_after: int | None = None  # close the connection after this many body bytes ...
    cuts: int = 1  # ... this many times
    reset_after: int | None = None  # send an RST (SO_LINGER 0) after this many body bytes ...
    resets: int = 1  # ... this many times
    stall_after: int | None = None  # stop sending after this many bytes until `release` is set (kill tests)
    corrupt: bool = False  # serve different bytes of the advertised size and sha256
    ignore_range: bool = False  # answer 200 with the whole body to a Range request (some proxies do)
    trickle_after: int | None = None  # from this offset on, one byte per `trickle_interval` (never ends)
    trickle_interval: float = 1.0
    redirect_loop: bool = False  # `resolve` answers 302 to itself, for ever (a broken proxy or mirror)
    trickle_headers: bool = False  # `resolve` sends its status line, then a header a byte per 0.2 s
    trickle_cdn_headers: bool = False  # the same on the CDN (after the hub's HEAD went through)


def write_file(root: Path, repo: str, path: str, size: int, seed: int = 0) -> bytes:
    """Create a deterministic file of `size` bytes in the hub's tree; returns its content."""
    data = random.Random(f"{repo}/{path}/{seed}").randbytes(size)
    target = root / repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return data


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up mid-body (a cancelled range, a kill) is normal here, not a traceback."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class HubServer:
    def __init__(
        self,
        root: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        cdn: bool = False,
        rate_bps: int | None = None,
        location_uses: int | None = None,
        expired_status: int = 403,
    ) -> None:
        self.root = Path(root)
        self.cdn = cdn
        self.rate_bps = rate_bps
        self.location_uses = location_uses
        self.expired_status = expired_status
        self.locations_issued = 0
        self.active_bodies = 0  # bodies being sent right now, and the most at once (connection caps)
        self.peak_bodies = 0
        self._locations: dict[str, int | None] = {}  # token -> GETs it may still serve
        self.faults: dict[str, Fault] = {}
        self.tokens: dict[str, str] = {}  # gated repo -> the token that may read it
        self.missing_revisions: set[str] = set()
        self.requests: list[dict[str, str | None]] = []  # method, path, range, authorization (for asserts)
        self.release = threading.Event()
        self._digests: dict[Path, tuple[int, str]] = {}
        self._lock = threading.Lock()
        self._httpd = _QuietServer((host, port), _make_handler(self, cdn=False))
        self._httpd.daemon_threads = True
        self._cdn = _QuietServer((host, 0), _make_handler(self, cdn=True))
        self._cdn.daemon_threads = True
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def cdn_url(self) -> str:
        host, port = self._cdn.server_address[:2]
        return f"http://{host}:{port}"

    def issue_location(self, repo_path: str) -> str:
        token = hashlib.sha1(f"{repo_path}/{random.random()}".encode()).hexdigest()[:16]
        with self._lock:
            self._locations[token] = self.location_uses
            self.locations_issued += 1
        return f"{self.cdn_url}/cdn/{token}/{repo_path}"

    def use_location(self, token: str) -> bool:
        """False when the token is unknown or spent (the signed URL has lapsed)."""
        with self._lock:
            if token not in self._locations:
                return False
            left = self._locations[token]
            if left is None:
                return True
            if left <= 0:
                return False
            self._locations[token] = left - 1
            return True

    def commit(self, repo: str) -> str:
        return hashlib.sha1(repo.encode()).hexdigest()

    def sha256(self, file: Path) -> str:
        stat = file.stat()
        with self._lock:
            cached = self._digests.get(file)
            if cached and cached[0] == stat.st_mtime_ns:
                return cached[1]
        digest = hashlib.sha256()
        with file.open("rb") as handle:
            while chunk := handle.read(_SEND_CHUNK):
                digest.update(chunk)
        with self._lock:
            self._digests[file] = (stat.st_mtime_ns, digest.hexdigest())
        return digest.hexdigest()

    def start(self) -> HubServer:
        for name, httpd in (("hub-double", self._httpd), ("cdn-double", self._cdn)):
            thread = threading.Thread(
                target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def serve_forever(self) -> None:
        cdn = threading.Thread(target=self._cdn.serve_forever, name="cdn-double", daemon=True)
        cdn.start()
        self._httpd.serve_forever()

    def stop(self) -> None:
        self.release.set()
        for httpd in (self._httpd, self._cdn):
            httpd.shutdown()
            httpd.server_close()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _make_handler(hub: HubServer, cdn: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet: tests read hub.requests
            return

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _error(self, status: int, code: str | None, message: str = "", extra: dict | None = None) -> None:
            payload = json.dumps({"error": message or code or str(status)}).encode()
            self.send_response(status)
            if code:
                self.send_header("X-Error-Code", code)
            if message:
                self.send_header("X-Error-Message", message)
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def _serve(self, body: bool) -> None:
            path = unquote(self.path.split("?", 1)[0])
            if path == "/_double/stats":  # for a caller in another process (benchmarks): not a Hub route
                self._json({"requests": len(hub.requests)})
                return
            hub.requests.append(
                {
                    "method": self.command,
                    "path": path,
                    "range": self.headers.get("Range"),
                    "authorization": self.headers.get("Authorization"),
                    "origin": "cdn" if cdn else "hub",
                }
            )
            if cdn:
                self._serve_cdn(path, body)
                return
            api = _API_REV.match(path)
            if api:
                self._api_revision(api["repo"], api["rev"])
                return
            tree = _API_TREE.match(path)
            if tree:
                self._api_tree(tree["repo"], tree["path"] or "")
                return
            match = _RESOLVE.match(path)
            if not match:
                self._error(404, None, "not a resolve URL")
                return
            repo, rev, repo_path = match["repo"], match["rev"], match["path"]
            if not (hub.root / repo).is_dir():
                self._error(401, "RepoNotFound", "Repository not found")
                return
            if repo in hub.tokens and self.headers.get("Authorization") != f"Bearer {hub.tokens[repo]}":
                status = 403 if self.headers.get("Authorization") else 401
                self._error(status, "GatedRepo", "Access to model is restricted")
                return
            if rev in hub.missing_revisions:
                self._error(404, "RevisionNotFound", "Invalid rev id")
                return
            fault = hub.faults.get(f"{repo}/{repo_path}")
            if fault and fault.trickle_headers:
                self._trickle_headers()
                return
            if fault and fault.redirect_loop:
                self.send_response(302)
                self.send_header("Location", path)  # relative, same host: clients follow it themselves
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if fault and fault.statuses:
                status = fault.statuses.pop(0)
                extra = {"Retry-After": fault.retry_after} if fault.retry_after else None
                self._error(status, None, f"injected {status}", extra)
                return
            file = hub.root / repo / repo_path
            if not file.is_file() or ".." in repo_path.split("/"):
                self._error(404, "EntryNotFound", "Entry not found")
                return
            if hub.cdn:
                self._redirect(repo, repo_path, file)
                return
            self._file(repo, file, body, fault)

        def _trickle_headers(self) -> None:
            """Each byte within any read timeout, the answer's head never done."""
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Pad: ")
            try:
                while not hub.release.wait(0.2):
                    self.wfile.write(b"a")
                    self.wfile.flush()
            except OSError:
                pass
            self.close_connection = True

        def _redirect(self, repo: str, repo_path: str, file: Path) -> None:
            """The Hub's answer for an LFS/Xet file: metadata in headers, the bytes elsewhere."""
            sha = hub.sha256(file)
            self.send_response(302)
            self.send_header("Location", hub.issue_location(f"{repo}/{repo_path}"))
            self.send_header("ETag", f'"{sha}"')
            self.send_header("X-Linked-Etag", f'"{sha}"')
            self.send_header("X-Linked-Size", str(file.stat().st_size))
            self.send_header("X-Repo-Commit", hub.commit(repo))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _serve_cdn(self, path: str, body: bool) -> None:
            found = re.match(r"^/cdn/(?P<token>[0-9a-f]+)/(?P<repo>[^/]+/[^/]+)/(?P<path>.+)$", path)
            if not found or ".." in found["path"].split("/"):
                self._error(404, None, "NoSuchKey")
                return
            if not hub.use_location(found["token"]):
                self._error(hub.expired_status, None, "Request has expired")
                return
            fault = hub.faults.get(f"{found['repo']}/{found['path']}")
            if fault and fault.trickle_cdn_headers and self.command == "GET":
                self._trickle_headers()
                return
            if fault and fault.statuses:
                self._error(fault.statuses.pop(0), None, "injected")
                return
            file = hub.root / found["repo"] / found["path"]
            if not file.is_file():
                self._error(404, None, "NoSuchKey")
                return
            self._file(found["repo"], file, body, fault, linked=False)

        def _file(self, repo: str, file: Path, body: bool, fault: Fault | None, linked: bool = True) -> None:
            size = file.stat().st_size
            sha = hub.sha256(file)
            start, end = 0, size  # end exclusive
            byte_range = None if fault and fault.ignore_range else self.headers.get("Range")
            # the hub's ETag is the sha256; a CDN's is its own (S3: an MD5): a client cannot take it for one
            etag = f'"{sha}"' if linked else f'"{sha[:32]}"'
            if_range = self.headers.get("If-Range")
            if byte_range and if_range and if_range != etag:
                byte_range = None  # RFC 9110: the validator no longer matches, send the whole new file
            if byte_range:
                found = re.match(r"bytes=(\d+)-(\d*)$", byte_range)
                if not found:
                    self._error(416, None, "unsupported range")
                    return
                start = int(found[1])
                end = min(size, int(found[2]) + 1) if found[2] else size
                if start >= size or start >= end:
                    self._error(416, None, "range not satisfiable", {"Content-Range": f"bytes */{size}"})
                    return
            self.send_response(206 if byte_range else 200)
            self.send_header("ETag", etag)
            if linked:  # the hub's own headers; a CDN sends only its ETag
                self.send_header("X-Linked-Etag", f'"{sha}"')
                self.send_header("X-Linked-Size", str(size))
                self.send_header("X-Repo-Commit", hub.commit(repo))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start))
            if byte_range:
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
            self.end_headers()
            if body:
                with hub._lock:
                    hub.active_bodies += 1
                    hub.peak_bodies = max(hub.peak_bodies, hub.active_bodies)
                try:
                    self._body(file, start, end, fault)
                finally:
                    with hub._lock:
                        hub.active_bodies -= 1

        def _body(self, file: Path, start: int, end: int, fault: Fault | None) -> None:
            """Send [start, end); a byte fault fires only when its offset lies in that range."""
            limit, action = end, None

            def covers(offset: int | None) -> bool:
                return offset is not None and start <= offset < end

            if fault and fault.cuts > 0 and covers(fault.cut_after):
                fault.cuts -= 1
                limit, action = fault.cut_after, "cut"
            elif fault and fault.resets > 0 and covers(fault.reset_after):
                fault.resets -= 1
                limit, action = fault.reset_after, "reset"
            elif fault and covers(fault.stall_after):
                limit, action = fault.stall_after, "stall"
            elif fault and fault.trickle_after is not None and fault.trickle_after < end:
                limit, action = max(start, fault.trickle_after), "trickle"  # every request reaching it
            with file.open("rb") as handle:
                if not fault and not hub.rate_bps:  # fast path for benchmarks: the kernel copies the file
                    self.connection.sendfile(handle, start, end - start)
                    return
                handle.seek(start)
                position, began = start, time.monotonic()
                step = _RATE_STEP if hub.rate_bps else _SEND_CHUNK
                while position < limit:
                    if hub.rate_bps:  # pace to the cap: byte n leaves no earlier than n / rate
                        ahead = (position - start + step) / hub.rate_bps - (time.monotonic() - began)
                        if ahead > 0:
                            time.sleep(ahead)
                    chunk = handle.read(min(step, limit - position))
                    if fault and fault.corrupt:
                        chunk = bytes(b ^ 0xFF for b in chunk[:64]) + chunk[64:]
                    self.wfile.write(chunk)
                    position += len(chunk)
            if action == "stall":
                hub.release.wait(60)
                action = "cut"
            if action == "trickle":  # a byte at a time until the client gives up (or the server stops)
                assert fault is not None
                with file.open("rb") as handle:
                    handle.seek(limit)
                    while limit < end and not hub.release.wait(fault.trickle_interval):
                        self.wfile.write(handle.read(1))
                        self.wfile.flush()
                        limit += 1
                action = "cut"
            if action == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            if action:
                time.sleep(0.3)  # let the client read the bytes before the close / reset
                self.connection.close()
                self.wfile = io.BytesIO()  # finish() flushes into nothing
                self.close_connection = True

        def _api_tree(self, repo: str, sub: str) -> None:
            """`hf download REPO FILE...` lists the tree (recursive, one page) before downloading."""
            base = hub.root / repo
            start = base / sub
            if not start.is_dir():
                self._error(404, "EntryNotFound", "Entry not found")
                return
            items = []
            for p in sorted(start.rglob("*")):
                rel = p.relative_to(base).as_posix()
                oid = hashlib.sha1(rel.encode()).hexdigest()
                if p.is_dir():
                    items.append({"type": "directory", "oid": oid, "size": 0, "path": rel})
                else:
                    size, sha = p.stat().st_size, hub.sha256(p)
                    lfs = {"oid": sha, "size": size, "pointerSize": 134}
                    items.append({"type": "file", "oid": oid, "size": size, "path": rel, "lfs": lfs})
            self._json(items)

        def _json(self, document: object) -> None:
            payload = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def _api_revision(self, repo: str, rev: str) -> None:
            base = hub.root / repo
            if not base.is_dir():
                self._error(404, "RepoNotFound", "Repository not found")
                return
            siblings = [
                {"rfilename": p.relative_to(base).as_posix(), "size": p.stat().st_size}
                for p in sorted(base.rglob("*"))
                if p.is_file()
            ]
            payload = json.dumps({"id": repo, "sha": hub.commit(repo), "siblings": siblings}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def main_args_to_server(
    root: str,
    host: str,
    port: int,
    tokens: list[str],
    *,
    cdn: bool = False,
    rate_bps: int | None = None,
    location_uses: int | None = None,
) -> HubServer:
    server = HubServer(Path(root), host, port, cdn=cdn, rate_bps=rate_bps, location_uses=location_uses)
    for spec in tokens:
        repo, _, token = spec.partition("=")
        server.tokens[repo] = token
    return server


def environment_for(server: HubServer) -> dict[str, str]:
    """The environment a client needs to use this server as its hub."""
    return {
        "HF_ENDPOINT": server.url,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
