"""Starts the ComfyUI test double (tests/doubles/comfyui_app) as a real process on a free loopback port."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "doubles" / "comfyui_app"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def comfyui_double(
    root: Path,
    object_info: Path,
    *,
    file_lists: Mapping[str, Mapping[str, list[str]]] | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[tuple[str, Path]]:
    """Yield (base URL, ComfyUI folder). `file_lists`: what the server lists for each file input."""
    comfy = root / "ComfyUI"
    shutil.copytree(APP, comfy, ignore=shutil.ignore_patterns("__pycache__"))
    fake = root / "site"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text('__version__ = "2.13.0+cpu"\n')
    extra = {"COMFYUI_DOUBLE_OBJECT_INFO": str(object_info), "PYTHONPATH": str(fake), **(env or {})}
    if file_lists is not None:
        (root / "file_lists.json").write_text(json.dumps(file_lists))
        extra["COMFYUI_DOUBLE_FILE_LISTS"] = str(root / "file_lists.json")
    port = _free_port()
    log = (root / "comfyui.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "main.py", "--listen", "127.0.0.1", "--port", str(port)],
        cwd=comfy,
        env={**os.environ, **extra},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            if process.poll() is not None:
                raise RuntimeError(f"the double exited: {(root / 'comfyui.log').read_text()}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(url + "/system_stats", timeout=1).close()
                break
            time.sleep(0.05)
        yield url, comfy
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def post(url: str, path: str, body: object) -> tuple[int, object]:
    request = urllib.request.Request(
        url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def get(url: str, path: str) -> object:
    with urllib.request.urlopen(url + path, timeout=10) as response:
        return json.loads(response.read())
