"""The cases of the issue, end to end: fake host -> real probes -> real rules -> JSON report."""

from __future__ import annotations

import pytest

CASES = [
    # name, exit code, failing checks, (check, severity, text the message or fix must hold)
    (
        "h100",
        0,
        set(),
        [
            ("gpu_detected", "pass", "NVIDIA H100 80GB HBM3, CC 9.0, 81559 MiB VRAM, driver 580.159.04"),
            ("nvenc", "info", "HBM3 has no NVENC hardware"),
            ("torch_arch_coverage", "pass", "sm_90"),
            ("driver_flavour", "pass", "open kernel module"),
        ],
    ),
    (
        "rtx5090_torch251_cu124",
        1,
        {"blackwell_support", "torch_arch_coverage", "torch_runtime"},
        [
            ("blackwell_support", "fail", "torch >= 2.7"),
            ("blackwell_support", "fail", "--index-url https://download.pytorch.org/whl/cu128"),
            ("torch_runtime", "fail", "no kernel image is available"),
        ],
    ),
    (
        "rtx5090_torch270_cu128_driver570",
        0,
        set(),
        [
            ("blackwell_support", "pass", "new enough"),
            ("nvenc", "pass", "h264_nvenc, hevc_nvenc, av1_nvenc"),
            ("driver_branch_eol", "warn", "R570"),
        ],
    ),
    (
        "rtx4090_driver535_cu130",
        1,
        {"torch_cuda_major", "torch_runtime"},
        [
            ("torch_cuda_major", "fail", "CUDA 13 wheels need driver >= 580.65.06"),
            ("torch_cuda_major", "fail", "pip install torch==2.9.1"),
            ("torch_runtime", "fail", "driver on your system is too old"),
        ],
    ),
    (
        "rtx4090_driver535_cu128",
        0,
        set(),
        [
            ("torch_cuda_minor", "warn", "minor-version compatibility"),
            ("torch_cuda_minor", "warn", "upgrade the driver to >= 570.26"),
        ],
    ),
    (
        "gtx1080_cu128",
        1,
        {"legacy_gpu_wheel", "torch_arch_coverage", "torch_runtime"},
        [
            ("legacy_gpu_wheel", "fail", "use cu126"),
            ("legacy_gpu_wheel", "fail", "--index-url https://download.pytorch.org/whl/cu126"),
            ("precision", "warn", "no bf16"),
        ],
    ),
    (
        "t4_cu130_driver580",
        0,
        set(),
        [
            ("torch_arch_coverage", "pass", "sm_75"),
            ("nvenc", "pass", "not av1_nvenc"),
        ],
    ),
    (
        "no_gpu",
        1,
        {"gpu_detected"},
        [
            ("gpu_detected", "fail", "no usable NVIDIA GPU"),
            ("torch_installed", "pass", "2.9.1+cu130"),
        ],
    ),
]


@pytest.mark.parametrize(("name", "code", "failing", "expected"), CASES, ids=[case[0] for case in CASES])
def test_host_verdict(doctor_json, name, code, failing, expected):
    exit_code, document = doctor_json(name)
    assert exit_code == code
    assert document["ok"] is (code == 0)
    failed = {f["check"] for f in document["findings"] if f["severity"] == "fail"}
    assert failed == failing
    for check, severity, text in expected:
        matches = [f for f in document["findings"] if f["check"] == check]
        assert matches, f"no {check} finding"
        finding = matches[0]
        assert finding["severity"] == severity, finding
        assert text in finding["message"] + " " + (finding["fix"] or ""), finding


SUMMARIES = [
    (
        "h100",
        {
            "name": "NVIDIA H100 80GB HBM3",
            "compute_capability": "9.0",
            "vram_total_mib": 81559,
            "arch": "hopper",
        },
        "xlarge",
        "wan22-i2v-a14b-q5-lightning",
        "Q5_K_S",
        ["--highvram"],
        "cu130",
        {"h264_nvenc": False, "hevc_nvenc": False, "av1_nvenc": False},
    ),
    (
        "rtx5090_torch251_cu124",
        {
            "name": "NVIDIA GeForce RTX 5090",
            "compute_capability": "12.0",
            "vram_total_mib": 32607,
            "arch": "blackwell",
        },
        "large",
        "wan22-i2v-a14b-q5-lightning",
        "Q5_K_S",
        [],
        "cu128",
        {"h264_nvenc": True, "hevc_nvenc": True, "av1_nvenc": True},
    ),
    (
        "t4_cu130_driver580",
        {"name": "Tesla T4", "compute_capability": "7.5", "vram_total_mib": 15360, "arch": "turing"},
        "medium",
        "wan22-i2v-a14b-q4km-lightning",
        "Q4_K_M",
        [],
        "cu130",
        {"h264_nvenc": True, "hevc_nvenc": True, "av1_nvenc": False},
    ),
    (
        "gtx1080_cu128",
        {
            "name": "NVIDIA GeForce GTX 1080",
            "compute_capability": "6.1",
            "vram_total_mib": 8192,
            "arch": "pascal",
        },
        "small",
        "wan22-i2v-a14b-q3-lightning",
        "Q3_K_S",
        ["--lowvram"],
        "cu126",
        {"h264_nvenc": True, "hevc_nvenc": True, "av1_nvenc": False},
    ),
    (
        "no_gpu",
        None,
        "none",
        None,
        None,
        ["--cpu"],
        None,
        {"h264_nvenc": False, "hevc_nvenc": False, "av1_nvenc": False},
    ),
]


@pytest.mark.parametrize(
    ("name", "gpu", "tier", "profile", "quant", "flags", "variant", "nvenc"),
    SUMMARIES,
    ids=[case[0] for case in SUMMARIES],
)
def test_summary_contract(doctor_json, name, gpu, tier, profile, quant, flags, variant, nvenc):
    _, document = doctor_json(name)
    assert document["schema"] == "wanprov.doctor/1"
    assert set(document) >= {"ok", "strict", "findings", "summary", "facts"}
    summary = document["summary"]
    assert summary["gpu"] == gpu
    assert (summary["vram_tier"], summary["recommended_profile"], summary["recommended_quant"]) == (
        tier,
        profile,
        quant,
    )
    assert summary["launch_flags"] == flags
    assert summary["nvenc"] == nvenc
    if variant is None:
        assert summary["torch"] is None
    else:
        torch = summary["torch"]
        assert torch["variant"] == variant
        assert torch["index_url"] == f"https://download.pytorch.org/whl/{variant}"
        assert torch["pip_install"] == (
            f"pip install torch=={torch['torch']} torchvision=={torch['torchvision']} "
            f"torchaudio=={torch['torchaudio']} --index-url {torch['index_url']}"
        )
    for finding in document["findings"]:
        assert set(finding) == {"check", "severity", "message", "fix", "gpus"}
        assert all(isinstance(index, int) for index in finding["gpus"])
        assert finding["severity"] in {"pass", "info", "warn", "fail"}
        if finding["severity"] in {"warn", "fail"}:
            assert finding["fix"], finding


def test_h100_facts_come_from_the_recording(doctor_json):
    _, document = doctor_json("h100")
    gpu = document["facts"]["gpu"]
    assert gpu["source"] == "nvidia-smi"  # NVML has no library here: the fallback ran
    assert "NVML unavailable" in gpu["nvml_reason"]
    assert gpu["driver_version"] == "580.159.04" and gpu["cuda_driver_version"] == "13.0"
    assert gpu["devices"][0]["uuid"] == "GPU-4b0dc88c-b48b-de6b-841d-77bb9734c3f4"
    assert gpu["devices"][0]["mig_mode"] == "disabled"
    torch = document["facts"]["torch"]
    assert torch["version"] == "2.11.0+cu130"
    assert torch["modules"]["triton"] == "3.6.0"
    assert torch["kernel"] == {"ok": True, "error": None}
    nvenc = document["facts"]["nvenc"]  # which.txt: no ffmpeg; nvenc-pyav.txt's PyAV errors replayed
    assert nvenc["tool"] == "pyav" and nvenc["av_version"] == "18.1.0"
    assert "Generic error in an external library" in nvenc["encoders"]["h264_nvenc"]["error"]
