"""Test double: tiny wheels written directly as zip files, served to pip with `--no-index --find-links`.

They stand in for the CUDA torch wheels (no PyTorch index is reachable here) and for the packages the
stand-in ComfyUI and node packs require. Each `torch` wheel is the GPU double's fake torch with its own
build (version, CUDA, arch list): like the real one, it finds the GPUs through the host's driver (the fake
host named by WANPROV_FAKE_GPU_HOST), never through a module on someone else's path.

Two indexes serve the torch family as the real ones do: `build_wheelhouse(dest, "pytorch")` like
download.pytorch.org/whl/cu128 (local labels: `torch-2.9.1+cu128`), `build_wheelhouse(dest, "pypi")` like
the ordinary index or a mirror of it (no labels: Linux `torch-2.9.1` is the cu128 build). Both OpenCV
distributions install the same `cv2` package, so one overwrites the other as the real wheels do.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path

from doubles.gpu.specs import TORCH_ARCH

# (name, version, requires): the wheelhouse every stack test uses.
TORCH_PINNED = "2.9.1+cu128"
WHEELS: list[tuple[str, str, list[str]]] = [
    ("torch", "2.9.1+cu128", []),
    ("torch", "2.9.1+cu126", []),
    ("torch", "2.5.1", []),  # what the "bad" node pack asks for: must never replace the pinned torch
    # A torch without sm_120 kernels (the fleet's rtx5090-old pins it): the PyTorch index's cu124 family.
    ("torch", "2.5.1+cu124", []),
    ("torchvision", "0.20.1+cu124", ["torch==2.5.1+cu124"]),
    ("torchaudio", "2.5.1+cu124", ["torch==2.5.1+cu124"]),
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
# The build of a torch without a local label: the ordinary index's Linux torch 2.9.1 is the cu128 build,
# 2.5.1 the cu124 one.
_UNLABELLED = {"2.9.1": "cu128", "2.5.1": "cu124"}
_CUDA = {"cu124": "12.4", "cu126": "12.6", "cu128": "12.8", "cu130": "13.0"}
# The GPU double's fake torch: the torch wheels carry it (with their own _build.json).
TORCH_FILES = Path(__file__).resolve().parents[1] / "gpu" / "files" / "torch"


_WHEEL_FILE = b"Wheel-Version: 1.0\nGenerator: wanprov-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _record_line(arcname: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def _torch_build(version: str) -> dict[str, object]:
    """What a torch wheel knows of itself: its version, the CUDA it was built for, its kernels' arch list."""
    public, _, label = version.partition("+")
    label = label or _UNLABELLED.get(public, "")
    return {"version": version, "cuda": _CUDA.get(label), "arch_list": _torch_arch(public, label)}


def _torch_arch(public: str, label: str) -> list[str]:
    if label == "cu128":  # 2.7 added sm_120 with compute_120; 2.9 dropped sm_50/60 (TORCH_ARCH)
        return TORCH_ARCH["cu128-2.7" if public.startswith("2.7") else "cu128-2.9"]
    return TORCH_ARCH.get(label, [])


def _module_files(name: str, version: str) -> dict[str, bytes]:
    """The wheel's package: torch is the GPU double's fake torch, which asks the host's (fake) driver
    for its GPUs at run time; every other distribution a module with its version."""
    if name != "torch":
        module = _PACKAGE.get(name, name.replace("-", "_"))
        source = f'"""Test double of {name} (wanprov tests)."""\n__version__ = "{version}"\n'
        return {f"{module}/__init__.py": source.encode()}
    files = {
        f"torch/{path.relative_to(TORCH_FILES).as_posix()}": path.read_bytes()
        for path in sorted(TORCH_FILES.rglob("*.py"))
    }
    files["torch/_build.json"] = json.dumps(_torch_build(version), indent=2).encode()
    return files


def build_wheel(dest: Path, name: str, version: str, requires: list[str] | None = None) -> Path:
    """Write `name-version-py3-none-any.whl` into `dest` (a module named after the distribution)."""
    dest.mkdir(parents=True, exist_ok=True)
    module = _PACKAGE.get(name, name.replace("-", "_"))
    dist_info = f"{name.replace('-', '_')}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {req}\n" for req in requires or [])
    files = {
        **_module_files(name, version),
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
