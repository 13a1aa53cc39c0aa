"""No transfer outlives its deadline (pytest-timeout guards each test against a hang; the assertions check
which rule ended it): a trickling server is cut by the lowest-throughput rule and retried,
then exit 5; a transfer past WANPROV_DEADLINE ends; a redirect loop on the segmented path is exit 5.

Small deadlines here (a window of 0.5 s): before, a server sending a byte per second held a fetch for ever,
as urllib3's read timeout is per recv."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doubles.hub import Fault
from models.conftest import REPO, Hub
from models.test_segmented import HIGH, fetch
from wanprov.exit_codes import ExitCode

VAE = f"{REPO}/split_files/vae/vae.safetensors"


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANPROV_MIN_RATE", "1000")  # bytes/s
    monkeypatch.setenv("WANPROV_RATE_WINDOW", "0.5")
    monkeypatch.setenv("WANPROV_RETRIES", "1")


@pytest.mark.timeout(60)
def test_a_trickling_one_stream_is_retried_then_exit_5(wanprov, hub: Hub, tmp_path: Path, quick) -> None:
    hub.server.faults[VAE] = Fault(trickle_after=1_000, trickle_interval=1.0)
    result = fetch(wanprov, hub, tmp_path / "models", "--only", "vae", "--format", "json")
    assert result.code == ExitCode.NETWORK, result.out
    error = json.loads(result.out)["files"][0]["error"]
    assert "slower than 1000 B/s" in error["message"] and "gave up after 2 tries" in error["message"]
    assert len(hub.gets("vae")) == 2  # retried once, then given up
    hub.server.faults.clear()
    assert fetch(wanprov, hub, tmp_path / "models", "--only", "vae").code == 0  # resumes what it kept


@pytest.mark.timeout(60)
def test_a_trickling_range_is_retried_then_exit_5(wanprov, cdn_hub: Hub, tmp_path: Path, quick) -> None:
    cdn_hub.server.faults[HIGH] = Fault(trickle_after=1_400_000, trickle_interval=1.0)
    result = fetch(wanprov, cdn_hub, tmp_path / "models", "--only", "unet-high", "--connections", "4")
    assert result.code == ExitCode.NETWORK, result.err
    assert "slower than 1000 B/s" in result.err
    assert not (tmp_path / "models" / "unet" / "model-high.gguf").exists()


@pytest.mark.timeout(60)
def test_a_transfer_past_its_deadline_ends_with_exit_5(wanprov, hub: Hub, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WANPROV_MIN_RATE", "0")  # no rate floor: only the total deadline can end it
    monkeypatch.setenv("WANPROV_DEADLINE", "1")
    hub.server.faults[VAE] = Fault(trickle_after=1_000, trickle_interval=0.05)  # 20 B/s, never ends
    result = fetch(wanprov, hub, tmp_path / "models", "--only", "vae")
    assert result.code == ExitCode.NETWORK, result.err
    assert "deadline (1 s, WANPROV_DEADLINE) passed" in result.err


@pytest.mark.timeout(60)
def test_a_redirect_loop_on_the_segmented_path_is_exit_5(wanprov, cdn_hub: Hub, tmp_path: Path) -> None:
    cdn_hub.server.faults[HIGH] = Fault(redirect_loop=True)
    result = fetch(wanprov, cdn_hub, tmp_path / "models", "--only", "unet-high", "--format", "json")
    assert result.code == ExitCode.NETWORK, result.out  # before: exit 3, "unexpected error"
    error = json.loads(result.out)["files"][0]["error"]
    assert error["error"] == "network" and "in a loop" in error["message"]


@pytest.mark.parametrize("name", ["WANPROV_DEADLINE", "WANPROV_MIN_RATE", "WANPROV_RATE_WINDOW"])
def test_deadline_settings_are_checked(wanprov, hub: Hub, tmp_path: Path, monkeypatch, name: str) -> None:
    monkeypatch.setenv(name, "nan")
    assert fetch(wanprov, hub, tmp_path / "models", "--only", "vae").code == ExitCode.USAGE


@pytest.mark.timeout(60)
def test_a_metadata_head_that_trickles_its_headers_ends_with_exit_5(
    wanprov, cdn_hub: Hub, tmp_path: Path, monkeypatch
) -> None:
    """huggingface_hub's HEAD (httpx, per-operation timeouts) is bounded by HF_HUB_DOWNLOAD_TIMEOUT as a
    whole: a server that sends a header byte every 0.2 s never trips a 1 s read timeout."""
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "1")
    monkeypatch.setenv("WANPROV_RETRIES", "1")
    cdn_hub.server.faults[HIGH] = Fault(trickle_headers=True)
    result = fetch(wanprov, cdn_hub, tmp_path / "models", "--only", "unet-high", "--format", "json")
    assert result.code == ExitCode.NETWORK, result.out
    assert "no complete answer within 1 s" in json.loads(result.out)["files"][0]["error"]["message"]


@pytest.fixture
def head_timeout_1s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "1")
    monkeypatch.setenv("WANPROV_RETRIES", "1")


@pytest.mark.timeout(60)
def test_a_get_whose_head_trickles_is_retried_then_exit_5(wanprov, hub: Hub, tmp_path, head_timeout_1s):
    hub.server.faults[VAE] = Fault(trickle_headers=True)  # pinned: no HEAD, the GET's answer trickles
    result = fetch(wanprov, hub, tmp_path / "models", "--only", "vae")
    assert result.code == ExitCode.NETWORK, result.err
    assert "no complete answer within 1 s" in result.err


@pytest.mark.timeout(60)
def test_a_range_whose_head_trickles_is_retried_then_exit_5(
    wanprov, cdn_hub: Hub, tmp_path: Path, head_timeout_1s
) -> None:
    cdn_hub.server.faults[HIGH] = Fault(trickle_cdn_headers=True)  # the HEAD is fine, the ranges are not
    result = fetch(wanprov, cdn_hub, tmp_path / "models", "--only", "unet-high")
    assert result.code == ExitCode.NETWORK, result.err
    assert "no complete answer within 1 s" in result.err
