"""Local git repositories standing in for ComfyUI and the node packs, and manifests pointing at them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from wanprov.stack.manifest import load_node_packs

# Requirements each stand-in pack declares (names of real packages, served as local fake wheels).
PACK_REQUIREMENTS = {
    "ComfyUI-GGUF": "gguf>=0.13.0\n",
    "ComfyUI-TeaCache": "",
    "ComfyUI-VideoHelperSuite": "opencv-python\nimageio-ffmpeg\n",  # as the real packs: VHS asks for the GUI
    "ComfyUI-KJNodes": "opencv-python-headless\n",  # build, KJNodes for the headless one (the same cv2)
    "ComfyUI-Frame-Interpolation": "",
    "ComfyUI-WanVideoWrapper": "gguf\n",
}
BAD_PACK = "ComfyUI-Bad-Torch-Pin"


@dataclass
class SourceRepos:
    root: Path
    comfyui_url: str
    comfyui_commit: str
    packs: dict[str, tuple[str, str]]  # name -> (url, commit)
    gguf_second_commit: str

    def manifest(self, dest: Path, *, bad: bool = False, branch_for: str | None = None) -> Path:
        """A node-packs manifest like the shipped one, with the URLs and commits of the local repos."""
        shipped = load_node_packs()
        packs = {}
        for name, pack in shipped.items():
            url, commit = self.packs[name]
            packs[name] = {
                "url": url,
                "commit": "main" if name == branch_for else commit,
                "source": f"test double of {pack.source}",
                "requirements": pack.requirements,
                "optional": pack.optional,
            }
        if bad:
            url, commit = self.packs[BAD_PACK]
            packs[BAD_PACK] = {"url": url, "commit": commit, "source": "test double", "optional": False}
        # the local repos are file:// URLs: the documented opt-in (https only by default)
        document = {"source": "tests", "allow_url_schemes": ["file"], "packs": packs}
        dest.write_text(yaml.safe_dump(document, sort_keys=False))
        return dest
