"""Starts the ComfyUI test double (tests/doubles/comfyui_app) as a real process on a free loopback port."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from doubles.comfyui_app import example_png
from wanprov.workflows.model_folders import load_file_inputs

APP = Path(__file__).resolve().parents[1] / "doubles" / "comfyui_app"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The smallest files each real loader parses (the double refuses malformed ones as they do): a safetensors
# header `{}` (no tensors), a GGUF v3 header with no tensors and no metadata.
MINIMAL_FILES = {
    ".safetensors": struct.pack("<Q", 8) + b"{}      ",
    ".gguf": b"GGUF" + struct.pack("<IQQ", 3, 0, 0),
}


def _place(comfy: Path, class_type: str, name: str, files: list[str]) -> None:
    """Placeholder files where the real server looks for this input: the double lists what its folders
    hold (as ComfyUI does), so a test names files by putting them there, never by telling it. Each is the
    smallest file of its format that the loader parses (MINIMAL_FILES)."""
    folders = load_file_inputs().folders_of(class_type, name)
    if not folders:
        raise ValueError(f"{class_type}.{name} names no file folder")
    for file in files:
        target = comfy / folders[0] / file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(MINIMAL_FILES.get(target.suffix, b""))


@contextlib.contextmanager
def comfyui_double(
    root: Path,
    object_info: Path,
    *,
    file_lists: Mapping[str, Mapping[str, list[str]]] | None = None,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
) -> Iterator[tuple[str, Path]]:
    """Yield (base URL, ComfyUI folder). `file_lists`: the files the server must
    list for each file input ({class_type: {input: [names]}}), placed in its folders; `args`: more launch
    flags (--output-directory ...)."""
    comfy = root / "ComfyUI"
    shutil.copytree(APP, comfy, ignore=shutil.ignore_patterns("__pycache__"))
    (comfy / "input").mkdir()
    (comfy / "input" / "example.png").write_bytes(example_png())  # as a ComfyUI checkout ships it
    fake = root / "site"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text('__version__ = "2.13.0+cpu"\n')
    extra = {"COMFYUI_DOUBLE_OBJECT_INFO": str(object_info), "PYTHONPATH": str(fake), **(env or {})}
    for class_type, inputs in (file_lists or {}).items():
        for name, files in inputs.items():
            _place(comfy, class_type, name, files)
    port = _free_port()
    log = (root / "comfyui.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "main.py", "--listen", "127.0.0.1", "--port", str(port), *args],
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
