"""The weights double comes with its own manifest and lock and is served by the Hub double, so
`wanprov fetch-models` verifies it exactly as it verifies real files: placed by catalog folder and name,
sha256 checked, and a corrupted copy refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from doubles.hub import Fault, HubServer
from doubles.weights import generate

PROFILE = {"tiny": {"files": {"high_noise_unet": "wan22-i2v-a14b-high-q3ks", "high_noise_lora":
                              "wan22-lightning-i2v-4step-high-fp16", "rife": "rife49"}}}  # fmt: skip


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hub_env: None):
    manifest = generate(tmp_path / "hub", tmp_path / "manifest", PROFILE)
    server = HubServer(tmp_path / "hub").start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    try:
        yield server, manifest
    finally:
        server.stop()


def _fetch(wanprov, manifest: Path, tmp_path: Path):
    return wanprov(
        "fetch-models", "--profile", "tiny", "--manifest", str(manifest), "--models-dir",
        str(tmp_path / "models"), "--custom-nodes-dir", str(tmp_path / "custom_nodes"),
    )  # fmt: skip


def test_fetch_models_places_and_verifies_the_weights_double(wanprov, served, tmp_path: Path) -> None:
    _, manifest = served
    result = _fetch(wanprov, manifest, tmp_path)
    assert result.code == 0, result.err
    entries = yaml.safe_load(manifest.read_text())["files"]
    placed = {
        "wan22-i2v-a14b-high-q3ks": tmp_path / "models/unet/Wan2.2-I2V-A14B-HighNoise-Q3_K_S.gguf",
        "wan22-lightning-i2v-4step-high-fp16": tmp_path / "models/loras"
        / "Wan2.2-Lightning_I2V-A14B-4steps-lora_HIGH_fp16.safetensors",
        "rife49": tmp_path / "custom_nodes/ComfyUI-Frame-Interpolation/ckpts/rife/rife49.pth",
    }  # fmt: skip
    for entry_id, path in placed.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entries[entry_id]["sha256"], entry_id


def test_a_corrupted_copy_of_the_weights_double_is_refused(wanprov, served, tmp_path: Path) -> None:
    server, manifest = served
    entry = yaml.safe_load(manifest.read_text())["files"]["rife49"]
    server.faults[f"{entry['repo']}/{entry['path']}"] = Fault(corrupt=True)
    result = _fetch(wanprov, manifest, tmp_path)
    assert result.code == 6, result.err  # INTEGRITY (docs/exit-codes.md)
    assert not (tmp_path / "custom_nodes/ComfyUI-Frame-Interpolation/ckpts/rife/rife49.pth").exists()
