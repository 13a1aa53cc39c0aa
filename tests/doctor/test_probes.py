"""The real probe code against recorded output, stand-in modules and real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from doubles.gpu import install_fake_host
from doubles.gpu.nvml import FakeNvml
from wanprov.facts import (
    ProbeOptions,
    collect,
    comfyui,
    driver,
    gpu_nvml,
    gpu_smi,
    nvenc,
    snapshot,
    torch_probe,
)

H100 = "hosts/h100-80gb-hbm3-driver580"


def recorded(fixtures_dir: Path, name: str) -> str:
    lines = (fixtures_dir / H100 / name).read_text().split("\n")
    return "\n".join(lines[1:-2])


def test_smi_query_parser_reads_the_recording(fixtures_dir):
    [gpu] = gpu_smi.parse_query(recorded(fixtures_dir, "nvidia-smi-query-nounits.txt"))
    assert gpu == {
        "index": 0,
        "name": "NVIDIA H100 80GB HBM3",
        "uuid": "GPU-4b0dc88c-b48b-de6b-841d-77bb9734c3f4",
        "pci_bus_id": "00000000:00:06.0",
        "driver_version": "580.159.04",
        "compute_capability": "9.0",
        "vram_total_mib": 81559,
        "vram_free_mib": 81079,
        "mig_mode": "disabled",
    }


def test_smi_query_fields_are_the_recorded_ones(fixtures_dir):
    command = (fixtures_dir / H100 / "nvidia-smi-query-nounits.txt").read_text().splitlines()[0]
    assert f"--query-gpu={gpu_smi.QUERY_FIELDS} --format=csv,noheader,nounits" in command


@pytest.mark.parametrize("name", ["nvidia-smi-version.txt", "nvidia-smi.txt"])
def test_smi_version_parser(fixtures_dir, name):
    assert gpu_smi.parse_version_output(recorded(fixtures_dir, name))["cuda"] == "13.0"


def test_smi_parser_skips_unsupported_values():
    line = (
        "0, Tesla T4, GPU-1, 00:01.0, 580.95.05, 90, [N/A], 0, [N/A], 7.5, 70, 1590, Enabled, [N/A], P8, 30"
    )
    [gpu] = gpu_smi.parse_query(line)
    assert gpu["vram_total_mib"] is None and gpu["mig_mode"] is None


def test_nvml_parser_replays_the_recording(fixtures_dir):
    info = json.loads(recorded(fixtures_dir, "nvml-info.txt"))
    facts = gpu_nvml.probe(FakeNvml.from_recording(info, ["00000000:00:06.0"]))
    assert facts["status"] == "ok" and facts["source"] == "nvml"
    assert facts["driver_version"] == "580.159.04" and facts["cuda_driver_version"] == "13.0"
    [gpu] = facts["devices"]
    assert gpu["name"] == "NVIDIA H100 80GB HBM3" and gpu["compute_capability"] == "9.0"
    assert gpu["vram_total_mib"] == 81559 and gpu["mig_mode"] == "disabled"
    assert gpu["pci_bus_id"] == "00000000:00:06.0"


def test_nvml_lists_every_gpu_of_a_multi_gpu_host(tmp_path):
    install_fake_host(tmp_path, "h100x8")
    facts = gpu_nvml.probe(FakeNvml.from_fake_host(tmp_path))
    devices = facts["devices"]
    assert [d["index"] for d in devices] == list(range(8))
    assert len({d["uuid"] for d in devices}) == 8 and len({d["pci_bus_id"] for d in devices}) == 8
    assert devices[0]["uuid"] == "GPU-4b0dc88c-b48b-de6b-841d-77bb9734c3f4"  # GPU 0 is the recording
    assert {(d["name"], d["compute_capability"], d["vram_total_mib"]) for d in devices} == {
        ("NVIDIA H100 80GB HBM3", "9.0", 81559)
    }


def test_nvml_and_nvidia_smi_agree_on_a_mixed_host(tmp_path, monkeypatch):
    env = install_fake_host(tmp_path, "rtx4090_rtx5090_torch260_cu126")
    monkeypatch.setenv("PATH", env["PATH"])
    nvml = gpu_nvml.probe(FakeNvml.from_fake_host(tmp_path))
    smi = gpu_smi.probe()
    keys = ("index", "name", "uuid", "pci_bus_id", "compute_capability", "vram_total_mib", "mig_mode")
    assert [{k: d[k] for k in keys} for d in nvml["devices"]] == [
        {k: d[k] for k in keys} for d in smi["devices"]
    ]
    assert [d["name"] for d in smi["devices"]] == ["NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 5090"]
    assert smi["devices"][1]["mig_mode"] is None  # consumer cards: NVML_ERROR_NOT_SUPPORTED, "[N/A]"


def test_nvml_without_library_is_unknown_not_an_exception(monkeypatch):
    monkeypatch.setattr(gpu_nvml, "DRIVER_NODES", ("/",))  # pretend a driver node exists: real pynvml runs
    facts = gpu_nvml.probe()  # no libnvidia-ml on this machine
    assert facts["status"] == "unknown"
    assert "NVML Shared Library Not Found" in facts["reason"]


def test_nvml_is_not_tried_without_a_kernel_module(monkeypatch, tmp_path):
    monkeypatch.setattr(gpu_nvml, "DRIVER_NODES", (str(tmp_path / "nvidiactl"),))
    facts = gpu_nvml.probe()
    assert facts["status"] == "unknown" and "no NVIDIA kernel module" in facts["reason"]


def test_driver_flavour(fixtures_dir, tmp_path):
    path = tmp_path / "version"
    path.write_text(recorded(fixtures_dir, "proc-driver-version.txt"))
    assert driver.probe(str(path)) == {
        "status": "ok",
        "reason": None,
        "flavour": "open",
        "version": "580.159.04",
    }
    path.write_text(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.183.01  Sun May 12 19:39:15 UTC 2024\n"
    )
    assert driver.probe(str(path))["flavour"] == "proprietary"
    assert driver.probe(str(tmp_path / "missing"))["status"] == "absent"


def test_nvenc_real_ffmpeg_fails_with_its_own_reason():
    """This machine's ffmpeg has the nvenc encoders but no NVIDIA driver: a realistic failure."""
    ffmpeg = nvenc.probe_ffmpeg()
    if ffmpeg["status"] != "ok":
        pytest.skip("ffmpeg is not installed (.ci/run installs it)")
    facts = nvenc.probe(ffmpeg)
    assert facts["status"] == "ok"
    assert set(facts["encoders"]) == set(nvenc.CODECS)
    for result in facts["encoders"].values():
        assert result["ok"] is False
        assert "Stream mapping" not in result["error"] and "Conversion failed" not in result["error"]


def test_nvenc_failure_reason_picks_the_encoder_line():
    stderr = (
        "Stream #0:0 -> #0:0 (rawvideo (native) -> h264 (h264_nvenc))\n"
        "[h264_nvenc @ 0x1] OpenEncodeSessionEx failed: unsupported device (2): (no details)\n"
        "Conversion failed!\n"
    )
    assert nvenc.failure_reason(stderr) == "OpenEncodeSessionEx failed: unsupported device (2): (no details)"


def test_torch_probe_without_torch_is_missing():
    facts = torch_probe.probe(sys.executable)  # wanprov's venv has no torch
    assert facts["status"] == "missing"
    assert "No module named 'torch'" in facts["reason"]


def test_torch_probe_bad_interpreter_is_unknown(tmp_path):
    assert torch_probe.probe(str(tmp_path / "nope"))["status"] == "unknown"
    crashing = tmp_path / "python"
    crashing.write_text("#!/bin/sh\necho 'Segmentation fault' >&2\nexit 139\n")
    crashing.chmod(0o755)
    facts = torch_probe.probe(str(crashing))
    assert facts["status"] == "unknown" and "Segmentation fault" in facts["reason"]


def test_torch_probe_timeout(tmp_path, monkeypatch):
    slow = tmp_path / "python"
    slow.write_text("#!/bin/sh\nsleep 5\n")
    slow.chmod(0o755)
    monkeypatch.setattr(torch_probe, "TIMEOUT_S", 0.3)
    facts = torch_probe.probe(str(slow))
    assert facts["status"] == "unknown" and "did not answer within 0.3 s" in facts["reason"]


def _git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_comfyui_install_probe(tmp_path):
    root = tmp_path / "ComfyUI"
    (root / "comfy").mkdir(parents=True)
    (root / "main.py").write_text("")
    (root / "comfyui_version.py").write_text('__version__ = "0.3.64"\n')
    (root / "comfy" / "cli_args.py").write_text(
        'parser.add_argument("--highvram", action="store_true")\nvram_group.add_argument(\'--lowvram\')\n'
    )
    pack = root / "custom_nodes" / "ComfyUI-GGUF"
    pack.mkdir(parents=True)
    (root / "custom_nodes" / "old.disabled").mkdir()
    (root / "custom_nodes" / "__pycache__").mkdir()
    for repo in (root, pack):
        _git("init", "-q", cwd=repo)
        _git(
            "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x", cwd=repo
        )
    facts = comfyui.probe(str(root))
    assert facts["version"] == "0.3.64"
    assert len(facts["commit"]) == 40
    assert [p["name"] for p in facts["custom_nodes"]] == ["ComfyUI-GGUF"]
    assert len(facts["custom_nodes"][0]["commit"]) == 40
    assert facts["launch_flags"] == ["--highvram", "--lowvram"]
    assert comfyui.probe(str(tmp_path))["status"] == "absent"


def test_comfyui_venv_is_the_default_target(tmp_path):
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").write_text("")
    python, why = torch_probe.default_python(str(tmp_path))
    assert python == str(tmp_path / ".venv" / "bin" / "python") and "ComfyUI venv" in why


def test_collect_never_raises_and_saves_atomically(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_smi, "probe", lambda: 1 / 0)  # a probe bug
    facts = collect(ProbeOptions(torch=False, nvenc=False, proc_driver_version=str(tmp_path / "none")))
    assert facts["gpu"]["status"] == "unknown" and "ZeroDivisionError" in facts["gpu"]["reason"]
    target = tmp_path / "facts.json"
    snapshot.save(facts, target)
    assert snapshot.load(target) == json.loads(json.dumps(facts))
    assert [p.name for p in tmp_path.iterdir()] == ["facts.json"]  # no temp file left behind


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not JSON"),
        ("[]", "not an object"),
        ('{"schema": "other/1"}', "expected 'wanprov.facts/1'"),
        ('{"schema": "wanprov.facts/1"}', "section 'gpu'"),
    ],
)
def test_bad_facts_files(tmp_path, content, message):
    path = tmp_path / "facts.json"
    path.write_text(content)
    with pytest.raises(snapshot.FactsFileError, match=message) as error:
        snapshot.load(path)
    assert error.value.exit_code == 10
