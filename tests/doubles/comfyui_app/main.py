"""TEST DOUBLE of ComfyUI's main.py (wanprov tests): parses the pinned version's launch flags and serves
`GET /system_stats` (same shape as ComfyUI 0.3.64's server.py) and `GET /object_info` (a recorded reply,
from COMFYUI_DOUBLE_OBJECT_INFO or object_info.json beside this file, its file lists filled from this host's
folders as the real server fills them: file_lists.py), `GET /view` (server.py view_image: a file of the
output, temp or input folder) and `GET /ws` (the websocket the events of a run go to, by clientId). It runs
no models; /prompt, /history, /queue and /interrupt are answered by prompt_queue.py.
COMFYUI_DOUBLE_DIE_AT_START=TEXT: log TEXT as a traceback's last line and exit 1 before serving."""

import base64
import contextlib
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from comfy.cli_args import parser

args = parser.parse_args()  # `--help` exits here, before torch is imported, as in the real main.py

if os.environ.get("COMFYUI_DOUBLE_DIE_AT_START"):  # a start that fails the way a real one does: log, exit 1
    print("Traceback (most recent call last):", file=sys.stderr)
    print(os.environ["COMFYUI_DOUBLE_DIE_AT_START"], file=sys.stderr, flush=True)
    sys.exit(1)

import torch  # noqa: E402 - the venv's (fake) torch: proves the service runs in the pinned venv
from prompt_queue import PromptQueue  # noqa: E402

HERE = Path(__file__).resolve().parent
VERSION = "0.3.64"


def _object_info() -> bytes:
    from file_lists import fill  # beside this file, as ComfyUI's own modules are

    path = Path(os.environ.get("COMFYUI_DOUBLE_OBJECT_INFO", HERE / "object_info.json"))
    data = json.loads(path.read_bytes()) if path.is_file() else {}
    configs = [c for group in args.extra_model_paths_config or [] for c in group]
    input_dir = Path(args.input_directory) if args.input_directory else HERE / "input"
    return json.dumps(fill(data, HERE, configs, input_dir)).encode()


def _model_roots() -> dict:
    from file_lists import folder_roots

    return folder_roots(HERE, [c for group in args.extra_model_paths_config or [] for c in group])


def _folder(kind: str) -> Path | None:
    """folder_paths.get_directory_by_type: --output/--temp/--input-directory, else under --base-directory
    (else this checkout)."""
    explicit = {"output": args.output_directory, "temp": args.temp_directory, "input": args.input_directory}
    if kind not in explicit:
        return None
    base = Path(args.base_directory) if args.base_directory else HERE
    return Path(explicit[kind]).resolve() if explicit[kind] else (base / kind).resolve()


class Sockets:
    """server.py's sockets by sid: send_sync(event, data, sid) -> {"type": event, "data": data} as a text
    frame (RFC 6455, unmasked from the server)."""

    def __init__(self) -> None:
        self.by_sid: dict[str, socket.socket] = {}
        self.lock = threading.Lock()

    def send(self, event: str, data: dict, sid: str | None) -> None:
        payload = json.dumps({"type": event, "data": data}).encode()
        n = len(payload)
        if n < 126:
            header = bytes([0x81, n])
        elif n < 65536:
            header = bytes([0x81, 126]) + struct.pack(">H", n)
        else:
            header = bytes([0x81, 127]) + struct.pack(">Q", n)
        with self.lock:
            if sid is not None:
                targets = [self.by_sid[sid]] if sid in self.by_sid else []
            else:
                targets = list(self.by_sid.values())
            for sock in targets:
                with contextlib.suppress(OSError):  # a client gone mid-run
                    sock.sendall(header + payload)


SOCKETS = Sockets()


def _custom_nodes() -> list[str]:
    folder = HERE / "custom_nodes"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def _ram() -> tuple[int, int]:
    """(total, available) bytes, as the real server's psutil.virtual_memory() gives them (Linux)."""
    fields = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = int(value.split()[0]) * 1024
    return fields.get("MemTotal", 0), fields.get("MemAvailable", 0)


def system_stats() -> dict:
    ram_total, ram_free = _ram()
    return {
        "system": {
            "os": os.name,
            "ram_total": ram_total,
            "ram_free": ram_free,
            "comfyui_version": VERSION,
            "required_frontend_version": "1.27.10",
            "installed_templates_version": "0.1.95",
            "required_templates_version": "0.1.95",
            "python_version": sys.version,
            "pytorch_version": torch.__version__,
            "embedded_python": False,
            "argv": sys.argv,
        },
        "devices": [
            {
                "name": "cpu",
                "type": "cpu",
                "index": None,
                "vram_total": 0,
                "vram_free": 0,
                "torch_vram_total": 0,
                "torch_vram_free": 0,
            }
        ],
        "wanprov_double": {"custom_nodes": _custom_nodes(), "user": os.getuid()},
    }


class Handler(BaseHTTPRequestHandler):
    queue: PromptQueue | None = None

    def do_GET(self) -> None:
        route, _, query = self.path.partition("?")
        if route in ("/ws", "/api/ws") and self.headers.get("Upgrade", "").lower() == "websocket":
            self._websocket(urllib.parse.parse_qs(query).get("clientId", [None])[0])
            return
        if route in ("/view", "/api/view"):
            self._view(urllib.parse.parse_qs(query))
            return
        if self.path == "/system_stats":
            body = json.dumps(system_stats()).encode()
        elif self.path == "/object_info":
            body = _object_info()
        else:
            self._queue_route(None)
            return
        self._reply(200, body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if self.path.split("?", 1)[0] in ("/upload/image", "/api/upload/image"):
            self._upload(self.rfile.read(length))
            return
        try:
            self._queue_route(json.loads(self.rfile.read(length) or b"null"))
        except ValueError:
            self._reply(400, b"")  # aiohttp's request.json() raises; ComfyUI answers 500 or 400

    def _upload(self, body: bytes) -> None:
        """server.py image_upload: the multipart `image` saved into the input folder."""
        from email.parser import BytesParser

        message = BytesParser().parsebytes(
            b"Content-Type: " + self.headers.get("Content-Type", "").encode() + b"\r\n\r\n" + body
        )
        parts = {p.get_param("name", header="content-disposition"): p for p in message.get_payload() or []}
        image = parts.get("image")
        filename = image.get_filename() if image is not None else None
        if not filename or "/" in filename or filename.startswith("."):
            self._reply(400, b"")
            return
        folder = Path(args.input_directory) if args.input_directory else HERE / "input"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / filename).write_bytes(image.get_payload(decode=True))
        self._reply(200, json.dumps({"name": filename, "subfolder": "", "type": "input"}).encode())

    def _websocket(self, client_id: str | None) -> None:
        """server.py websocket_handler: the upgrade, a `status` message with the sid, then the socket
        stays open (frames from the client are read and dropped) until the client closes it."""
        key = self.headers.get("Sec-WebSocket-Key", "")
        digest = hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        accept = base64.b64encode(digest)
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept.decode())
        self.end_headers()
        self.wfile.flush()
        sid = client_id or uuid.uuid4().hex
        with SOCKETS.lock:
            SOCKETS.by_sid[sid] = self.connection
        pending = len(self.queue.queue) + (1 if self.queue.running else 0) if self.queue else 0
        SOCKETS.send("status", {"status": {"exec_info": {"queue_remaining": pending}}, "sid": sid}, sid)
        try:
            while True:
                head = self.rfile.read(2)
                if len(head) < 2 or head[0] & 0x0F == 0x8:  # closed, or a close frame
                    break
                length = head[1] & 0x7F
                if length == 126:
                    length = struct.unpack(">H", self.rfile.read(2))[0]
                elif length == 127:
                    length = struct.unpack(">Q", self.rfile.read(8))[0]
                self.rfile.read((4 if head[1] & 0x80 else 0) + length)
        except OSError:
            pass
        finally:
            with SOCKETS.lock:
                if SOCKETS.by_sid.get(sid) is self.connection:
                    del SOCKETS.by_sid[sid]
            self.close_connection = True

    def _view(self, query: dict) -> None:
        """server.py view_image: 400 for a bad name or type, 403 for a subfolder outside, 404 if absent."""
        filename = (query.get("filename") or [""])[0]
        folder = _folder((query.get("type") or ["output"])[0])
        if not filename or filename[0] == "/" or ".." in filename or folder is None:
            self._reply(400, b"")
            return
        full = (folder / (query.get("subfolder") or [""])[0]).resolve()
        if os.path.commonpath((full, folder)) != str(folder):
            self._reply(403, b"")
            return
        file = full / filename
        if not file.is_file():
            self._reply(404, b"")
            return
        body = file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _queue_route(self, document: object) -> None:
        answer = self.queue.handle(self.command, self.path, document) if self.queue else None
        if answer is None:
            self.send_error(404)
            return
        self._reply(answer[0], b"" if answer[1] is None else json.dumps(answer[1]).encode())

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *items: object) -> None:
        sys.stderr.write("comfyui-double: " + (format % items) + "\n")


if __name__ == "__main__":
    host = (args.listen or "127.0.0.1").split(",")[0]
    Handler.queue = PromptQueue(
        lambda: json.loads(_object_info()),
        _folder("output"),
        SOCKETS.send,
        _model_roots,
        HERE / "custom_nodes",
    )
    server = ThreadingHTTPServer((host, args.port), Handler)
    print(f"To see the GUI go to: http://{host}:{args.port}", flush=True)
    server.serve_forever()
