"""Test double: tiny wheels written directly as zip files, served to pip with `--no-index --find-links`.

They stand in for the CUDA torch wheels (no PyTorch index is reachable here) and for the packages the
stand-in ComfyUI and node packs require. Each fake `torch` reports its version and CUDA like the real one.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

# (name, version, requires): the wheelhouse every stack test uses.
TORCH_PINNED = "2.9.1+cu128"
WHEELS: list[tuple[str, str, list[str]]] = [
    ("torch", "2.9.1+cu128", []),
    ("torch", "2.9.1+cu126", []),
    ("torch", "2.5.1", []),  # what the "bad" node pack asks for: must never replace the pinned torch
    ("torchvision", "0.24.1+cu128", ["torch==2.9.1+cu128"]),
    ("torchaudio", "2.9.1+cu128", ["torch==2.9.1+cu128"]),
    ("comfyui-frontend-package", "1.27.10", []),
    ("gguf", "0.17.1", []),
    ("imageio-ffmpeg", "0.6.0", []),
    ("opencv-python-headless", "4.12.0.88", []),
]


_WHEEL_FILE = b"Wheel-Version: 1.0\nGenerator: wanprov-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _record_line(arcname: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def _module_source(name: str, version: str) -> str:
    if name != "torch":
        return f'"""Test double of {name} (wanprov tests)."""\n__version__ = "{version}"\n'
    cuda = {"cu128": "12.8", "cu126": "12.6", "cu130": "13.0"}.get(version.partition("+")[2])
    return (
        '"""Test double of torch (wanprov tests): versions only, no tensors."""\n'
        f'__version__ = "{version}"\n\n\n'
        "class version:  # noqa: N801 - mirrors torch.version\n"
        f"    cuda = {cuda!r}\n\n\n"
        "class cuda:  # noqa: N801 - mirrors torch.cuda\n"
        "    @staticmethod\n"
        "    def is_available():\n"
        "        return False\n"
    )


def build_wheel(dest: Path, name: str, version: str, requires: list[str] | None = None) -> Path:
    """Write `name-version-py3-none-any.whl` into `dest` (a module named after the distribution)."""
    dest.mkdir(parents=True, exist_ok=True)
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {req}\n" for req in requires or [])
    files = {
        f"{module}/__init__.py": _module_source(name, version).encode(),
        f"{dist_info}/METADATA": metadata.encode(),
        f"{dist_info}/WHEEL": _WHEEL_FILE,
        f"{dist_info}/top_level.txt": f"{module}\n".encode(),
    }
    record = [_record_line(arc, data) for arc, data in files.items()] + [f"{dist_info}/RECORD,,"]
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = dest / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for arcname, data in files.items():
            archive.writestr(arcname, data)
    return path


def build_wheelhouse(dest: Path) -> Path:
    for name, version, requires in WHEELS:
        build_wheel(dest, name, version, requires)
    return dest
