"""TEST DOUBLE part: fill the file-name COMBO lists of `GET /object_info` the way the real ComfyUI does -
at request time, from its model folders (its own models/ plus those an --extra-model-paths-config adds) and
its input folder - so a workflow naming a file the host lacks is refused here as it is there."""

from pathlib import Path

# ComfyUI folder_paths names per node input (nodes.py, ComfyUI-GGUF, LoadImage); legacy names are mapped
# as folder_paths.map_legacy does: clip -> text_encoders, unet -> diffusion_models.
FOLDERS = {
    ("UnetLoaderGGUF", "unet_name"): ("diffusion_models",),
    ("UNETLoader", "unet_name"): ("diffusion_models",),
    ("CLIPLoader", "clip_name"): ("text_encoders",),
    ("CLIPLoaderGGUF", "clip_name"): ("text_encoders",),
    ("DualCLIPLoader", "clip_name1"): ("text_encoders",),
    ("DualCLIPLoader", "clip_name2"): ("text_encoders",),
    ("DualCLIPLoaderGGUF", "clip_name1"): ("text_encoders",),
    ("DualCLIPLoaderGGUF", "clip_name2"): ("text_encoders",),
    ("VAELoader", "vae_name"): ("vae",),
    ("LoraLoader", "lora_name"): ("loras",),
    ("LoraLoaderModelOnly", "lora_name"): ("loras",),
    ("CLIPVisionLoader", "clip_name"): ("clip_vision",),
    ("CheckpointLoaderSimple", "ckpt_name"): ("checkpoints",),
}
LEGACY = {"clip": "text_encoders", "unet": "diffusion_models"}
PT_EXTENSIONS = {".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"}


def folder_roots(base: Path, extra_configs: list[str]) -> dict[str, list[Path]]:
    """folder name -> directories, as folder_paths plus utils/extra_config.load_extra_path_config."""
    roots: dict[str, list[Path]] = {}
    models = base / "models"
    if models.is_dir():
        for child in models.iterdir():
            roots.setdefault(LEGACY.get(child.name, child.name), []).append(child)
    for config in extra_configs:
        for section in _read_config(Path(config)):
            base_path = Path(section.pop("base_path", [""])[0]).expanduser()
            section.pop("is_default", None)
            for name, subs in section.items():
                for sub in subs:
                    roots.setdefault(LEGACY.get(name, name), []).append(base_path / sub)
    return roots


def _read_config(path: Path) -> list[dict[str, list[str]]]:
    """The subset of YAML an extra_model_paths.yaml uses (`section:`, `  key: value`, `  key: |` + lines);
    standard library only, as the double's venv has no PyYAML."""
    sections: list[dict[str, list[str]]] = []
    key = None
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            sections.append({})
        elif indent == 2:
            key, _, value = line.strip().partition(":")
            value = value.strip()
            sections[-1][key] = [] if value in ("|", "") else [value]
        elif key is not None:
            sections[-1][key].append(line.strip())
    return sections


def _files(dirs: list[Path], extensions: set[str] | None) -> list[str]:
    found = set()
    for root in dirs:
        for path in root.rglob("*") if root.is_dir() else ():
            relative = path.relative_to(root)
            hidden = any(part.startswith(".") for part in relative.parts)
            if path.is_file() and not hidden and (extensions is None or path.suffix.lower() in extensions):
                found.add(relative.as_posix())
    return sorted(found)


def fill(object_info: dict, base: Path, extra_configs: list[str], input_dir: Path) -> dict:
    roots = folder_roots(base, extra_configs)
    for (cls, name), folders in FOLDERS.items():
        spec = object_info.get(cls, {}).get("input", {}).get("required", {}).get(name)
        if spec is None:
            continue
        # ComfyUI-GGUF: the UNet loaders list .gguf only; its CLIP loaders list clip (pt files) + clip_gguf
        extensions = {".gguf"} if cls.startswith("UnetLoader") else PT_EXTENSIONS
        extensions = extensions | {".gguf"} if "CLIPLoaderGGUF" in cls else extensions
        spec[0] = _files([d for folder in folders for d in roots.get(folder, [])], extensions)
    image = object_info.get("LoadImage", {}).get("input", {}).get("required", {}).get("image")
    if image is not None:
        image[0] = sorted(p.name for p in input_dir.iterdir() if p.is_file()) if input_dir.is_dir() else []
    return object_info
