"""NVENC judged per GPU: each GPU gets its own one-frame encodes (the encoders' `gpu` option), its own
verdict in the findings and summary.gpus[]; facts saved before that still load and are read honestly."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from doctor_cli import TARGET_PYTHON, run_doctor
from facts_builder import device, make_facts

from doubles.gpu import install_fake_host
from wanprov.doctor import evaluate
from wanprov.facts import nvenc, snapshot

ALL = {"h264_nvenc": True, "hevc_nvenc": True, "av1_nvenc": True}
NONE = dict.fromkeys(ALL, False)
H100 = "NVIDIA H100 80GB HBM3"


def doctor(env: dict[str, str], *extra: str) -> dict:
    result = run_doctor(["--python", TARGET_PYTHON, "--format", "json", *extra], env)
    assert result.stdout.startswith("{"), result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("spec", ["rtx4090_h100", "rtx4090_h100_pyav_only"])
def test_mixed_host_gets_one_nvenc_verdict_per_gpu(tmp_path, spec):
    """RTX 4090 (GPU 0) + H100 (GPU 1): the 4090 encodes, the H100 has no NVENC. One host-wide encode
    (the encoders' `any` device) would pass on the 4090 and give the H100 the nvenc formats."""
    document = doctor(install_fake_host(tmp_path, spec))
    summary, facts = document["summary"], document["facts"]
    assert [gpu["nvenc"] for gpu in summary["gpus"]] == [ALL, NONE]
    assert [(entry["index"], entry["status"]) for entry in facts["nvenc"]["gpus"]] == [(0, "ok"), (1, "ok")]
    assert summary["nvenc"] == ALL  # the flat field stays the first judged GPU's
    assert facts["nvenc"]["encoders"]["h264_nvenc"]["ok"] is True  # old readers read GPU 0's verdict
    findings = {tuple(f["gpus"]): f for f in document["findings"] if f["check"] == "nvenc"}
    assert set(findings) == {(0,), (1,)}
    assert findings[(0,)]["severity"] == "pass"
    assert findings[(0,)]["message"].startswith("GPU 0 (NVIDIA GeForce RTX 4090")
    assert findings[(1,)]["severity"] == "info"
    assert f"GPU 1 ({H100}" in findings[(1,)]["message"]
    assert f"({H100} has no NVENC hardware)" in findings[(1,)]["message"]
    if spec.endswith("pyav_only"):  # PyAV names the options it opened the encoder with, as real 18.1 does
        assert r"""avcodec_open2("h264_nvenc", {\'gpu\': \'1\'})""" in findings[(1,)]["message"]
    else:
        assert (
            "No capable devices found" in findings[(1,)]["message"]
            or "unsupported device" in (findings[(1,)]["message"])
        )


def test_gpus_selection_moves_the_flat_nvenc_to_the_judged_gpu(tmp_path):
    document = doctor(install_fake_host(tmp_path, "rtx4090_h100"), "--gpus", "1")
    assert document["summary"]["nvenc"] == NONE
    [finding] = [f for f in document["findings"] if f["check"] == "nvenc"]
    assert finding["gpus"] == [1]


def test_identical_gpus_read_as_one_nvenc_line(tmp_path):
    document = doctor(install_fake_host(tmp_path, "rtx4090_rtx4070tis_cu128"))
    assert [gpu["nvenc"] for gpu in document["summary"]["gpus"]] == [ALL, ALL]


def fake_ffmpeg(env: dict[str, str], gpu: str | None, **extra: str) -> subprocess.CompletedProcess[str]:
    binary = env["PATH"].split(os.pathsep)[0] + "/ffmpeg"
    argv = nvenc.encode_argv(binary, "h264_nvenc", None if gpu is None else int(gpu))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CUDA_")}
    return subprocess.run(argv, env={**environ, **extra}, capture_output=True, text=True, check=False)


def test_the_fake_encoder_is_as_strict_as_nvenc(tmp_path):
    """The double answers as the real encoders would: `any` picks the first GPU that can, an index is
    CUDA's (fastest first without CUDA_DEVICE_ORDER=PCI_BUS_ID: the H100 is device 0 then), an index past
    the last GPU is refused."""
    env = install_fake_host(tmp_path, "rtx4090_h100")
    pci = {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    assert fake_ffmpeg(env, None).returncode == 0  # `any`: the 4090 encodes
    assert fake_ffmpeg(env, "0", **pci).returncode == 0
    assert "No capable devices found" in fake_ffmpeg(env, "1", **pci).stderr
    assert fake_ffmpeg(env, "0").returncode == 1  # CUDA's default order: device 0 is the H100
    refused = fake_ffmpeg(env, "2", **pci)
    assert "Requested GPU 2, but only 2 GPUs are available!" in refused.stderr
    assert nvenc.failure_reason(refused.stderr) == "Requested GPU 2, but only 2 GPUs are available!"
    assert fake_ffmpeg(env, "0", CUDA_VISIBLE_DEVICES="1", **pci).returncode == 1  # only the H100 seen


def test_probe_encodes_on_each_gpu_by_its_nvidia_smi_index(tmp_path, monkeypatch):
    env = install_fake_host(tmp_path, "rtx4090_h100")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")  # the caller's; the probe tests every GPU
    facts = nvenc.probe(nvenc.probe_ffmpeg(), gpus=[0, 1])
    assert [
        (entry["index"], all(r["ok"] for r in entry["encoders"].values())) for entry in facts["gpus"]
    ] == [(0, True), (1, False)]


OLD_NVENC_OK = {  # a snapshot saved before per-GPU encodes: one result, from the `any` device
    "status": "ok",
    "reason": None,
    "tool": "ffmpeg",
    "binary": "/usr/bin/ffmpeg",
    "encoders": {codec: {"ok": True, "error": None} for codec in ALL},
}


def old_facts(nvenc_section, devices):
    return make_facts(nvenc=dict(nvenc_section, _replace=True), gpu={"devices": devices})


def test_an_old_snapshot_without_per_gpu_nvenc_still_loads(tmp_path):
    facts = old_facts(OLD_NVENC_OK, [device(index=0), device(index=1, uuid="GPU-1", pci_bus_id="0:2:0.0")])
    path = tmp_path / "old.json"
    path.write_text(json.dumps(facts))
    loaded = snapshot.load(path)
    summary = evaluate(loaded).summary
    assert summary["nvenc"] == ALL  # the flat field reads as it always did
    # which GPU encoded is not in the file: unknown per GPU (workflows then use software x264)
    assert [gpu["nvenc"] for gpu in summary["gpus"]] == [None, None]
    [finding] = [f for f in evaluate(loaded).findings if f.check == "nvenc"]
    assert finding.severity == "pass" and finding.gpus == ()  # the old host-wide line


def test_an_old_snapshot_holds_per_gpu_verdicts_where_they_follow():
    refused = {"ok": False, "error": "No capable devices found"}
    failed = {**OLD_NVENC_OK, "encoders": dict.fromkeys(ALL, refused)}
    two = [device(index=0), device(index=1, uuid="GPU-1", pci_bus_id="0:2:0.0")]
    # no GPU could encode (the `any` device tried them all): none of them has NVENC
    assert [gpu["nvenc"] for gpu in evaluate(old_facts(failed, two)).summary["gpus"]] == [NONE, NONE]
    # one GPU: the host's result is that GPU's
    assert [gpu["nvenc"] for gpu in evaluate(old_facts(OLD_NVENC_OK, two[:1])).summary["gpus"]] == [ALL]


def test_a_bad_per_gpu_entry_is_refused_naming_it(tmp_path):
    facts = make_facts(nvenc={"gpus": [{"index": 0, "status": "ok", "encoders": []}]})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(facts))
    with pytest.raises(snapshot.FactsFileError, match=r"nvenc\.gpus\[0\]\.encoders"):
        snapshot.load(path)
