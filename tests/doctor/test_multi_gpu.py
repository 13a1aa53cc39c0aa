"""Multi-GPU hosts: every GPU judged, findings that name the GPU, --gpus, summary.gpus[]."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from doctor_cli import TARGET_PYTHON, run_doctor
from facts_builder import device, make_facts

from doubles.gpu import install_fake_host
from wanprov.doctor import evaluate
from wanprov.errors import UsageError
from wanprov.facts import torch_probe

MIXED = "rtx4090_rtx5090_torch260_cu126"
CU128 = "--index-url https://download.pytorch.org/whl/cu128"


@pytest.fixture(scope="module")
def mixed_host(tmp_path_factory):
    return install_fake_host(tmp_path_factory.mktemp("mixed"), MIXED)


@pytest.fixture(scope="module")
def mixed_report(mixed_host):
    result = run_doctor(["--python", TARGET_PYTHON, "--format", "json"], mixed_host)
    return result.returncode, json.loads(result.stdout)


def naming(document, index):
    return [f for f in document["findings"] if index in f["gpus"]]


def test_eight_h100_node_lists_eight_verdicts(tmp_path):
    result = run_doctor(
        ["--python", TARGET_PYTHON, "--format", "json"], install_fake_host(tmp_path, "h100x8")
    )
    document = json.loads(result.stdout)
    assert result.returncode == 0
    gpus = document["summary"]["gpus"]
    assert [gpu["index"] for gpu in gpus] == list(range(8))
    assert [gpu["verdict"] for gpu in gpus] == ["ready"] * 8
    assert len({gpu["uuid"] for gpu in gpus}) == 8 and len({gpu["pci_bus_id"] for gpu in gpus}) == 8
    assert gpus[0]["uuid"] == "GPU-4b0dc88c-b48b-de6b-841d-77bb9734c3f4"  # GPU 0 is the recorded card
    assert {(g["name"], g["compute_capability"], g["vram_tier"], g["recommended_profile"]) for g in gpus} == {
        ("NVIDIA H100 80GB HBM3", "9.0", "xlarge", "wan22-i2v-a14b-q5-lightning")
    }
    assert document["summary"]["usable_gpus"] == list(range(8))
    # the kernel ran on each of the eight device indices, in the torch probe's one subprocess
    torch = document["facts"]["torch"]
    assert [(d["index"], d["kernel"]["ok"]) for d in torch["devices"]] == [(i, True) for i in range(8)]
    assert [d["uuid"] for d in torch["devices"]] == [g["uuid"] for g in gpus]
    # identical passes on eight cards read as one line naming them all, not eight
    [runtime] = [f for f in document["findings"] if f["check"] == "torch_runtime"]
    assert runtime["gpus"] == list(range(8)) and runtime["message"].startswith("GPUs 0-7 (NVIDIA H100")


def test_mixed_host_fails_the_5090_by_name(mixed_report):
    code, document = mixed_report
    assert code == 1 and document["ok"] is False
    failing = [f for f in document["findings"] if f["severity"] == "fail"]
    assert {f["check"] for f in failing} == {"torch_arch_coverage", "blackwell_support", "torch_runtime"}
    for finding in failing:
        assert finding["gpus"] == [1]
        assert finding["message"].startswith("GPU 1 (NVIDIA GeForce RTX 5090, 00000000:02:00.0): ")
        assert CU128 in finding["fix"] and "install the cu128 wheel" in finding["fix"]
    coverage = next(f for f in failing if f["check"] == "torch_arch_coverage")
    assert "torch 2.6.0+cu126 has no kernels for sm_120" in coverage["message"]
    runtime = next(f for f in failing if f["check"] == "torch_runtime")
    assert "no kernel image is available" in runtime["message"]
    # the 4090 runs: its own checks pass and name it
    assert {f["severity"] for f in naming(document, 0)} <= {"pass", "info"}
    assert any(f["check"] == "torch_runtime" and f["gpus"] == [0] for f in naming(document, 0))
    gpus = document["summary"]["gpus"]
    assert [(g["index"], g["name"], g["verdict"]) for g in gpus] == [
        (0, "NVIDIA GeForce RTX 4090", "ready"),
        (1, "NVIDIA GeForce RTX 5090", "fail"),
    ]
    assert gpus[1]["failed_checks"] == ["torch_arch_coverage", "blackwell_support", "torch_runtime"]
    assert document["summary"]["usable_gpus"] == [0]
    # one venv for both cards: the wheel doctor recommends covers sm_89 and sm_120
    assert document["summary"]["torch"]["variant"] == "cu128"


def test_mixed_host_text_names_gpu_1(mixed_host):
    result = run_doctor(["--python", TARGET_PYTHON], mixed_host)
    assert result.returncode == 1
    assert "FAIL  torch_arch_coverage   GPU 1 (NVIDIA GeForce RTX 5090" in result.stdout
    table = result.stdout.split("GPUs:\n", 1)[1]
    assert "NVIDIA GeForce RTX 4090  00000000:01:00.0" in table
    assert "fail (torch_arch_coverage, blackwell_support, torch_runtime)" in table


def test_gpus_0_makes_the_mixed_host_ready(mixed_host):
    result = run_doctor(["--python", TARGET_PYTHON, "--gpus", "0", "--format", "json"], mixed_host)
    document = json.loads(result.stdout)
    assert result.returncode == 0 and document["ok"] is True
    assert [g["verdict"] for g in document["summary"]["gpus"]] == ["ready", "excluded"]
    assert document["summary"]["usable_gpus"] == [0]
    assert naming(document, 1) == []  # nothing is judged on an excluded GPU
    detected = next(f for f in document["findings"] if f["check"] == "gpu_detected")
    assert "excluded by --gpus: GPU 1 (NVIDIA GeForce RTX 5090" in detected["message"]


def test_gpus_applies_to_a_replayed_facts_file(mixed_host, tmp_path):
    saved = tmp_path / "facts.json"
    live = run_doctor(["--python", TARGET_PYTHON, "--no-nvenc", "--save-facts", str(saved)], mixed_host)
    assert live.returncode == 1
    assert run_doctor(["--facts", str(saved), "--gpus", "0"]).returncode == 0
    assert run_doctor(["--facts", str(saved), "--gpus", "1"]).returncode == 1


@pytest.mark.parametrize(
    ("value", "message"), [("5", "no GPU 5 on this host"), ("0,x", "expected GPU indices")]
)
def test_bad_gpus_is_a_usage_error(mixed_host, tmp_path, value, message):
    saved = tmp_path / "facts.json"
    run_doctor(["--no-torch", "--no-nvenc", "--save-facts", str(saved)], mixed_host)
    result = run_doctor(["--facts", str(saved), "--gpus", value, "--format", "json"])
    assert result.returncode == 2
    assert message in result.stdout + result.stderr


def test_selection_names_the_gpus_the_host_has():
    with pytest.raises(UsageError, match=r"no GPU 3 on this host \(it has GPU 0") as error:
        evaluate(make_facts(), gpus=[0, 3])
    assert error.value.exit_code == 2


def _two_gpus(torch_devices):
    """A 4090 + 5090 host's facts; `torch_devices` is what the torch probe saw."""
    gpus = [
        device(
            index=0, name="RTX 4090", uuid="GPU-aaaa", pci_bus_id="00000000:01:00.0", compute_capability="8.9"
        ),
        device(
            index=1,
            name="RTX 5090",
            uuid="GPU-bbbb",
            pci_bus_id="00000000:02:00.0",
            compute_capability="12.0",
        ),
    ]
    return make_facts(gpu={"devices": gpus}, torch={"devices": torch_devices})


def _seen(index, uuid, ok):
    return {"index": index, "uuid": uuid, "kernel": {"ok": ok, "error": None if ok else "no kernel image"}}


def test_kernel_results_follow_the_uuid_not_the_position():
    # torch listed the 5090 first (e.g. facts from an older probe without PCI order): uuids decide
    report = evaluate(_two_gpus([_seen(0, "GPU-bbbb", False), _seen(1, "GPU-aaaa", True)]))
    runtime = {f.gpus: f.severity for f in report.findings if f.check == "torch_runtime"}
    assert runtime == {(0,): "pass", (1,): "fail"}


def test_a_gpu_torch_cannot_see_fails_by_name():
    report = evaluate(_two_gpus([_seen(0, "GPU-aaaa", True)]))
    [missing] = [f for f in report.findings if f.check == "torch_runtime" and f.severity == "fail"]
    assert missing.gpus == (1,) and "torch does not see this GPU" in missing.message
    assert "--gpus" in missing.fix
    assert [g["verdict"] for g in report.summary["gpus"]] == ["ready", "fail"]


def test_facts_without_per_device_torch_results_still_judge_gpu_0():
    """Facts saved before the probe looped over devices carry device 0's kernel in flat fields."""
    report = evaluate(make_facts(torch={"devices": None}))
    [runtime] = [f for f in report.findings if f.check == "torch_runtime"]
    assert runtime.severity == "pass" and runtime.gpus == (0,)


def test_strict_turns_a_gpu_warning_into_its_failure():
    facts = make_facts(gpu={"devices": [device(mig_mode="enabled")]})
    assert evaluate(facts).summary["gpus"][0]["verdict"] == "ready"
    strict = evaluate(facts, strict=True).summary["gpus"][0]
    assert (strict["verdict"], strict["failed_checks"]) == ("fail", ["mig_mode"])


def test_summary_keeps_what_its_readers_use():
    summary = evaluate(make_facts()).summary
    assert {"gpu", "vram_tier", "recommended_profile", "recommended_quant", "launch_flags", "torch"} <= set(
        summary
    )
    assert {"nvenc", "nvenc_tool", "gpus", "usable_gpus"} <= set(summary)
    assert set(summary["gpus"][0]) == {
        "index",
        "uuid",
        "pci_bus_id",
        "name",
        "compute_capability",
        "vram_total_mib",
        "arch",
        "vram_tier",
        "recommended_profile",
        "recommended_quant",
        "launch_flags",
        "nvenc",
        "verdict",
        "failed_checks",
    }


def test_probe_judges_devices_in_nvidia_smi_order_whatever_the_environment(mixed_host, monkeypatch):
    """The fake torch enumerates fastest first and honours CUDA_VISIBLE_DEVICES, as CUDA does; the probe
    must still report every GPU, in PCI order, so torch's device N is nvidia-smi's GPU N."""
    hidden = ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER")
    env = {k: v for k, v in {**os.environ, **mixed_host}.items() if k not in hidden}
    unordered = subprocess.run(
        [
            TARGET_PYTHON,
            "-c",
            "import torch; print(torch.cuda.get_device_name(0), torch.cuda.device_count())",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert unordered.stdout.split() == ["NVIDIA", "GeForce", "RTX", "5090", "2"]  # the double is strict
    for name, value in {**env, "CUDA_VISIBLE_DEVICES": "1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    facts = torch_probe.probe(TARGET_PYTHON)
    assert facts["cuda_visible_devices"] == "1"
    assert [(d["index"], d["name"], d["kernel"]["ok"]) for d in facts["devices"]] == [
        (0, "NVIDIA GeForce RTX 4090", True),
        (1, "NVIDIA GeForce RTX 5090", False),
    ]
    assert facts["devices"][1]["pci_bus_id"] == "00000000:02:00.0"


def test_equal_passes_merge_and_name_their_gpus():
    gpus = [
        device(index=0, pci_bus_id="00000000:01:00.0"),
        device(
            index=1, name="NVIDIA A100-SXM4-80GB", compute_capability="8.0", pci_bus_id="00000000:02:00.0"
        ),
        device(index=2, pci_bus_id="00000000:03:00.0"),
    ]
    report = evaluate(make_facts(gpu={"devices": gpus}))
    precision = {f.gpus: f.message for f in report.findings if f.check == "precision"}
    assert precision == {
        (0, 2): "GPUs 0, 2 (NVIDIA H100 80GB HBM3): CC 9.0: bf16 and fp8 matmul supported",
        (1,): "GPU 1 (NVIDIA A100-SXM4-80GB, 00000000:02:00.0): CC 8.0 has bf16 but no fp8 matmul: fp8 "
        "weights are upcast (they work, without the fp8 speed-up)",
    }
