"""fetch-models against the hub double: placement, verification, idempotence, every fault of the issue."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from doubles.hub import Fault
from models.conftest import FILES, GATED_REPO, REPO, TOKEN, Hub, write_manifest


def fetch(wanprov, hub: Hub, models: Path, *extra: str):
    return wanprov(
        "fetch-models", "--profile", "test-profile", "--manifest", str(hub.manifest),
        "--models-dir", str(models), *extra,
    )  # fmt: skip


def assert_all_in_place(hub: Hub, models: Path) -> None:
    for file_id, repo_path, folder, name, _ in FILES:
        final = models / folder / (name or repo_path.rsplit("/", 1)[-1])
        assert final.read_bytes() == hub.content[file_id], file_id
    leftovers = list(models.rglob("*.part"))
    assert leftovers == []


def test_fetch_places_bare_names_then_rerun_moves_nothing(wanprov, hub: Hub, tmp_path: Path) -> None:
    models = tmp_path / "models"
    first = fetch(wanprov, hub, models, "--format", "json")
    assert first.code == 0, first.err
    document = json.loads(first.out)
    assert document["schema"] == "wanprov.fetch/1" and document["ok"] is True
    assert {f["status"] for f in document["files"]} == {"downloaded"}
    assert document["to_download_bytes"] == 0  # after the run: what is still missing, not what was planned
    assert_all_in_place(hub, models)
    assert not (models / "split_files").exists()  # repo sub-paths are not kept
    assert (models / "loras" / "lora_high.safetensors").is_file()
    record = json.loads((models / ".wanprov" / "verified.json").read_text())
    assert record["files"]["vae/vae.safetensors"]["sha256"] == hub.sha("vae")

    hub.server.requests.clear()
    second = fetch(wanprov, hub, models, "--format", "json")
    assert second.code == 0
    assert {f["status"] for f in json.loads(second.out)["files"]} == {"present"}
    assert hub.server.requests == []  # pinned and recorded: no HEAD, no GET


def test_dry_run_plans_and_exits_pending(wanprov, hub: Hub, tmp_path: Path) -> None:
    models = tmp_path / "models"
    result = fetch(wanprov, hub, models, "--dry-run", "--format", "json")
    assert result.code == 4
    document = json.loads(result.out)
    assert document["to_download_bytes"] == sum(size for *_, size in FILES)
    assert document["free_bytes"] > 0
    assert {f["status"] for f in document["files"]} == {"pending"}
    assert not models.exists()  # a dry run writes nothing
    assert hub.gets() == []
    assert fetch(wanprov, hub, models).code == 0
    assert fetch(wanprov, hub, models, "--dry-run").code == 0


def test_comfyui_dir_means_its_models_folder(wanprov, hub: Hub, tmp_path: Path) -> None:
    result = wanprov(
        "fetch-models", "--profile", "test-profile", "--manifest", str(hub.manifest),
        "--comfyui-dir", str(tmp_path / "ComfyUI"), "--only", "vae",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert (tmp_path / "ComfyUI" / "models" / "vae" / "vae.safetensors").is_file()


def test_models_dir_flags_are_exclusive(wanprov, hub: Hub, tmp_path: Path) -> None:
    result = wanprov("fetch-models", "--profile", "test-profile", "--manifest", str(hub.manifest))
    assert result.code == 2
    assert "--comfyui-dir or --models-dir" in result.err


def test_only_selects_by_glob(wanprov, hub: Hub, tmp_path: Path) -> None:
    models = tmp_path / "models"
    assert fetch(wanprov, hub, models, "--only", "unet/*").code == 0
    assert sorted(p.name for p in (models / "unet").glob("*.gguf")) == ["model-high.gguf", "model-low.gguf"]
    assert not (models / "vae").exists()


@pytest.mark.parametrize(
    "fault",
    [
        Fault(cut_after=1_000_000),  # connection closed mid-body
        Fault(reset_after=1_000_000),  # TCP reset (RST) mid-body
        Fault(cut_after=500_000, cuts=3),  # several cuts in a row
    ],
    ids=["cut", "reset", "three-cuts"],
)
def test_interrupted_body_resumes_with_range(wanprov, hub: Hub, tmp_path: Path, fault: Fault) -> None:
    hub.server.faults[f"{REPO}/HighNoise/model-high.gguf"] = fault
    models = tmp_path / "models"
    result = fetch(wanprov, hub, models, "--only", "unet-high")
    assert result.code == 0, result.err
    assert_in_place = (models / "unet" / "model-high.gguf").read_bytes()
    assert assert_in_place == hub.content["unet-high"]
    ranges = [r["range"] for r in hub.gets("model-high")]
    assert ranges[0] is None
    assert all(r and r.startswith("bytes=") and int(r[6:-1]) > 0 for r in ranges[1:]), ranges
    assert len(ranges) >= 2


@pytest.mark.parametrize("statuses", [[429], [500], [503, 503], [502, 429, 503]])
def test_transient_statuses_are_retried(wanprov, hub: Hub, tmp_path: Path, statuses: list[int]) -> None:
    hub.server.faults[f"{REPO}/split_files/vae/vae.safetensors"] = Fault(statuses=list(statuses))
    models = tmp_path / "models"
    result = fetch(wanprov, hub, models, "--only", "vae")
    assert result.code == 0, result.err
    assert (models / "vae" / "vae.safetensors").read_bytes() == hub.content["vae"]
    assert len(hub.gets("vae.safetensors")) == len(statuses) + 1


def test_retry_after_is_honoured(wanprov, hub: Hub, tmp_path: Path) -> None:
    hub.server.faults[f"{REPO}/split_files/vae/vae.safetensors"] = Fault(statuses=[429], retry_after="0")
    assert fetch(wanprov, hub, tmp_path / "models", "--only", "vae").code == 0


def test_retries_are_bounded(wanprov, hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANPROV_RETRIES", "2")
    hub.server.faults[f"{REPO}/split_files/vae/vae.safetensors"] = Fault(statuses=[503] * 10)
    models = tmp_path / "models"
    result = fetch(wanprov, hub, models, "--only", "vae", "--format", "json")
    assert result.code == 5
    document = json.loads(result.out)
    assert document["ok"] is False and document["files"][0]["status"] == "failed"
    assert document["files"][0]["error"]["error"] == "network"
    assert len(hub.gets("vae.safetensors")) == 3
    assert not (models / "vae" / "vae.safetensors").exists()


def test_wrong_bytes_fail_and_are_not_kept(wanprov, hub: Hub, tmp_path: Path) -> None:
    hub.server.faults[f"{REPO}/LowNoise/model-low.gguf"] = Fault(corrupt=True)
    models = tmp_path / "models"
    result = fetch(wanprov, hub, models, "--only", "unet-low")
    assert result.code == 6
    assert "sha256 mismatch" in result.err and hub.sha("unet-low") in result.err
    assert not (models / "unet" / "model-low.gguf").exists()
    assert list(models.rglob("*.part")) == []


def test_gated_repo_without_token_names_repo_and_fix(wanprov, hub: Hub, tmp_path: Path) -> None:
    manifest = _gated_manifest(tmp_path)
    hub.server.tokens[GATED_REPO] = TOKEN
    result = _fetch_gated(wanprov, manifest, tmp_path)
    assert result.code == 7
    assert GATED_REPO in result.err and "HF_TOKEN" in result.err
    assert f"https://huggingface.co/{GATED_REPO}" in result.err


def test_wrong_token_is_refused_and_never_printed(wanprov, hub, tmp_path, monkeypatch) -> None:
    manifest = _gated_manifest(tmp_path)
    hub.server.tokens[GATED_REPO] = "hf_theRightOne"
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    result = _fetch_gated(wanprov, manifest, tmp_path, "--format", "json")
    assert result.code == 7
    assert json.loads(result.out)["error"] == "auth"
    assert TOKEN not in result.out + result.err


def test_right_token_downloads_and_is_never_printed(wanprov, hub, tmp_path, monkeypatch) -> None:
    manifest = _gated_manifest(tmp_path)
    hub.server.tokens[GATED_REPO] = TOKEN
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    for extra in ((), ("--format", "json")):
        result = _fetch_gated(wanprov, manifest, tmp_path, *extra)
        assert result.code == 0, result.err
        assert TOKEN not in result.out + result.err
    assert (tmp_path / "models" / "diffusion_models" / "flux.safetensors").is_file()
    assert hub.gets("flux")[0]["authorization"] == f"Bearer {TOKEN}"


def _gated_manifest(tmp_path: Path) -> Path:
    path = tmp_path / "gated.yaml"
    path.write_text(
        "files:\n  flux:\n    repo: gated-org/flux\n    revision: main\n    path: flux.safetensors\n"
        "    folder: diffusion_models\n    gated: true\n"
        "profiles:\n  flux:\n    files:\n      diffusion_model: flux\n"
    )
    return path


def _fetch_gated(wanprov, manifest: Path, tmp_path: Path, *extra: str):
    return wanprov(
        "fetch-models", "--profile", "flux", "--manifest", str(manifest),
        "--models-dir", str(tmp_path / "models"), *extra,
    )  # fmt: skip


def test_missing_file_names_the_catalog_entry(wanprov, hub: Hub, tmp_path: Path) -> None:
    (hub.root / REPO / "split_files/vae/vae.safetensors").unlink()
    result = fetch(wanprov, hub, tmp_path / "models", "--only", "vae")
    assert result.code == 8
    assert "'vae'" in result.err and str(hub.manifest) in result.err


def test_missing_repo_is_not_found(wanprov, hub: Hub, tmp_path: Path) -> None:
    manifest = tmp_path / "norepo.yaml"
    manifest.write_text(
        "files:\n  x:\n    repo: nobody/nothing\n    revision: main\n    path: x.gguf\n    folder: unet\n"
        "profiles:\n  x:\n    files:\n      unet: x\n"
    )
    result = wanprov(
        "fetch-models", "--profile", "x", "--manifest", str(manifest), "--models-dir", str(tmp_path / "m")
    )
    assert result.code == 8
    assert "repository not found" in result.err and "nobody/nothing" in result.err


def test_unknown_sha256_is_taken_from_the_hub_and_recorded(wanprov, hub: Hub, tmp_path: Path) -> None:
    write_manifest(hub.manifest, hub.content, pin=False)
    models = tmp_path / "models"
    result = fetch(wanprov, hub, models, "--format", "json")
    assert result.code == 0, result.err
    shas = {f["id"]: f["sha256"] for f in json.loads(result.out)["files"]}
    assert shas == {fid: hub.sha(fid) for fid in shas}
    assert len(hub.heads()) == len(FILES)
    hub.server.requests.clear()
    assert fetch(wanprov, hub, models).code == 0
    assert hub.server.requests == []  # the record answers: nothing to ask the hub


def test_file_already_there_is_hashed_once_not_downloaded(wanprov, hub: Hub, tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / "vae").mkdir(parents=True)
    (models / "vae" / "vae.safetensors").write_bytes(hub.content["vae"])
    result = fetch(wanprov, hub, models, "--only", "vae", "--format", "json")
    assert result.code == 0
    assert json.loads(result.out)["files"][0]["status"] == "present"
    assert hub.gets() == []


def test_wrong_file_under_final_name_is_replaced(wanprov, hub: Hub, tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / "vae").mkdir(parents=True)
    (models / "vae" / "vae.safetensors").write_bytes(b"x" * len(hub.content["vae"]))
    assert fetch(wanprov, hub, models, "--only", "vae").code == 0
    assert (models / "vae" / "vae.safetensors").read_bytes() == hub.content["vae"]


def test_models_verify_rehashes_and_catches_damage(wanprov, hub: Hub, tmp_path: Path) -> None:
    models = tmp_path / "models"
    assert fetch(wanprov, hub, models).code == 0
    args = ("models", "verify", "--profile", "test-profile", "--manifest", str(hub.manifest))
    assert wanprov(*args, "--models-dir", str(models)).code == 0
    target = models / "unet" / "model-low.gguf"
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF
    target.write_bytes(bytes(data))
    result = wanprov(*args, "--models-dir", str(models), "--format", "json")
    assert result.code == 6
    statuses = {f["id"]: f["status"] for f in json.loads(result.out)["files"]}
    assert statuses["unet-low"] == "mismatch" and statuses["vae"] == "ok"
    assert fetch(wanprov, hub, models).code == 0  # the damaged file is fetched again
    assert target.read_bytes() == hub.content["unet-low"]


def test_offline_with_everything_present_needs_no_network(wanprov, hub, tmp_path, monkeypatch) -> None:
    models = tmp_path / "models"
    assert fetch(wanprov, hub, models).code == 0
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.server.requests.clear()
    assert fetch(wanprov, hub, models).code == 0
    assert hub.server.requests == []
    (models / "vae" / "vae.safetensors").unlink()
    result = fetch(wanprov, hub, models)
    assert result.code == 3 and "HF_HUB_OFFLINE" in result.err
    assert hub.server.requests == []


def test_sha256_of_generated_content_is_what_the_hub_advertises(hub: Hub) -> None:
    path = hub.root / REPO / "split_files/vae/vae.safetensors"
    assert hub.server.sha256(path) == hashlib.sha256(hub.content["vae"]).hexdigest()


def test_rerun_stats_instead_of_rehashing(wanprov, hub: Hub, tmp_path: Path, monkeypatch) -> None:
    models = tmp_path / "models"
    assert fetch(wanprov, hub, models).code == 0

    def no_hashing(*_args, **_kwargs):
        raise AssertionError("a present, recorded file was hashed again")

    monkeypatch.setattr("wanprov.models.partfile.PrefixHasher.finish", no_hashing)
    result = fetch(wanprov, hub, models)
    assert result.code == 0
    assert result.out.count("present") == len(FILES)


def test_a_touched_file_is_hashed_again(wanprov, hub: Hub, tmp_path: Path) -> None:
    models = tmp_path / "models"
    assert fetch(wanprov, hub, models, "--only", "vae").code == 0
    target = models / "vae" / "vae.safetensors"
    target.write_bytes(b"\0" * len(hub.content["vae"]))  # same size, new mtime: the record no longer matches
    hub.server.requests.clear()
    assert fetch(wanprov, hub, models, "--only", "vae").code == 0
    assert target.read_bytes() == hub.content["vae"]
    assert len(hub.gets()) == 1


def test_server_ignoring_range_restarts_cleanly(wanprov, hub: Hub, tmp_path: Path) -> None:
    hub.server.faults[f"{REPO}/HighNoise/model-high.gguf"] = Fault(cut_after=1_000_000, ignore_range=True)
    models = tmp_path / "models"
    assert fetch(wanprov, hub, models, "--only", "unet-high").code == 0
    assert (models / "unet" / "model-high.gguf").read_bytes() == hub.content["unet-high"]


def test_head_429_and_503_are_retried(wanprov, hub: Hub, tmp_path: Path) -> None:
    write_manifest(hub.manifest, hub.content, pin=False)  # unknown sha256: a HEAD is needed
    hub.server.faults[f"{REPO}/split_files/vae/vae.safetensors"] = Fault(statuses=[429, 503])
    result = fetch(wanprov, hub, tmp_path / "models", "--only", "vae")
    assert result.code == 0, result.err
    assert [r["method"] for r in hub.server.requests if "vae.safetensors" in str(r["path"])] == [
        "HEAD", "HEAD", "HEAD", "GET",
    ]  # fmt: skip
