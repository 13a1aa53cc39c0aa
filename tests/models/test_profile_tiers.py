"""Profile descriptions agree with the doctor's tier table: `models list` shows the tiers from the table,
and no hand-written description claims GPU sizes (a Q5 profile once said "16-24 GB" while 16 GB gets Q4)."""

from __future__ import annotations

import json
import re

from wanprov.compat import tables
from wanprov.models.catalog import load_catalog
from wanprov.models.tiers import describe_tiers, profile_tiers
from workflows.workflow_cli import run_wanprov

GPU_SIZE = re.compile(r"\d+\s*(-\s*\d+\s*)?(GB|GiB)\b[^.;)]*\b(GPU|VRAM|and under|or less|and up)", re.I)


def test_every_tier_row_with_a_profile_is_listed_under_that_profile():
    rows = [row for row in tables.load("vram-tiers") if row["profile"]]
    for row in rows:
        assert row["tier"] in [t["tier"] for t in profile_tiers(row["profile"])]
    assert [t["tier"] for t in profile_tiers("wan22-i2v-a14b-q5-lightning")] == ["large", "xlarge"]
    assert profile_tiers("flux1-schnell") == []


def test_tier_text_follows_the_table_bounds():
    assert describe_tiers(profile_tiers("wan22-i2v-a14b-q4km-lightning")) == "doctor tier medium (12-20 GB)"
    assert describe_tiers(profile_tiers("wan22-i2v-a14b-q5-lightning")) == (
        "doctor tier large (20-40 GB), xlarge (40 GB and up)"
    )
    assert describe_tiers(profile_tiers("wan22-i2v-a14b-q3-lightning")) == "doctor tier small (under 12 GB)"


def test_descriptions_claim_no_gpu_sizes_of_their_own():
    for name, description in load_catalog().descriptions.items():
        assert not GPU_SIZE.search(description), f"{name}: {description}"
        assert "seed" not in description.lower(), f"{name}: {description}"


def test_models_list_shows_the_tiers_in_text_and_json():
    listed = run_wanprov("models", "list").stdout.splitlines()
    q5 = next(line for line in listed if line.startswith("wan22-i2v-a14b-q5-lightning "))
    assert "doctor tier large (20-40 GB), xlarge (40 GB and up)" in q5
    assert "16-24" not in q5
    document = json.loads(run_wanprov("models", "list", "--format", "json").stdout)
    assert document["profiles"]["wan22-i2v-a14b-q4km-lightning"]["tiers"] == [
        {"tier": "medium", "min_vram_mib": 12288, "max_vram_mib": 20480}
    ]
