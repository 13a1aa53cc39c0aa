"""Segmented transfer against the hub double with a CDN origin: ranges, resume, and the faults of issue #9."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from doubles.hub import Fault, write_file
from interactive_signals import sigint_default
from models.conftest import FILES, GATED_REPO, HIGH_SIZE, REPO, TOKEN, Hub, write_manifest

HIGH = f"{REPO}/HighNoise/model-high.gguf"


def fetch(wanprov, hub: Hub, models: Path, *extra: str):
    return wanprov(
        "fetch-models", "--profile", "test-profile", "--manifest", str(hub.manifest),
        "--models-dir", str(models), *extra,
    )  # fmt: skip


def cdn_ranges(hub: Hub, fragment: str = "model-high") -> list[tuple[int, int]]:
    """(first, last) of every Range GET the CDN saw for the file, in arrival order."""
    spans = []
    for request in hub.gets(fragment):
        if request["origin"] == "cdn":
            first, last = str(request["range"]).removeprefix("bytes=").split("-")
            spans.append((int(first), int(last)))
    return spans


def assert_tiles(spans: list[tuple[int, int]], size: int) -> None:
    """The spans cover [0, size) exactly once: nothing fetched twice, nothing missed."""
    cursor = 0
    for first, last in sorted(spans):
        assert first == cursor, sorted(spans)
        cursor = last + 1
    assert cursor == size


def high(models: Path) -> Path:
    return models / "unet" / "model-high.gguf"


def test_ranges_go_to_the_cdn_without_the_token_and_tile_the_file(wanprov, cdn_hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    models = tmp_path / "models"
    result = fetch(wanprov, cdn_hub, models, "--format", "json")
    assert result.code == 0, result.err
    assert {f["status"] for f in json.loads(result.out)["files"]} == {"downloaded"}
    for file_id, repo_path, folder, name, _ in FILES:
        assert (models / folder / (name or repo_path.rsplit("/", 1)[-1])).read_bytes() == cdn_hub.content[
            file_id
        ]
    spans = cdn_ranges(cdn_hub)
    assert len(spans) > 4
    assert_tiles(spans, HIGH_SIZE)
    hub_requests = [r for r in cdn_hub.server.requests if r["origin"] == "hub" and "model-high" in r["path"]]
    assert [r["method"] for r in hub_requests] == ["HEAD"]  # resolved once; the bytes all came from the CDN
    assert hub_requests[0]["authorization"] == f"Bearer {TOKEN}"
    assert all(r["authorization"] is None for r in cdn_hub.server.requests if r["origin"] == "cdn")
    assert list(models.rglob("*.part")) == [] and list(models.rglob("*.ranges.json")) == []
    cdn_hub.server.requests.clear()
    assert fetch(wanprov, cdn_hub, models).code == 0
    assert cdn_hub.server.requests == []


def test_connections_are_capped_per_file_and_in_total(wanprov, cdn_hub, tmp_path, monkeypatch) -> None:
    cdn_hub.server.rate_bps = 4_000_000  # slow enough that every allowed connection is open at once
    assert fetch(wanprov, cdn_hub, tmp_path / "one", "--only", "unet-high", "--connections", "3").code == 0
    assert 2 <= cdn_hub.server.peak_bodies <= 3  # the cap, and more than one range at once
    monkeypatch.setattr("wanprov.models.fetch.TOTAL_CONNECTIONS", 5)
    cdn_hub.server.peak_bodies = 0
    result = fetch(
        wanprov, cdn_hub, tmp_path / "two", "--only", "unet-*", "--connections", "4", "--jobs", "2"
    )
    assert result.code == 0, result.err
    assert 4 <= cdn_hub.server.peak_bodies <= 5  # two files of 4 each, held to the run's cap of 5


def test_one_range_reset_while_the_others_go_on(wanprov, cdn_hub: Hub, tmp_path: Path) -> None:
    cdn_hub.server.faults[HIGH] = Fault(reset_after=1_500_000)
    models = tmp_path / "models"
    result = fetch(wanprov, cdn_hub, models, "--only", "unet-high", "--connections", "4")
    assert result.code == 0, result.err
    assert high(models).read_bytes() == cdn_hub.content["unet-high"]
    spans = cdn_ranges(cdn_hub)
    hit = [span for span in spans if span[0] <= 1_500_000 <= span[1]]
    assert len(hit) == 2  # the reset range, then its rest
    assert hit[1][0] > hit[0][0]  # ... from where the reset left it, not from the range's start
    assert_tiles([s for s in spans if s != hit[0]] + [(hit[0][0], hit[1][0] - 1)], HIGH_SIZE)


@pytest.mark.parametrize("status", [403, 410])
def test_an_expired_location_is_resolved_again(wanprov, cdn_hub, tmp_path, status) -> None:
    cdn_hub.server.location_uses, cdn_hub.server.expired_status = 3, status
    models = tmp_path / "models"
    result = fetch(wanprov, cdn_hub, models, "--only", "unet-high", "--connections", "4")
    assert result.code == 0, result.err
    assert high(models).read_bytes() == cdn_hub.content["unet-high"]
    assert cdn_hub.server.locations_issued >= 4  # 12 ranges, 3 per location
    assert len(cdn_ranges(cdn_hub)) > 12  # the refused ones were asked again at the new location


def test_a_location_that_ignores_range_falls_back_to_one_stream(wanprov, cdn_hub, tmp_path) -> None:
    cdn_hub.server.faults[HIGH] = Fault(ignore_range=True)
    models = tmp_path / "models"
    result = fetch(wanprov, cdn_hub, models, "--only", "unet-high", "--format", "json")
    assert result.code == 0, result.err
    assert high(models).read_bytes() == cdn_hub.content["unet-high"]
    gets = cdn_hub.gets("model-high")
    assert [r["origin"] for r in gets if r["origin"] == "hub"] == ["hub"]  # one stream through the hub URL
    assert len(gets) == 3  # the probe (answered 200), then the hub's 302 and the CDN's whole body


def test_upstream_file_changed_stops_at_once_with_both_hashes(wanprov, cdn_hub, tmp_path) -> None:
    new = write_file(cdn_hub.root, REPO, "HighNoise/model-high.gguf", HIGH_SIZE, seed=1)
    models = tmp_path / "models"
    result = fetch(wanprov, cdn_hub, models, "--only", "unet-high", "--format", "json")
    assert result.code == 6
    error = json.loads(result.out)["files"][0]["error"]
    assert (
        cdn_hub.sha("unet-high") in error["message"] and hashlib.sha256(new).hexdigest() in error["message"]
    )
    assert cdn_hub.gets() == [] and len(cdn_hub.heads()) == 1  # no retries, no bytes


def test_upstream_change_is_caught_on_the_one_stream_path_too(wanprov, hub: Hub, tmp_path: Path) -> None:
    write_file(hub.root, REPO, "split_files/vae/vae.safetensors", 5_000, seed=1)
    result = fetch(wanprov, hub, tmp_path / "models", "--only", "vae")
    assert result.code == 6, result.err
    assert hub.sha("vae") in result.err and "the hub serves sha256" in result.err
    assert len(hub.gets()) == 1


def test_a_bigger_file_upstream_is_an_integrity_error_not_retries(wanprov, hub: Hub, tmp_path: Path) -> None:
    write_file(hub.root, REPO, "split_files/vae/vae.safetensors", 6_000, seed=1)
    write_manifest(hub.manifest, hub.content, pin=True)
    result = fetch(wanprov, hub, tmp_path / "models", "--only", "vae")
    assert result.code == 6, result.err
    assert len(hub.gets()) == 1


def _spawn(hub: Hub, models: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "wanprov", "fetch-models", "--profile", "test-profile", "--only", "unet-high",
        "--manifest", str(hub.manifest), "--models-dir", str(models), "--connections", "4",
    ]  # fmt: skip
    return subprocess.Popen(  # Ctrl-C reaches it even when this suite runs as a background job
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default
    )


def _wait_for_state(models: Path, missing: list[list[int]], proc: subprocess.Popen) -> Path:
    """Until the saved ranges leave exactly `missing`: all other ranges and the stalled one's head kept."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for state in models.glob("unet/.wanprov-partial/model-high.gguf.*.part.ranges.json"):
            try:
                ranges = json.loads(state.read_text())["ranges"]
            except (OSError, ValueError):
                continue
            if ranges == [[0, missing[0][0]], [missing[0][1], HIGH_SIZE]]:
                return state
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the state never reached the stall point")


@pytest.mark.parametrize("stop", ["kill", "ctrl-c"])
def test_stopped_mid_segment_resumes_only_what_is_missing(wanprov, cdn_hub, tmp_path, stop) -> None:
    stall = 1_400_000  # inside the range [1310720, 1572864)
    cdn_hub.server.faults[HIGH] = Fault(stall_after=stall)
    models = tmp_path / "models"
    proc = _spawn(cdn_hub, models)
    _wait_for_state(models, [[stall, 1_572_864]], proc)
    if stop == "kill":
        proc.kill()
        proc.wait(timeout=10)
    else:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, err
    assert not high(models).exists()
    cdn_hub.server.faults.clear()
    cdn_hub.server.release.set()
    cdn_hub.server.requests.clear()
    result = fetch(wanprov, cdn_hub, models, "--only", "unet-high", "--connections", "4")
    assert result.code == 0, result.err
    assert high(models).read_bytes() == cdn_hub.content["unet-high"]
    assert cdn_ranges(cdn_hub) == [(stall, 1_572_863)]  # the rest of the stalled range, nothing else
    assert list(models.rglob("*.part")) == [] and list(models.rglob("*.ranges.json")) == []


def _state(sha: str, **changes: object) -> str:
    document = {"schema": "wanprov.part-ranges/1", "sha256": sha, "size": HIGH_SIZE, "ranges": [[0, 262_144]]}
    return json.dumps({**document, **changes})


@pytest.mark.parametrize(
    "state",
    [
        lambda sha: "{not json",
        lambda sha: _state("0" * 64),
        lambda sha: _state(sha, size=HIGH_SIZE + 1),
        lambda sha: _state(sha, ranges=[[0, HIGH_SIZE + 5]]),
        lambda sha: _state(sha, ranges=[[0, 9], [5, 20]]),
        lambda sha: _state(sha, ranges=[["0", 9]]),
        lambda sha: _state(sha, schema="wanprov.part-ranges/0"),
    ],
    ids=["garbage", "other-file", "other-size", "past-the-end", "overlapping", "not-ints", "old-schema"],
)
def test_a_corrupt_or_stale_state_is_ignored_not_trusted(wanprov, cdn_hub, tmp_path, state) -> None:
    models = tmp_path / "models"
    sha = cdn_hub.sha("unet-high")
    part = models / "unet" / ".wanprov-partial" / f"model-high.gguf.{sha[:16]}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\xee" * HIGH_SIZE)  # junk of the right size: trusting any range of it would fail
    Path(f"{part}.ranges.json").write_text(state(sha))
    result = fetch(wanprov, cdn_hub, models, "--only", "unet-high")
    assert result.code == 0, result.err
    assert high(models).read_bytes() == cdn_hub.content["unet-high"]
    assert_tiles(cdn_ranges(cdn_hub), HIGH_SIZE)  # everything fetched again


def test_a_sound_state_is_trusted(wanprov, cdn_hub, tmp_path) -> None:
    models = tmp_path / "models"
    sha = cdn_hub.sha("unet-high")
    part = models / "unet" / ".wanprov-partial" / f"model-high.gguf.{sha[:16]}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(cdn_hub.content["unet-high"][:262_144] + b"\0" * (HIGH_SIZE - 262_144))
    Path(f"{part}.ranges.json").write_text(_state(sha))
    assert fetch(wanprov, cdn_hub, models, "--only", "unet-high").code == 0
    assert high(models).read_bytes() == cdn_hub.content["unet-high"]
    assert min(first for first, _ in cdn_ranges(cdn_hub)) == 262_144


def test_full_disk_during_a_one_stream_transfer_is_exit_9(wanprov, hub: Hub, tmp_path, monkeypatch) -> None:
    def full(fd: int, data, offset: int) -> int:  # every write: ENOSPC, as /dev/full answers
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("wanprov.models.partfile.os.pwrite", full)
    models = tmp_path / "models"
    result = fetch(wanprov, hub, models, "--only", "vae", "--format", "json")
    assert result.code == 9, result.out
    error = json.loads(result.out)["files"][0]["error"]
    assert error["error"] == "no_space" and "vae/vae.safetensors" in error["message"]
    assert len(hub.gets()) == 1  # not retried: retrying cannot free space


def test_full_disk_during_a_segmented_transfer_is_exit_9(wanprov, cdn_hub, tmp_path, monkeypatch) -> None:
    real = os.pwrite
    budget = {"bytes": 1_000_000}

    def pwrite(fd: int, data, offset: int) -> int:  # the disk fills after 1 MB, as ext4 reports it
        if budget["bytes"] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        budget["bytes"] -= len(data)
        return real(fd, data, offset)

    monkeypatch.setattr("wanprov.models.segmented.os.pwrite", pwrite)
    models = tmp_path / "models"
    result = fetch(wanprov, cdn_hub, models, "--only", "unet-high", "--format", "json")
    assert result.code == 9, result.out
    assert json.loads(result.out)["files"][0]["error"]["error"] == "no_space"
    assert not high(models).exists()
    monkeypatch.setattr("wanprov.models.segmented.os.pwrite", real)
    cdn_hub.server.requests.clear()
    assert fetch(wanprov, cdn_hub, models, "--only", "unet-high").code == 0  # what was written is kept
    assert sum(last - first + 1 for first, last in cdn_ranges(cdn_hub)) < HIGH_SIZE


def _closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_dry_run_with_the_hub_unreachable_prints_the_plan(wanprov, hub, tmp_path, monkeypatch) -> None:
    write_manifest(hub.manifest, hub.content, pin=False)  # nothing pinned: the hub would be asked
    monkeypatch.setenv("HF_ENDPOINT", _closed_port())
    models = tmp_path / "models"
    result = fetch(wanprov, hub, models, "--dry-run", "--format", "json")
    assert result.code == 4, result.err
    document = json.loads(result.out)
    assert document["hub_unreachable"] and document["ok"] is False
    assert {(f["status"], f["unresolved"]) for f in document["files"]} == {("pending", True)}
    text = fetch(wanprov, hub, models, "--dry-run")
    assert text.code == 4 and "hub unreachable" in text.out and "not resolved" in text.out


def test_dry_run_asks_a_failing_hub_once_not_per_file_with_retries(wanprov, hub, tmp_path) -> None:
    write_manifest(hub.manifest, hub.content, pin=False)
    for _, path, *_ in FILES:
        hub.server.faults[f"{REPO}/{path}"] = Fault(statuses=[503] * 20)
    result = fetch(wanprov, hub, tmp_path / "models", "--dry-run", "--format", "json")
    assert result.code == 4
    assert len(hub.heads()) == 1
    assert json.loads(result.out)["hub_unreachable"].startswith("metadata of")


def test_gated_file_over_the_cdn_never_carries_the_token_there(wanprov, cdn_hub, tmp_path, monkeypatch):
    write_file(cdn_hub.root, GATED_REPO, "flux.safetensors", 2_000_000)
    cdn_hub.server.tokens[GATED_REPO] = TOKEN
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    manifest = tmp_path / "gated.yaml"
    manifest.write_text(
        "files:\n  flux:\n    repo: gated-org/flux\n    revision: main\n    path: flux.safetensors\n"
        "    folder: diffusion_models\n    gated: true\n"
        "profiles:\n  flux:\n    files:\n      diffusion_model: flux\n"
    )
    result = wanprov(
        "fetch-models", "--profile", "flux", "--manifest", str(manifest), "--models-dir", str(tmp_path / "m")
    )
    assert result.code == 0, result.err
    flux = [r for r in cdn_hub.server.requests if "flux" in r["path"]]
    assert {r["origin"] for r in flux} == {"hub", "cdn"}
    assert all(r["authorization"] == f"Bearer {TOKEN}" for r in flux if r["origin"] == "hub")
    assert all(r["authorization"] is None for r in flux if r["origin"] == "cdn")


def test_file_changing_during_the_transfer_stops_it_and_drops_the_bytes(wanprov, cdn_hub, tmp_path) -> None:
    cdn_hub.server.faults[HIGH] = Fault(stall_after=1_400_000)
    new = random.Random(9).randbytes(HIGH_SIZE)

    def change_upstream() -> None:  # while one range stalls, the file is replaced upstream
        time.sleep(0.5)
        (cdn_hub.root / HIGH).write_bytes(new)
        cdn_hub.server.release.set()

    changer = threading.Thread(target=change_upstream)
    changer.start()
    models = tmp_path / "models"
    result = fetch(wanprov, cdn_hub, models, "--only", "unet-high", "--connections", "2")
    changer.join()
    assert result.code == 6, result.err
    assert "changed upstream during the transfer" in result.err  # the CDN's ETag changed (If-Range: 200)
    assert cdn_hub.sha("unet-high") in result.err
    assert not high(models).exists()
    assert list(models.rglob("*.part")) == [] and list(models.rglob("*.ranges.json")) == []


def test_every_range_has_its_disk_write_started_as_it_lands(wanprov, cdn_hub, tmp_path, monkeypatch) -> None:
    """sync_file_range(WRITE) is asked for every byte of the file, and never for bytes not yet written."""
    from wanprov.models import writeback

    queued: list[tuple[int, int]] = []
    lock = threading.Lock()
    content = cdn_hub.content["unet-high"]

    def sync_file_range(fd: int, offset: int, length: int, flags: int) -> int:
        assert flags == writeback.SYNC_FILE_RANGE_WRITE and offset >= 0 and length > 0
        target = str(Path(f"/proc/self/fd/{fd}").readlink())
        assert target.endswith(".part")  # the part file, before its rename
        if "model-high" in target:
            assert os.pread(fd, length, offset) == content[offset : offset + length]  # written already
            with lock:
                queued.append((offset, offset + length))
        return 0

    monkeypatch.setattr(writeback, "_sync_file_range", lambda: sync_file_range)
    models = tmp_path / "models"
    assert fetch(wanprov, cdn_hub, models).code == 0
    assert high(models).read_bytes() == content
    assert len(queued) > 1  # per range as it lands, not once at the end
    assert_tiles([(start, end - 1) for start, end in queued], HIGH_SIZE)
