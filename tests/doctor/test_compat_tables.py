"""The cited compat data and the pure functions over it, as tables."""

from __future__ import annotations

import pytest

from wanprov.compat import cuda, gpus, tables, torch_choice, versions
from wanprov.errors import ManifestError


@pytest.mark.parametrize("name", tables.TABLES)
def test_every_table_is_cited_and_loads(name):
    assert tables.load(name)
    assert len(tables.source(name)) > 20


def test_uncited_table_is_rejected(tmp_path, monkeypatch):
    (tmp_path / "broken.yaml").write_text("rows: {a: 1}\n")
    monkeypatch.setattr(tables, "table_path", lambda name: tmp_path / f"{name}.yaml")
    with pytest.raises(ManifestError, match="no `source:` citation"):
        tables.load.__wrapped__("broken")


@pytest.mark.parametrize(
    ("driver", "expected"),
    [
        ("580.159.04", "13.0"),
        ("580.65.06", "13.0"),
        ("575.57.08", "12.9"),
        ("570.124.06", "12.8"),
        ("560.35.03", "12.6"),
        ("535.183.01", "12.2"),
        ("525.60.13", "12.0"),
        ("520.61.05", "11.8"),
        ("470.256.02", None),
        ("garbage", None),
    ],
)
def test_driver_cuda(driver, expected):
    assert cuda.driver_cuda(driver) == expected


@pytest.mark.parametrize(
    ("arch_list", "cc", "covered"),
    [
        (["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"], "9.0", True),
        (["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"], "8.9", True),  # sm_86 cubin runs on 8.9
        (["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"], "12.1", True),  # GB10 runs sm_120
        (["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"], "6.1", False),
        (["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"], "12.0", False),  # 5090 on cu124
        (["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"], "6.1", True),
        (["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "compute_90"], "12.0", True),  # PTX JIT
        (["sm_90"], None, None),
    ],
)
def test_arch_coverage(arch_list, cc, covered):
    assert gpus.arch_covers(arch_list, cc) is covered


@pytest.mark.parametrize(
    ("cc", "arch"),
    [
        ("5.2", "maxwell"),
        ("6.1", "pascal"),
        ("7.0", "volta"),
        ("7.5", "turing"),
        ("8.6", "ampere"),
        ("8.9", "ada"),
        ("9.0", "hopper"),
        ("10.0", "blackwell"),
        ("12.0", "blackwell"),
        ("x", None),
    ],
)
def test_architecture(cc, arch):
    assert gpus.architecture(cc) == arch


def _facts(driver, cc):
    return {"gpu": {"status": "ok", "driver_version": driver, "devices": [{"compute_capability": cc}]}}


@pytest.mark.parametrize(
    ("driver", "cc", "variant"),
    [
        ("580.159.04", "9.0", "cu130"),  # H100
        ("580.95.05", "7.5", "cu130"),  # T4
        ("590.44.01", "12.0", "cu130"),
        ("575.57.08", "12.0", "cu128"),  # 5090 on 575: 12.9, no 13
        ("570.124.06", "12.0", "cu128"),
        ("570.124.06", "8.9", "cu128"),
        ("565.57.01", "8.9", "cu126"),  # 560-569
        ("535.183.01", "8.9", "cu126"),  # minor-version compatibility
        ("580.95.05", "6.1", "cu126"),  # Pascal
        ("580.95.05", "7.0", "cu126"),  # Volta: CUDA 13 dropped it
        ("525.60.13", "8.6", "cu126"),
        ("520.61.05", "8.6", None),  # below the 12.x minor-compat floor
        ("560.35.03", "12.0", None),  # Blackwell needs >= 570
        (None, "9.0", None),
    ],
)
def test_torch_recommendation(driver, cc, variant):
    choice = torch_choice.recommend(_facts(driver, cc))
    if variant is None:
        assert choice is None
        return
    assert choice["variant"] == variant
    assert (choice["torch"], choice["torchvision"], choice["torchaudio"]) == ("2.9.1", "0.24.1", "2.9.1")
    assert choice["pip_install"].endswith(f"--index-url https://download.pytorch.org/whl/{variant}")
    # the pinned torch release publishes this variant (cited table)
    assert variant in torch_choice.variants_of(choice["torch"])


def test_recommend_without_gpu():
    assert torch_choice.recommend({"gpu": {"status": "absent", "devices": []}}) is None


@pytest.mark.parametrize(
    ("version", "cuda_version", "variant"),
    [
        ("2.7.0+cu128", "12.8", "cu128"),
        ("2.11.0+cu130", None, "cu130"),
        ("2.5.1", "12.4", "cu124"),
        ("2.9.1+cpu", None, None),
        ("2.9.1", None, None),
    ],
)
def test_wheel_variant(version, cuda_version, variant):
    assert versions.wheel_variant(version, cuda_version) == variant


def test_recommended_triples_are_published_variants():
    for variant, row in tables.load("torch-recommended").items():
        assert variant in torch_choice.variants_of(row["torch"])
        assert torch_choice.arch_list_for(variant, row["torch"])


def test_vram_tiers_are_ordered_and_flags_exist_in_pinned_comfyui():
    rows = tables.load("vram-tiers")
    bounds = [row["min_vram_mib"] for row in rows]
    assert bounds == sorted(bounds, reverse=True)
    accepted = tables.load("comfyui-launch-flags")["0.3.64"]
    for row in rows:
        assert all(flag in accepted for flag in row["launch_flags"] if flag.startswith("--"))
