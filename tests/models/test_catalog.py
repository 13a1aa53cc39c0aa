"""The shipped catalog and profiles, and manifest validation (errors name the file and the entry)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wanprov.errors import ManifestError, NotFoundError
from wanprov.models.catalog import load_catalog, profile_roles

WAN_ROLES = {
    "high_noise_unet",
    "low_noise_unet",
    "high_noise_lora",
    "low_noise_lora",
    "text_encoder",
    "vae",
    "rife",
}


def test_shipped_profiles_have_the_roles_workflows_load() -> None:
    catalog = load_catalog()
    for quant in ("q5", "q3", "q4km"):
        name = f"wan22-i2v-a14b-{quant}-lightning"
        roles = catalog.profile_roles(name)
        assert set(roles) == WAN_ROLES
        assert roles["high_noise_unet"].folder == "unet"
        assert roles["high_noise_unet"].name.endswith(".gguf")
        assert roles["vae"].relpath == "vae/wan_2.1_vae.safetensors"
        # RIFE VFI reads (or downloads at first use) <pack>/ckpts/rife/rife49.pth, not models/
        rife = roles["rife"]
        assert (rife.node_pack, rife.folder, rife.name) == (
            "ComfyUI-Frame-Interpolation",
            "ckpts/rife",
            "rife49.pth",
        )
        assert rife.size == 21345274 and rife.sha256
    assert set(catalog.profile_roles("flux1-schnell")) == {"diffusion_model", "clip_l", "t5", "vae"}
    official = [entry for entry in catalog.profile("flux1-schnell") if entry.repo.startswith("black-forest")]
    assert official and all(entry.gated for entry in official)
    assert not any(entry.gated for entry in catalog.profile("flux1-schnell-gguf"))


def test_seed_profile_uses_the_seeds_file_names() -> None:
    roles = profile_roles("wan22-i2v-a14b-q5-lightning")
    assert roles["high_noise_unet"].name == "Wan2.2-I2V-A14B-HighNoise-Q5_K_S.gguf"
    assert roles["high_noise_lora"].name == "Wan2.2-Lightning_I2V-A14B-4steps-lora_HIGH_fp16.safetensors"
    assert roles["low_noise_lora"].name == "Wan2.2-Lightning_I2V-A14B-4steps-lora_LOW_fp16.safetensors"


def test_q4km_profile_is_fully_hash_pinned() -> None:
    for entry in load_catalog().profile("wan22-i2v-a14b-q4km-lightning"):
        assert entry.sha256 and entry.size, entry.id


def test_every_entry_cites_a_source() -> None:
    assert all(entry.source for entry in load_catalog().files.values())


def test_lightx2v_twins_get_distinct_local_names() -> None:
    files = load_catalog().files
    assert files["wan22-lightx2v-seko-v1-high"].name != files["wan22-lightx2v-seko-v1-low"].name


def _manifest(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(body)
    return path


ENTRY = """files:
  my-lora:
    repo: me/loras
    revision: main
    path: sub/x.safetensors
    folder: loras
{extra}
"""


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ("    name: ../../etc/passwd", "bare file name"),
        ("    name: /etc/passwd", "bare file name"),
        ("    name: a\\\\b.safetensors", "bare file name"),
        ("    name: .hidden", "bare file name"),
        ("    sha256: xyz", "64 hex"),
        ("    size: -1", "non-negative"),
        ("    colour: red", "unknown key"),
        ("    gated: maybe", "gated"),
    ],
)
def test_bad_entries_are_refused_naming_file_and_entry(tmp_path: Path, extra: str, needle: str) -> None:
    path = _manifest(tmp_path, ENTRY.format(extra=extra))
    with pytest.raises(ManifestError) as caught:
        load_catalog([path])
    assert needle in caught.value.message
    assert str(path) in caught.value.message and "'my-lora'" in caught.value.message


@pytest.mark.parametrize("folder", ["../outside", "/abs", "loras/sub", "not_a_folder"])
def test_folder_escape_is_refused(tmp_path: Path, folder: str) -> None:
    body = ENTRY.format(extra="").replace("folder: loras", f"folder: {folder}")
    with pytest.raises(ManifestError, match="not a ComfyUI models folder"):
        load_catalog([_manifest(tmp_path, body)])


def test_repo_path_escape_is_refused(tmp_path: Path) -> None:
    body = ENTRY.format(extra="").replace("sub/x.safetensors", "../x.safetensors")
    with pytest.raises(ManifestError, match="relative inside the repo"):
        load_catalog([_manifest(tmp_path, body)])


def test_user_manifest_adds_files_and_profiles(tmp_path: Path) -> None:
    profiles = "profiles:\n  mine:\n    files:\n      lora: my-lora\n      vae: wan21-vae\n"
    body = ENTRY.format(extra="") + profiles
    catalog = load_catalog([_manifest(tmp_path, body)])
    roles = catalog.profile_roles("mine")
    assert roles["lora"].relpath == "loras/x.safetensors"
    assert roles["vae"].repo == "Comfy-Org/Wan_2.1_ComfyUI_repackaged"


def test_profile_naming_unknown_entry_is_refused(tmp_path: Path) -> None:
    body = "profiles:\n  mine:\n    files:\n      vae: nope\n"
    with pytest.raises(ManifestError, match="unknown catalog entry 'nope'"):
        load_catalog([_manifest(tmp_path, body)])


def test_two_entries_on_one_local_name_are_refused(tmp_path: Path) -> None:
    body = ENTRY.format(extra="    name: wan_2.1_vae.safetensors").replace("folder: loras", "folder: vae")
    with pytest.raises(ManifestError, match=r"lands on vae/wan_2\.1_vae\.safetensors"):
        load_catalog([_manifest(tmp_path, body)])


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(NotFoundError) as caught:
        load_catalog().profile_roles("nope")
    assert "wan22-i2v-a14b-q5-lightning" in (caught.value.hint or "")


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = _manifest(tmp_path, "files: [unclosed")
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_catalog([path])
