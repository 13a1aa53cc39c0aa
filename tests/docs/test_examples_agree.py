"""The example inventory and the docs say what the tool does: the doctor's tiering of each GPU class of
inventories/example (the recorded GPUs of the doubles) is the tier, resolution and length its group_vars
comment and docs/fleet.md name, and the profile it pins fits that tier."""

from __future__ import annotations

import re

import pytest
import yaml
from doc_blocks import REPO_ROOT

from doctor.facts_builder import device, make_facts
from doubles.gpu.specs import SPECS
from wanprov.compat import tables
from wanprov.doctor import evaluate

INVENTORY = REPO_ROOT / "inventories" / "example"
# inventory group -> the GPU its name stands for
CLASSES = {
    "rtx4090": "NVIDIA GeForce RTX 4090",
    "rtx5090": "NVIDIA GeForce RTX 5090",
    "h100": "NVIDIA H100 80GB HBM3",
}
TIER_CLAIM = re.compile(r'tier (?:is )?"(\w+)"')


def _gpu(name: str) -> dict[str, object]:
    spec = next(spec for spec in SPECS.values() if spec.gpu_name == name)
    return device(name=name, compute_capability=spec.cc, vram_total_mib=spec.vram_mib)


def _doctor_says(name: str) -> dict[str, object]:
    """The tier and profile the doctor gives this GPU, and the workflow settings of that tier."""
    summary = evaluate(make_facts(gpu={"devices": [_gpu(name)]})).summary
    workflow = yaml.safe_load((REPO_ROOT / "manifests/workflows/defaults.yaml").read_text())
    tier = summary["vram_tier"]
    settings = workflow["templates"]["wan22-i2v-gguf-lightning"]["tiers"][tier]
    return {"tier": tier, "profile": summary["recommended_profile"], **settings}


def _rank(profile: str) -> int:
    order = [row["profile"] for row in sorted(tables.load("vram-tiers"), key=lambda r: r["min_vram_mib"])]
    return order.index(profile)


def test_every_class_of_the_inventory_is_checked() -> None:
    hosts = yaml.safe_load((INVENTORY / "hosts.yml").read_text())
    groups = hosts["all"]["children"]["gpu_hosts"]["children"]
    assert set(groups) == set(CLASSES)


@pytest.mark.parametrize("group", sorted(CLASSES))
def test_group_vars_comment_says_what_the_doctor_does(group: str) -> None:
    said = _doctor_says(CLASSES[group])
    text = (INVENTORY / "group_vars" / f"{group}.yml").read_text()
    comment = " ".join(line.lstrip("# ") for line in text.splitlines() if line.startswith("#"))
    assert set(TIER_CLAIM.findall(comment)) == {said["tier"]}, (group, comment, said)
    assert said["preset"] in comment and f"{said['length']} frames" in comment, (group, said)
    pinned = yaml.safe_load(text).get("models_profile")
    if pinned:  # a pinned profile must fit: no heavier than the tier's own
        assert _rank(pinned) <= _rank(str(said["profile"])), (group, pinned, said)


def test_fleet_doc_example_says_what_the_doctor_does() -> None:
    fleet = (REPO_ROOT / "docs" / "fleet.md").read_text()
    claims = re.findall(r"# group_vars/(\w+)\.yml - [^\n]*?tier \"(\w+)\" \((\w+), (\d+) frames\)", fleet)
    assert claims, "docs/fleet.md shows a group_vars example with its tier"
    for group, tier, preset, length in claims:
        said = _doctor_says(CLASSES[group])
        assert (tier, preset, int(length)) == (said["tier"], said["preset"], said["length"]), group


def test_rtx_4090_is_large_at_720p() -> None:
    """The case the docs once got wrong: 24 GB is above the large tier's 20 GB floor."""
    said = _doctor_says("NVIDIA GeForce RTX 4090")
    assert (said["tier"], said["preset"], said["profile"]) == ("large", "720p", "wan22-i2v-a14b-q5-lightning")
