"""NVENC through PyAV in the target interpreter when no ffmpeg binary exists (compat.md section 5):
fake hosts with a fake `av` in their site dir; the real doctor CLI and the real probe subprocess."""

from __future__ import annotations

import dataclasses
import json

import pytest
from doctor_cli import TARGET_PYTHON, run_doctor

from doubles.gpu import SPECS, install_fake_host
from wanprov.facts import nvenc


def nvenc_finding(document: dict) -> dict:
    return next(f for f in document["findings"] if f["check"] == "nvenc")


def doctor_on(tmp_path, spec) -> dict:
    env = install_fake_host(tmp_path / spec.name, spec)
    result = run_doctor(["--python", TARGET_PYTHON, "--format", "json"], env)
    assert result.stdout.startswith("{"), result.stderr
    return json.loads(result.stdout)


def test_h100_without_ffmpeg_has_no_nvenc_by_pyav(doctor_json):
    """The recorded host's real situation: no binary, PyAV lists nvenc but cannot open it, libx264 works."""
    code, document = doctor_json("h100")
    assert code == 0
    facts = document["facts"]
    assert facts["ffmpeg"]["status"] == "absent"
    assert facts["nvenc"]["tool"] == "pyav" and facts["nvenc"]["python"] == TARGET_PYTHON
    assert facts["nvenc"]["control"] == {"libx264": {"ok": True, "error": None}}
    assert facts["torch"]["modules"]["av"] == "18.1.0"
    assert document["summary"]["nvenc"] == {"h264_nvenc": False, "hevc_nvenc": False, "av1_nvenc": False}
    assert document["summary"]["nvenc_tool"] == "pyav"
    finding = nvenc_finding(document)
    assert finding["severity"] == "info"
    assert "libx264 control worked" in finding["message"]
    assert "PyAV 18.1.0" in finding["message"] and "avcodec_open2" in finding["message"]


def test_rtx4090_with_only_pyav_has_nvenc_and_a_vhs_caveat(doctor_json):
    _, document = doctor_json("rtx4090_pyav_only")
    assert document["summary"]["nvenc"] == {"h264_nvenc": True, "hevc_nvenc": True, "av1_nvenc": True}
    assert document["summary"]["nvenc_tool"] == "pyav"
    finding = nvenc_finding(document)
    assert finding["severity"] == "pass"
    assert "PyAV 18.1.0" in finding["message"]
    assert "VideoHelperSuite's nvenc formats also need an ffmpeg binary" in finding["message"]


def test_ffmpeg_binary_still_decides_where_there_is_one(doctor_json):
    _, document = doctor_json("rtx4090_driver535_cu128")
    assert document["facts"]["nvenc"]["tool"] == "ffmpeg"
    assert document["summary"]["nvenc_tool"] == "ffmpeg"
    assert "VideoHelperSuite" not in nvenc_finding(document)["message"]


def test_neither_ffmpeg_nor_pyav_is_unknown_with_how_to_test(tmp_path):
    spec = dataclasses.replace(SPECS["rtx4090_pyav_only"], name="bare", pyav=None)
    document = doctor_on(tmp_path, spec)
    assert document["summary"]["nvenc"] is None and document["summary"]["nvenc_tool"] is None
    finding = nvenc_finding(document)
    assert finding["severity"] == "info"
    assert "no ffmpeg binary" in finding["message"] and "No module named 'av'" in finding["message"]
    assert "apt-get install ffmpeg" in finding["fix"] and "--python" in finding["fix"]


def test_failing_libx264_control_means_unknown_not_no_nvenc(tmp_path):
    spec = dataclasses.replace(SPECS["h100"], name="broken_pyav", pyav_control=False)
    document = doctor_on(tmp_path, spec)
    assert document["facts"]["nvenc"]["status"] == "unknown"
    assert document["summary"]["nvenc"] is None
    finding = nvenc_finding(document)
    assert "libx264 control encode failed" in finding["message"]
    assert "no NVENC" not in finding["message"]


def test_pyav_crashing_at_import_is_unknown(tmp_path):
    spec = dataclasses.replace(SPECS["h100"], name="crash", pyav_misbehave="crash")
    document = doctor_on(tmp_path, spec)
    assert document["facts"]["nvenc"]["status"] == "unknown"
    assert "PyAV probe crashed (rc=139)" in nvenc_finding(document)["message"]
    assert document["facts"]["torch"]["status"] == "ok"  # a separate process: torch facts survive


def test_pyav_timing_out_is_unknown_and_never_raises(tmp_path, monkeypatch):
    spec = dataclasses.replace(SPECS["h100"], name="hang", pyav_misbehave="hang")
    env = install_fake_host(tmp_path / "hang", spec)
    monkeypatch.setenv("WANPROV_FAKE_TARGET_SITE", env["WANPROV_FAKE_TARGET_SITE"])
    facts = nvenc.probe_pyav(TARGET_PYTHON, timeout=1.0)
    assert facts["status"] == "unknown" and facts["tool"] == "pyav"
    assert "did not answer within 1 s" in facts["reason"]


@pytest.mark.parametrize("python", ["/nonexistent/python", "/etc/hostname"])
def test_pyav_with_no_usable_interpreter_is_unknown(python):
    facts = nvenc.probe_pyav(python)
    assert facts["status"] == "unknown" and python in facts["reason"]  # root may "execute" /etc/hostname


def test_wanprov_ffmpeg_none_hides_the_binary(monkeypatch):
    monkeypatch.setenv(nvenc.FFMPEG_ENV, "none")
    assert nvenc.probe_ffmpeg()["status"] == "absent"
    monkeypatch.setenv(nvenc.FFMPEG_ENV, "/nonexistent/ffmpeg")
    assert "is not an executable" in nvenc.probe_ffmpeg()["reason"]
