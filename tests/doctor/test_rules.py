"""Rules as tables: facts in, the finding of one check out (pure: no probes run)."""

from __future__ import annotations

import pytest
from facts_builder import device, make_facts

from wanprov.doctor import evaluate


def finding(report, check):
    matches = [f for f in report.findings if f.check == check]
    return matches[0] if matches else None


CASES = [
    # id, facts overrides, check, severity (None: no finding), text in message+fix
    ("healthy_h100", {}, "torch_cuda_major", "pass", "CUDA 13.x wheel"),
    (
        "blackwell_proprietary",
        {
            "gpu": {"devices": [device(name="RTX 5090", compute_capability="12.0")]},
            "driver": {"flavour": "proprietary"},
        },
        "driver_flavour",
        "fail",
        "open kernel",
    ),
    (
        "driver_branch_eol",
        {
            "gpu": {"driver_version": "535.183.01", "cuda_driver_version": "12.2"},
            "torch": {"version": "2.9.1+cu126", "cuda": "12.6"},
        },
        "driver_branch_eol",
        "warn",
        "R535 reached end of life on 2026-06-01",
    ),
    ("driver_branch_supported", {}, "driver_branch_eol", "pass", "R580 supported until 2028-06-01"),
    (
        "mig_enabled",
        {"gpu": {"devices": [device(mig_mode="enabled")]}},
        "mig_mode",
        "warn",
        "nvidia-smi -i 0 -mig 0",
    ),
    ("mig_disabled", {}, "mig_mode", None, ""),
    (
        "cpu_torch",
        {"torch": {"version": "2.9.1+cpu", "cuda": None, "arch_list": []}},
        "torch_cuda_build",
        "fail",
        "--index-url https://download.pytorch.org/whl/cu130",
    ),
    (
        "torch_missing",
        {
            "torch": {
                "status": "missing",
                "reason": "ModuleNotFoundError: No module named 'torch'",
                "_replace": False,
            }
        },
        "torch_installed",
        "fail",
        "pip install torch==2.9.1",
    ),
    (
        "torch_unknown",
        {"torch": {"status": "unknown", "reason": "timed out"}},
        "torch_installed",
        "warn",
        "timed out",
    ),
    (
        "minor_compat_floor",
        {
            "gpu": {"driver_version": "520.61.05", "cuda_driver_version": "12.0"},
            "torch": {"version": "2.9.1+cu126", "cuda": "12.6"},
        },
        "torch_cuda_minor",
        "fail",
        "525.60.13",
    ),
    (
        "no_wheel_possible",
        {"gpu": {"driver_version": "470.256.02", "cuda_driver_version": "11.4"}},
        "torch_recommendation",
        "fail",
        "upgrade the NVIDIA driver",
    ),
    (
        "fp8_upcast_ampere",
        {"gpu": {"devices": [device(compute_capability="8.6")]}},
        "precision",
        "info",
        "upcast",
    ),
    (
        "bf16_missing_turing",
        {"gpu": {"devices": [device(compute_capability="7.5")]}},
        "precision",
        "warn",
        "bf16",
    ),
    (
        "triton_mismatch",
        {"torch": {"modules": {"triton": "3.2.0"}}},
        "triton_version",
        "fail",
        "triton==3.6.0",
    ),
    (
        "triton_prefix_pin",
        {
            "torch": {"version": "2.7.0+cu128", "cuda": "12.8", "modules": {"triton": "3.3.1"}},
            "gpu": {"driver_version": "570.124.06", "cuda_driver_version": "12.8"},
        },
        "triton_version",
        "pass",
        "3.3.1",
    ),
    ("triton_absent", {"torch": {"modules": {}}}, "triton_version", "info", "torch.compile"),
    (
        "xformers_for_other_torch",
        {
            "torch": {
                "modules": {"triton": "3.6.0", "xformers": "0.0.26.post1"},
                "xformers_requires": ["torch==2.3.0"],
            }
        },
        "xformers_torch",
        "fail",
        "built for torch 2.3.0, not 2.11.0",
    ),
    (
        "xformers_matching",
        {
            "torch": {
                "modules": {"triton": "3.6.0", "xformers": "0.0.35"},
                "xformers_requires": ["torch==2.11.0"],
            }
        },
        "xformers_torch",
        "pass",
        "",
    ),
    (
        "nvenc_by_encode_not_capacity",
        {"nvenc": {"encoders": {"h264_nvenc": {"ok": False, "error": "No capable devices found"}}}},
        "nvenc",
        "info",
        "No capable devices found",
    ),
    ("nvenc_skipped", {"nvenc": {"status": "skipped", "encoders": {}}}, "nvenc", "info", "--no-nvenc"),
    ("ram_low", {"memory": {"total_bytes": 12 * 1024**3}}, "memory", "fail", ">= 16 GiB"),
    ("ram_tight", {"memory": {"total_bytes": 24 * 1024**3}}, "memory", "warn", "32 GiB"),
    ("disk_full", {"disk": {"free_bytes": 10 * 1024**3}}, "disk_space", "fail", "--models-dir"),
    (
        "comfyui_missing",
        {"comfyui": {"status": "absent", "reason": "/x has no main.py", "dir": "/x"}},
        "comfyui_install",
        "fail",
        "main.py",
    ),
    (
        "comfyui_rejects_flag",
        {
            "comfyui": {
                "status": "ok",
                "dir": "/c",
                "version": "0.9",
                "commit": None,
                "custom_nodes": [],
                "launch_flags": ["--lowvram", "--cpu"],
            }
        },
        "comfyui_launch_flags",
        "fail",
        "does not accept --highvram",
    ),
    (
        "comfyui_accepts_flags",
        {
            "comfyui": {
                "status": "ok",
                "dir": "/c",
                "version": "0.3.64",
                "commit": None,
                "custom_nodes": [{"name": "ComfyUI-GGUF", "commit": None}],
                "launch_flags": ["--highvram", "--lowvram"],
            }
        },
        "comfyui_launch_flags",
        "pass",
        "--highvram",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "check", "severity", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule(overrides, check, severity, text):
    result = finding(evaluate(make_facts(**overrides)), check)
    if severity is None:
        assert result is None
        return
    assert result is not None, f"no {check} finding"
    assert result.severity == severity, result
    assert text in f"{result.message} {result.fix or ''}", result


@pytest.mark.parametrize(
    ("profile", "vram", "severity"),
    [
        ("wan22-i2v-a14b-q5-lightning", 81559, "pass"),
        ("wan22-i2v-a14b-q5-lightning", 12288, "warn"),
        ("wan22-i2v-a14b-q3-lightning", 12288, "pass"),
        ("flux1-schnell", 8192, "info"),
    ],
)
def test_profile_fit(profile, vram, severity):
    report = evaluate(make_facts(gpu={"devices": [device(vram_total_mib=vram)]}), profile=profile)
    assert finding(report, "profile_fit").severity == severity


def test_strict_turns_warn_into_failure():
    facts = make_facts(memory={"total_bytes": 24 * 1024**3})
    assert evaluate(facts).ok is True
    strict = evaluate(facts, strict=True)
    assert strict.ok is False
    assert strict.to_dict()["strict"] is True


def test_sage_attention_flag_when_installed():
    facts = make_facts(torch={"modules": {"triton": "3.6.0", "sageattention": "2.2.0"}})
    assert evaluate(facts).summary["launch_flags"] == ["--highvram", "--use-sage-attention"]


def test_no_gpu_report_is_complete():
    facts = make_facts(
        gpu={
            "status": "absent",
            "reason": "nvidia-smi not found on PATH",
            "devices": [],
            "driver_version": None,
            "cuda_driver_version": None,
        }
    )
    report = evaluate(facts)
    assert not report.ok
    checks = {f.check for f in report.findings}
    assert {"gpu_detected", "torch_installed", "nvenc", "memory", "disk_space"} <= checks
    assert report.summary["gpu"] is None and report.summary["torch"] is None


def test_a_cpu_host_passes_without_a_gpu():
    """--cpu (comfyui_cpu, `wanprov up --cpu`): the GPU, driver, VRAM and encoder checks inform instead of
    blocking; a host-wide problem (disk, memory) still blocks."""
    no_gpu = {"status": "absent", "reason": "nvidia-smi not found on PATH", "devices": [],
              "driver_version": None, "cuda_driver_version": None}  # fmt: skip
    facts = make_facts(gpu=no_gpu, torch=None)
    refused = {f.check for f in evaluate(facts).blocking}
    assert "gpu_detected" in refused
    report = evaluate(facts, cpu=True)
    waived = {f.check for f in report.findings if f.message.startswith("not needed on the CPU (--cpu)")}
    assert "gpu_detected" in waived and not waived & {f.check for f in report.blocking}
    assert {f.check for f in report.blocking} == refused - waived
