"""Test double: tiny wheels written directly as zip files, served to pip with `--no-index --find-links`.

They stand in for the CUDA torch wheels (no PyTorch index is reachable here) and for the packages the
stand-in ComfyUI and node packs require. Each fake `torch` reports its version and CUDA like the real one.

Two indexes serve the torch family as the real ones do: `build_wheelhouse(dest, "pytorch")` like
download.pytorch.org/whl/cu128 (local labels: `torch-2.9.1+cu128`), `build_wheelhouse(dest, "pypi")` like
the ordinary index or a mirror of it (no labels: Linux `torch-2.9.1` is the cu128 build). Both OpenCV
distributions install the same `cv2` package, so one overwrites the other as the real wheels do.
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
    ("opencv-python", "4.12.0.88", []),
]
# The torch family each index serves (the packages above that are not torch's come with either).
TORCH_FAMILY = {
    "pytorch": [
        ("torch", "2.9.1+cu128", []),
        ("torchvision", "0.24.1+cu128", ["torch==2.9.1+cu128"]),
        ("torchaudio", "2.9.1+cu128", ["torch==2.9.1+cu128"]),
    ],
    "pypi": [
        ("torch", "2.9.1", []),
        ("torchvision", "0.24.1", ["torch==2.9.1"]),
        ("torchaudio", "2.9.1", ["torch==2.9.1"]),
    ],
}
# Distribution -> the import package its wheel installs, where it is not the distribution's own name.
_PACKAGE = {"opencv-python": "cv2", "opencv-python-headless": "cv2"}
# The CUDA of a torch build without a local label (the ordinary index's Linux torch 2.9.1 is cu128).
_UNLABELLED_CUDA = {"2.9.1": "12.8"}


_WHEEL_FILE = b"Wheel-Version: 1.0\nGenerator: wanprov-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _record_line(arcname: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def _module_source(name: str, version: str) -> str:
    if name != "torch":
        return f'"""Test double of {name} (wanprov tests)."""\n__version__ = "{version}"\n'
    public, _, label = version.partition("+")
    cuda = (
        {"cu128": "12.8", "cu126": "12.6", "cu130": "13.0"}.get(label)
        if label
        else _UNLABELLED_CUDA.get(public)
    )
    return (
        '"""Test double of torch (wanprov tests): versions, no CUDA device, CPU tensors of floats."""\n'
        f'__version__ = "{version}"\n\n\n'
        "class version:  # noqa: N801 - mirrors torch.version\n"
        f"    cuda = {cuda!r}\n\n\n"
        "class cuda:  # noqa: N801 - mirrors torch.cuda\n"
        "    @staticmethod\n"
        "    def is_available():\n"
        "        return False\n\n\n"
        "class Tensor:\n"
        "    def __init__(self, values):\n"
        "        self._values = list(values)\n\n"
        "    def __mul__(self, other):\n"
        "        return Tensor([v * other for v in self._values])\n\n"
        "    def sum(self):\n"
        "        return Tensor([sum(self._values)])\n\n"
        "    def item(self):\n"
        "        return self._values[0]\n\n\n"
        "def ones(n, device='cpu'):\n"
        "    if str(device) != 'cpu':\n"
        "        raise RuntimeError('Found no NVIDIA driver on your system.')\n"
        "    return Tensor([1.0] * n)\n"
    )


def build_wheel(dest: Path, name: str, version: str, requires: list[str] | None = None) -> Path:
    """Write `name-version-py3-none-any.whl` into `dest` (a module named after the distribution)."""
    dest.mkdir(parents=True, exist_ok=True)
    module = _PACKAGE.get(name, name.replace("-", "_"))
    dist_info = f"{name.replace('-', '_')}-{version}.dist-info"
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
    path = dest / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for arcname, data in files.items():
            archive.writestr(arcname, data)
    return path


def build_wheelhouse(dest: Path, index: str | None = None) -> Path:
    """Every wheel of WHEELS; with `index` ("pytorch" or "pypi"), only that index's torch family instead."""
    wheels = (
        WHEELS if index is None else [w for w in WHEELS if w[0] not in ("torch", "torchvision", "torchaudio")]
    )
    for name, version, requires in [*wheels, *(TORCH_FAMILY[index] if index else [])]:
        build_wheel(dest, name, version, requires)
    return dest
