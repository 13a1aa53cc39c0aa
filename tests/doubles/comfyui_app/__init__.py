"""Builds the ComfyUI test double into a local git repository (its files live beside this module)."""

from __future__ import annotations

import shutil
from pathlib import Path

from doubles.git import commit_files, make_repo

APP_DIR = Path(__file__).resolve().parent
_FILES = (
    "main.py",
    "file_lists.py",
    "prompt_queue.py",
    "model_files.py",
    "media_out.py",
    "requirements.txt",
    "comfy/__init__.py",
    "comfy/cli_args.py",
)


def example_png() -> bytes:
    """A stand-in for ComfyUI's input/example.png: a real 64x64 RGB PNG with varied pixels."""
    import tempfile

    from doubles.comfyui_app.media_out import write_png

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "example.png"
        write_png(path, 64, 64)
        return path.read_bytes()


def build_comfyui_repo(dest: Path, object_info: Path | None = None) -> str:
    """Create a git repo at `dest` holding the double (and object_info.json); return its commit."""
    files: dict[str, str | bytes] = {rel: (APP_DIR / rel).read_text() for rel in _FILES}
    # ComfyUI ships input/example.png (the image the shipped templates name) and ignores the rest of input/
    files[".gitignore"] = (
        "/custom_nodes/*\n/models/\n/user/\n/output/\n/input/*\n!/input/example.png\n/temp/\n__pycache__/\n"
    )
    files["input/example.png"] = example_png()
    commit = make_repo(dest, files, "ComfyUI test double")
    if object_info is not None:
        shutil.copyfile(object_info, dest / "object_info.json")
        commit = commit_files(dest, {}, "recorded object_info.json")
    return commit
