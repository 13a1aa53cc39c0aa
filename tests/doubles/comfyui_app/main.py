"""TEST DOUBLE of ComfyUI's main.py (wanprov tests): parses the pinned version's launch flags and serves
`GET /system_stats` (same shape as ComfyUI 0.3.64's server.py) and `GET /object_info` (a recorded reply,
from COMFYUI_DOUBLE_OBJECT_INFO or object_info.json beside this file, its file lists filled from this host's
folders as the real server fills them: file_lists.py). It runs no models; /prompt, /history, /queue and
/interrupt are answered by prompt_queue.py.
COMFYUI_DOUBLE_DIE_AT_START=TEXT: log TEXT as a traceback's last line and exit 1 before serving."""

import json
import os
import sys
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


def _custom_nodes() -> list[str]:
    folder = HERE / "custom_nodes"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def system_stats() -> dict:
    return {
        "system": {
            "os": os.name,
            "ram_total": 0,
            "ram_free": 0,
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
    Handler.queue = PromptQueue(lambda: json.loads(_object_info()), _model_roots, HERE / "custom_nodes")
    server = ThreadingHTTPServer((host, args.port), Handler)
    print(f"To see the GUI go to: http://{host}:{args.port}", flush=True)
    server.serve_forever()
