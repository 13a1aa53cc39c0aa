"""The disk rule sizes what will actually be fetched: the chosen profile's files from its catalog (the
user's --manifest included), less what is already there and verified, plus headroom - for `doctor`, `up`
and the preflight role alike (one rule). Before, every host needed 35 GiB free whatever the profile, and
`up --manifest` waived the finding.

The CLI cases run on a fake host whose disk is as big as its description says (doubles/disk.py): the
verdict does not depend on this machine's free space."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from doctor_cli import TARGET_PYTHON, run_doctor
from facts_builder import make_facts

from doubles import disk
from doubles.gpu import install_fake_host
from doubles.gpu.specs import SPECS
from fleet.fleet_setup import tiny_models_manifest
from wanprov.commands.root import cli
from wanprov.doctor import evaluate
from wanprov.facts.host import probe_disk
from wanprov.models.catalog import load_catalog
from wanprov.models.lock import locked_catalog
from wanprov.models.record import VerificationRecord

GIB = 1 << 30
SMALL, LARGE = "flux1-schnell-fp8", "wan22-i2v-a14b-q4km-lightning"  # 16.1 and 26.8 GiB, every size known


def disk_finding(free_gib: float, profile: str | None = None, verified: dict | None = None, **kw) -> dict:
    facts = make_facts(disk={"free_bytes": int(free_gib * GIB), "verified": verified or {}})
    report = evaluate(facts, profile=profile, **kw)
    return next(f for f in report.to_dict()["findings"] if f["check"] == "disk_space")


def profile_files(profile: str) -> list:
    return locked_catalog(load_catalog()).profile(profile)


def test_the_chosen_profile_is_sized_not_a_fixed_minimum() -> None:
    fits = disk_finding(20, SMALL)
    assert fits["severity"] == "pass" and SMALL in fits["message"], fits
    short = disk_finding(20, LARGE)
    assert short["severity"] == "fail" and LARGE in short["message"], short
    # the fix names a real command, for this profile and folder
    assert f"wanprov fetch-models --profile {LARGE} --models-dir /models --dry-run" in short["fix"]
    assert short["fix"].split("wanprov ")[1].split()[0] in cli.list_commands(None)  # type: ignore[arg-type]


def test_files_there_and_verified_are_not_fetched_again() -> None:
    files = sorted(profile_files(LARGE), key=lambda e: e.size or 0)
    assert disk_finding(12, LARGE)["severity"] == "fail"
    verified = {e.relpath: {"sha256": e.sha256, "size": e.size} for e in files[1:]}  # all but the smallest
    there = disk_finding(12, LARGE, verified)
    assert there["severity"] == "pass", there
    # a file at the same name with another content is fetched again: it counts
    other = {path: {**entry, "sha256": "0" * 64} for path, entry in verified.items()}
    assert disk_finding(12, LARGE, other)["severity"] == "fail"


def test_no_profile_chosen_or_recommended_sizes_nothing() -> None:
    facts = make_facts(gpu={"status": "ok", "devices": []}, disk={"free_bytes": 1 * GIB})
    finding = next(f for f in evaluate(facts).to_dict()["findings"] if f["check"] == "disk_space")
    assert finding["severity"] == "info" and "no model profile to size" in finding["message"], finding


def test_the_probe_reports_the_files_already_verified(tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / "vae").mkdir(parents=True)
    kept, changed = models / "vae" / "a.safetensors", models / "vae" / "b.safetensors"
    kept.write_bytes(b"a" * 10)
    changed.write_bytes(b"b" * 10)
    record = VerificationRecord(models)
    record.add("vae/a.safetensors", kept, "a" * 64)
    record.add("vae/b.safetensors", changed, "b" * 64)
    changed.write_bytes(b"c" * 11)  # changed since it was verified: not counted as there
    facts = probe_disk(str(models))
    assert facts["verified"] == {"vae/a.safetensors": {"sha256": "a" * 64, "size": 10}}, facts


needs_fake_disk = pytest.mark.skipif(not disk.available(), reason="the fake disk needs root (a mount)")


def doctor_on(tmp_path: Path, disk_gib: float, *extra: str) -> tuple[int, dict]:
    spec = dataclasses.replace(SPECS["h100"], disk_gib=disk_gib)
    env = install_fake_host(tmp_path / f"host-{disk_gib}", spec)
    result = run_doctor(["--python", TARGET_PYTHON, "--no-nvenc", "--format", "json", *extra], env)
    document = json.loads(result.stdout)
    return result.returncode, next(f for f in document["findings"] if f["check"] == "disk_space")


@needs_fake_disk
def test_the_verdict_follows_the_hosts_disk_not_this_machines(tmp_path: Path) -> None:
    """The same host with a 500 GiB and a 2 GiB disk, whatever this machine has free; with the user's own
    manifest of small files, the 2 GiB disk is enough (what up and the fleet tests use)."""
    code, roomy = doctor_on(tmp_path, 500)
    assert (code, roomy["severity"]) == (0, "pass"), roomy
    code, short = doctor_on(tmp_path, 2)
    assert (code, short["severity"]) == (1, "fail"), short
    assert short["message"].startswith("2.0 GiB free at ")
    profile = short["message"].split("profile ")[1].split()[0]
    manifest = tmp_path / "small-models.yaml"
    tiny_models_manifest(tmp_path / "hub", manifest, [profile])
    code, small = doctor_on(tmp_path, 2, "--manifest", str(manifest))
    assert (code, small["severity"]) == (0, "pass"), small
    assert f"profile {profile} still needs 0.0 GiB" in small["message"]
