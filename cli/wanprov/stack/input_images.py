"""The images the shipped templates start from, in the instances' input folder.

ComfyUI's LoadImage lists the files of its input folder, and POST /prompt refuses a name not in that list
("Invalid image file" / value_not_in_list). A provisioned instance's input folder is the service's data
folder (--input-directory), not the checkout's input/ where ComfyUI ships example.png - the image every
shipped template names (manifests/workflows/defaults.yaml `image`). So each one is copied there from the
pinned checkout: never over a file of the same name (a user's), readable by the service.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from wanprov.stack.errors import RefusedError

COPY, PRESENT = "copy", "present"


@dataclass(frozen=True)
class InputImage:
    name: str
    source: str  # in the checkout's input/
    dest: str  # in the instances' input folder
    action: str  # copy | present

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def template_images() -> list[str]:
    """Every `image` a shipped template names by default (the tiers and presets do not change it)."""
    from wanprov.workflows.params import load_defaults

    names = {str(t.defaults["image"]) for t in load_defaults()[1].values() if t.defaults.get("image")}
    return sorted(names)


def plan_input_images(checkout: Path, input_dir: Path, names: list[str] | None = None) -> list[InputImage]:
    """What copying the templates' images from `checkout`/input into `input_dir` would do."""
    return [
        InputImage(
            name,
            str(checkout / "input" / name),
            str(input_dir / name),
            PRESENT if (input_dir / name).exists() else COPY,
        )
        for name in (template_images() if names is None else names)
    ]


def apply_input_images(plan: list[InputImage]) -> list[InputImage]:
    """Copy each pending image (atomically: a temp file in the folder, then a rename that never replaces
    a file that appeared meanwhile), mode 0644, owned like the folder when run as root. Returns the
    copied ones."""
    done = []
    for image in plan:
        if image.action != COPY:
            continue
        source, dest = Path(image.source), Path(image.dest)
        if not source.is_file():
            raise RefusedError(
                f"{source} is missing: the ComfyUI checkout ships it and the templates name it",
                hint="check out a ComfyUI commit that has input/example.png, or put the image there",
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        folder = dest.parent.stat()
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                shutil.copyfileobj(src, out)
            Path(tmp).chmod(0o644)
            if os.geteuid() == 0:
                os.chown(tmp, folder.st_uid, folder.st_gid)
            os.link(tmp, dest)  # fails if the name appeared meanwhile: a user's file is never replaced
        except FileExistsError:
            continue
        finally:
            Path(tmp).unlink(missing_ok=True)
        done.append(image)
    return done
