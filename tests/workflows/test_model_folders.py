"""Which files a loader lists (folders + extensions, ComfyUI's folder_paths), with and without a ComfyUI dir.

`data/wrapper-gguf-experts.json` is the WanVideoWrapper template as wanprov rendered it before it was
withdrawn: a real ComfyUI with the pinned wrapper refused it (HTTP 400, value_not_in_list on both experts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wanprov.errors import ManifestError
from wanprov.workflows.check import check_prompt
from wanprov.workflows.model_folders import HostFolders, load_file_inputs
from wanprov.workflows.schema import ObjectInfo
from wanprov.workflows.validator import validate_prompt
from workflows.workflow_cli import run_workflow

DATA = Path(__file__).parent / "data"
WRAPPER = DATA / "wrapper-gguf-experts.json"
HIGH = "Wan2.2-I2V-A14B-HighNoise-Q5_K_S.gguf"


def _type_errors(prompt, schemas):
    return {
        (i.node_id, i.input_name)
        for i in validate_prompt(prompt, schemas).errors
        if i.kind == "value_not_in_list" and "can never be in its list" in i.message
    }


def test_gguf_on_the_pinned_wrapper_loader_is_an_error(shared_schemas, load_data):
    assert _type_errors(load_data(WRAPPER.name), shared_schemas) == {("12", "model"), ("13", "model")}


def test_loader_rules_follow_folder_paths_and_the_gguf_pack(shared_schemas, load_data):
    seed = load_data("seed-example.json")
    loaders = [k for k, n in seed.items() if n["class_type"] == "UnetLoaderGGUF"]
    assert _type_errors(seed, shared_schemas) == set()  # .gguf on the GGUF loader: listed
    seed[loaders[0]]["inputs"]["unet_name"] = "wan.safetensors"  # unet_gguf keeps .gguf only
    assert _type_errors(seed, shared_schemas) == {(loaders[0], "unet_name")}
    rules = shared_schemas.file_inputs
    assert rules.unlisted_type("UNETLoader", "unet_name", HIGH)  # core loader: supported_pt_extensions
    assert rules.unlisted_type("CLIPLoaderGGUF", "clip_name", "umt5.gguf") is None  # clip + clip_gguf
    assert rules.unlisted_type("CLIPLoaderGGUF", "clip_name", "umt5.safetensors") is None
    assert rules.unlisted_type("VAELoader", "vae_name", "pixel_space") is None  # not a file
    assert rules.unlisted_type("UNETLoader", "unet_name", "WAN.SAFETENSORS") is None  # ComfyUI lowercases


def test_a_live_servers_own_list_wins_over_the_rules(shared_schemas, load_data):
    """A live (not recorded) server that lists .gguf for the wrapper loader (a newer pack) is the truth."""
    raw = dict(shared_schemas.raw)
    node = json.loads(json.dumps(raw["WanVideoModelLoader"]))
    node["input"]["required"]["model"][0] = [HIGH, "Wan2.2-I2V-A14B-LowNoise-Q5_K_S.gguf"]
    raw["WanVideoModelLoader"] = node
    assert _type_errors(load_data(WRAPPER.name), ObjectInfo(raw, "live")) == set()


def test_check_cli_reports_the_wrapper_case_with_and_without_comfyui_dir(tmp_path):
    plain = run_workflow("check", str(WRAPPER), "--format", "json")
    assert plain.returncode == 1
    errors = json.loads(plain.stdout)["errors"]
    assert {(e["node_id"], e["kind"]) for e in errors if e["input_name"] == "model"} == {
        ("12", "value_not_in_list"),
        ("13", "value_not_in_list"),
    }
    # The files are on disk, where the GGUF loader would list them; the wrapper's loader still does not.
    unet = tmp_path / "models" / "diffusion_models"
    unet.mkdir(parents=True)
    (unet / HIGH).write_bytes(b"")
    with_dir = run_workflow("check", str(WRAPPER), "--comfyui-dir", str(tmp_path), "--format", "json")
    assert with_dir.returncode == 1
    report = json.loads(with_dir.stdout)
    assert any(e["node_id"] == "12" and e["input_name"] == "model" for e in report["errors"])
    high = next(f for f in report["files"] if f["name"] == HIGH)
    assert high["ok"] is False and str(unet) in high["looked_in"]


def _host(tmp_path: Path, extra: str | None = None) -> HostFolders:
    if extra is not None:
        (tmp_path / "extra_model_paths.yaml").write_text(extra)
    return HostFolders(load_file_inputs(), tmp_path)


def test_listing_is_recursive_filtered_and_ordered_like_comfyui(tmp_path):
    for rel in ("models/unet/a.gguf", "models/diffusion_models/wan/b.gguf", "models/unet/c.safetensors"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    host = _host(tmp_path)
    assert sorted(host.listing("unet_gguf")) == ["a.gguf", "wan/b.gguf"]
    assert sorted(host.listing("diffusion_models")) == ["c.safetensors"]
    assert host.find("UnetLoaderGGUF", "unet_name", "wan/b.gguf")[0] == (
        tmp_path / "models/diffusion_models/wan/b.gguf"
    )
    assert host.find("UNETLoader", "unet_name", "a.gguf")[0] is None


def test_load_image_lists_only_the_top_level_of_input(tmp_path):
    (tmp_path / "input" / "sub").mkdir(parents=True)
    (tmp_path / "input" / "top.png").write_bytes(b"")
    (tmp_path / "input" / "sub" / "deep.png").write_bytes(b"")
    (tmp_path / "input" / "notes.txt").write_bytes(b"")
    assert sorted(_host(tmp_path).listing("input")) == ["top.png"]


def test_extra_model_paths_yaml_base_path_legacy_names_and_is_default(tmp_path):
    shared = tmp_path / "shared-models"
    (shared / "gguf").mkdir(parents=True)
    (shared / "gguf" / "x.gguf").write_bytes(b"")
    (shared / "enc").mkdir()
    (shared / "enc" / "t5.safetensors").write_bytes(b"")
    comfy = tmp_path / "ComfyUI"
    (comfy / "models" / "unet").mkdir(parents=True)
    (comfy / "models" / "unet" / "x.gguf").write_bytes(b"")
    host = _host(
        comfy,
        f"wanprov:\n  base_path: {shared}\n  is_default: true\n  unet: gguf\n"
        "  clip: |\n    enc\n    enc2\nother:\n  loras: relative/loras\nempty:\n",
    )
    # legacy `unet` maps to diffusion_models, which GGUF's unet_gguf shares; is_default puts it first
    assert host.folders("unet_gguf")[0] == shared / "gguf"
    assert host.find("UnetLoaderGGUF", "unet_name", "x.gguf")[0] == shared / "gguf" / "x.gguf"
    assert host.find("CLIPLoader", "clip_name", "t5.safetensors")[0] == shared / "enc" / "t5.safetensors"
    assert shared / "enc2" in host.folders("text_encoders")
    assert comfy / "relative" / "loras" in host.folders("loras")  # relative to the yaml's folder


def test_extra_model_paths_config_files_come_after_the_one_beside_main_py(tmp_path):
    """main.py: ComfyUI/extra_model_paths.yaml first, then each --extra-model-paths-config (the fleet's)."""
    (tmp_path / "data").mkdir()
    config = tmp_path / "data" / "extra_model_paths.yaml"
    config.write_text("fleet:\n  base_path: /srv/models\n  loras: loras\n")
    host = HostFolders(load_file_inputs(), tmp_path / "ComfyUI", [config])
    assert host.folders("loras") == [tmp_path / "ComfyUI" / "models" / "loras", Path("/srv/models/loras")]
    refused = run_workflow("check", str(WRAPPER), "--extra-model-paths-config", str(config))
    assert refused.returncode == 2 and "--comfyui-dir" in refused.stderr
    used = run_workflow(
        "check", str(WRAPPER), "--comfyui-dir", str(tmp_path), "--extra-model-paths-config", str(config),
        "--format", "json",
    )  # fmt: skip
    lora = next(f for f in json.loads(used.stdout)["files"] if f["class_type"] == "WanVideoLoraSelect")
    assert "/srv/models/loras" in lora["looked_in"]


def test_a_broken_extra_model_paths_yaml_names_itself(tmp_path):
    with pytest.raises(ManifestError, match=r"extra_model_paths\.yaml"):
        _host(tmp_path, "- not\n- a mapping\n")


def test_check_uses_extra_model_paths(tmp_path, shared_schemas, load_data):
    seed = load_data("seed-example.json")
    names = {n["inputs"]["unet_name"] for n in seed.values() if n["class_type"] == "UnetLoaderGGUF"}
    (tmp_path / "elsewhere").mkdir()
    for name in names:
        (tmp_path / "elsewhere" / name).write_bytes(b"")
    comfy = tmp_path / "ComfyUI"
    comfy.mkdir()
    (comfy / "extra_model_paths.yaml").write_text(f"x:\n  diffusion_models: {tmp_path / 'elsewhere'}\n")
    files = check_prompt(seed, shared_schemas, comfyui_dir=comfy).files
    assert {f.name for f in files if f.found} >= names


def test_listings_equal_a_real_comfyuis_lists(tmp_path, fixtures_dir):
    """fixtures/comfyui/file_lists.json: the lists a real ComfyUI (+ GGUF + wrapper @ pinned commits) gave
    for a tree of placeholder files and an extra_model_paths.yaml; the rules must rebuild every one."""
    recorded = json.loads((fixtures_dir / "comfyui" / "file_lists.json").read_text())
    for rel in recorded["tree"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    rules = load_file_inputs()
    host = _host(tmp_path / "ComfyUI", recorded["extra_model_paths_yaml"])
    assert set(recorded["lists"]) == set(rules.inputs)
    for cls, spec in rules.inputs.items():
        for name, keys in spec.items():
            real = sorted(v for v in recorded["lists"][cls][name] if v not in rules.pseudo)
            assert sorted({f for key in keys for f in host.listing(key)}) == real, (cls, name)
