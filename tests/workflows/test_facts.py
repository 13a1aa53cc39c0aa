"""render/optimize --facts with real facts files: `wanprov doctor --save-facts` run on fake GPU hosts
(tests/doubles/gpu: fake nvidia-smi and ffmpeg on PATH, torch in the target interpreter), then read back
by the workflow commands, which run as a user runs them (subprocesses)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doubles.gpu import TARGET_PYTHON, install_fake_host
from workflows.workflow_cli import run_wanprov

DATA = Path(__file__).parent / "data"


wanprov = run_wanprov


@pytest.fixture(scope="module")
def facts(tmp_path_factory):
    """facts("h100") / facts("h100", "--no-nvenc") -> a facts file the real doctor saved on that fake host."""
    root = tmp_path_factory.mktemp("facts")
    cache: dict[tuple[str, ...], Path] = {}

    def make(host: str, *extra: str) -> Path:
        key = (host, *extra)
        if key not in cache:
            env = install_fake_host(root / f"host-{len(cache)}", host)
            saved = root / f"{host}-{len(cache)}.json"
            result = wanprov("doctor", "--python", TARGET_PYTHON, "--save-facts", str(saved), *extra, env=env)
            assert saved.is_file(), result.stdout + result.stderr
            cache[key] = saved
        return cache[key]

    return make


def render(tmp_path: Path, *args: str) -> tuple[dict, str]:
    out = tmp_path / "wf.json"
    result = wanprov("workflow", "render", "wan22-i2v-gguf-lightning", "-o", str(out), *args)
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text()), result.stderr


def nodes(prompt: dict, class_type: str) -> list[dict]:
    return [n["inputs"] for n in prompt.values() if n["class_type"] == class_type]


def summary(prompt: dict) -> dict:
    (size,) = nodes(prompt, "WanImageToVideo")
    (video,) = nodes(prompt, "VHS_VideoCombine")
    return {
        "size": (size["width"], size["height"], size["length"]),
        "unets": sorted(n["unet_name"] for n in nodes(prompt, "UnetLoaderGGUF")),
        "format": video["format"],
        "fps": video["frame_rate"],
        "rife": len(nodes(prompt, "RIFE VFI")),
    }


def test_h100_facts_give_xlarge_defaults_and_software_x264(tmp_path, facts):
    path = facts("h100")
    prompt, notes = render(tmp_path, "--facts", str(path))
    got = summary(prompt)
    assert got["format"] == "video/h264-mp4"  # H100 has no NVENC: the doctor's encode failed
    assert got["size"] == (1280, 720, 81)  # xlarge: 720p, 81 frames
    assert got["unets"] == [
        "Wan2.2-I2V-A14B-HighNoise-Q5_K_S.gguf",
        "Wan2.2-I2V-A14B-LowNoise-Q5_K_S.gguf",
    ]
    assert f"VRAM tier xlarge from {path}" in notes
    assert "h264_nvenc test encode failed" in notes
    (video,) = nodes(prompt, "VHS_VideoCombine")
    assert "bitrate" not in video and video["crf"] == 19  # the software format's own widgets


def test_rtx4090_with_working_nvenc_gets_an_nvenc_format(tmp_path, facts):
    got = summary(render(tmp_path, "--facts", str(facts("rtx4090_driver535_cu128")))[0])
    assert got["format"] == "video/nvenc_h264-mp4"
    assert got["size"] == (1280, 720, 41)  # 24 GB: large tier


def test_small_vram_host_gets_its_tiers_profile_quant_and_preset(tmp_path, facts):
    got = summary(render(tmp_path, "--facts", str(facts("gtx1080_cu128")))[0])  # 8 GB
    assert got["unets"] == [
        "Wan2.2-I2V-A14B-HighNoise-Q3_K_S.gguf",
        "Wan2.2-I2V-A14B-LowNoise-Q3_K_S.gguf",
    ]
    assert got["size"] == (848, 480, 33)
    assert (got["rife"], got["fps"]) == (1, 24)  # generated at 12 fps, RIFE x2 delivers 24
    medium = summary(render(tmp_path, "--facts", str(facts("t4_cu130_driver580")))[0])  # 15 GB
    assert medium["unets"][0] == "Wan2.2-I2V-A14B-HighNoise-Q4_K_M.gguf" and medium["size"] == (848, 480, 41)


def test_explicit_flags_override_the_facts(tmp_path, facts):
    h100 = str(facts("h100"))
    prompt, notes = render(tmp_path, "--facts", h100, "--tier", "medium", "--nvenc", "--set", "length=33")
    got = summary(prompt)
    assert got["unets"][0] == "Wan2.2-I2V-A14B-HighNoise-Q4_K_M.gguf"  # medium's quant, not xlarge's
    assert got["size"] == (848, 480, 33)  # medium's preset, --set length over both
    assert got["format"] == "video/nvenc_h264-mp4"
    assert "--tier medium overrides the facts' tier xlarge" in notes
    assert "--nvenc overrides the facts" in notes
    rtx = str(facts("rtx4090_driver535_cu128"))
    assert summary(render(tmp_path, "--facts", rtx, "--no-nvenc")[0])["format"] == "video/h264-mp4"
    assert summary(render(tmp_path, "--facts", rtx, "--set", "nvenc=false")[0])["format"] == "video/h264-mp4"
    profile = render(tmp_path, "--facts", h100, "--profile", "wan22-i2v-a14b-q3-lightning")[0]
    assert summary(profile)["unets"][0] == "Wan2.2-I2V-A14B-HighNoise-Q3_K_S.gguf"


def test_skipped_nvenc_probe_means_software_and_a_note_why(tmp_path, facts):
    path = facts("rtx4090_driver535_cu128", "--no-nvenc")  # NVENC works there, but was not tested
    prompt, notes = render(tmp_path, "--facts", str(path))
    assert summary(prompt)["format"] == "video/h264-mp4"
    assert f"NVENC unknown in {path}: the NVENC probe was skipped" in notes


def test_bad_facts_file_exits_10_naming_it(tmp_path):
    bad = tmp_path / "host-facts.json"
    bad.write_text("{not json")
    for path in (bad, tmp_path / "missing.json"):
        result = wanprov("workflow", "render", "wan22-i2v-gguf-lightning", "--facts", str(path))
        assert result.returncode == 10 and result.stdout == ""
        assert str(path) in result.stderr
    result = wanprov(
        "workflow", "optimize", str(DATA / "seed-example.json"), "-o", str(tmp_path / "o.json"),
        "--facts", str(bad), "--format", "json",
    )  # fmt: skip
    assert result.returncode == 10
    error = json.loads(result.stdout)
    assert error["error"] == "bad_facts" and str(bad) in error["message"]
    assert not (tmp_path / "o.json").exists()


def test_hand_edited_facts_with_wrong_types_are_refused(tmp_path, facts):
    from wanprov.facts.snapshot import FactsFileError
    from wanprov.workflows.host import settings

    document = json.loads(facts("h100").read_text())
    document["nvenc"] = {"status": "ok", "encoders": "h264_nvenc"}
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document))
    with pytest.raises(FactsFileError, match=str(edited)):
        settings(edited)


def test_flux_takes_the_tier_but_no_video_options(tmp_path, facts):
    out = tmp_path / "flux.json"
    result = wanprov(
        "workflow", "render", "flux1-schnell", "--facts", str(facts("gtx1080_cu128")), "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert "NVENC" not in result.stderr  # an image template has no encoder to choose
    (latent,) = nodes(json.loads(out.read_text()), "EmptySD3LatentImage")
    assert (latent["width"], latent["height"]) == (848, 480)  # small tier: 480p


@pytest.mark.parametrize("args", [("--set", "rife=true"), ("--set", "length=33"), ("--nvenc",)])
def test_options_a_template_lacks_are_refused(args):
    result = wanprov("workflow", "render", "flux1-schnell", *args)
    assert result.returncode == 2 and result.stdout == ""
    assert "template flux1-schnell has no parameter" in result.stderr
    assert "flux1-schnell takes:" in result.stderr and "teacache" in result.stderr


def optimize(tmp_path: Path, fixture: str, *args: str) -> tuple[dict, dict]:
    out = tmp_path / "opt.json"
    result = wanprov("workflow", "optimize", str(DATA / fixture), "-o", str(out), "--format", "json", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(out.read_text()), json.loads(result.stdout)


def test_optimize_takes_nvenc_and_profile_from_facts(tmp_path, facts):
    # the seed's workflow asks for NVENC; the H100 has none
    prompt, doc = optimize(tmp_path, "seed-example.json", "--facts", str(facts("h100")))
    (video,) = nodes(prompt, "VHS_VideoCombine")
    assert video["format"] == "video/h264-mp4" and "bitrate" not in video and "megabit" not in video
    assert (doc["tier"], doc["nvenc"], doc["profile"]) == ("xlarge", False, "wan22-i2v-a14b-q5-lightning")
    assert doc["check"]["ok"] is True
    # software h264 becomes NVENC where it works; an 8 GB card gets the Q3 experts
    prompt, doc = optimize(tmp_path, "wan22-i2v-fp8-unoptimized.json", "--facts", str(facts("gtx1080_cu128")))
    assert nodes(prompt, "VHS_VideoCombine")[0]["format"] == "video/nvenc_h264-mp4"
    assert sorted(n["unet_name"] for n in nodes(prompt, "UnetLoaderGGUF"))[0].endswith("Q3_K_S.gguf")


def test_optimize_flags_override_facts_and_no_host_keeps_the_format(tmp_path, facts):
    rtx = str(facts("rtx4090_driver535_cu128"))
    prompt, _ = optimize(tmp_path, "wan22-i2v-fp8-unoptimized.json", "--facts", rtx, "--no-nvenc")
    assert nodes(prompt, "VHS_VideoCombine")[0]["format"] == "video/h264-mp4"
    prompt, doc = optimize(tmp_path, "seed-example.json", "--facts", rtx, "--tier", "medium")
    assert doc["profile"] == "wan22-i2v-a14b-q4km-lightning"
    assert nodes(prompt, "VHS_VideoCombine")[0]["format"] == "video/nvenc_h264-mp4"
    prompt, doc = optimize(tmp_path, "seed-example.json")  # host unknown: the user's choice stays
    assert nodes(prompt, "VHS_VideoCombine")[0]["format"] == "video/nvenc_h264-mp4"
    assert doc["nvenc"] is None and doc["profile"] == "wan22-i2v-a14b-q5-lightning"
    prompt, _ = optimize(tmp_path, "wan22-i2v-fp8-unoptimized.json", "--nvenc")
    assert nodes(prompt, "VHS_VideoCombine")[0]["format"] == "video/nvenc_h264-mp4"


def test_each_gpu_of_a_mixed_host_gets_its_own_video_format(tmp_path, facts):
    """RTX 4090 (GPU 0, NVENC) + H100 (GPU 1, none): --gpu picks the GPU whose encode and tier apply."""
    path = str(facts("rtx4090_h100"))
    prompt, notes = render(tmp_path, "--facts", path, "--gpu", "1")
    assert summary(prompt)["format"] == "video/h264-mp4"
    assert summary(prompt)["size"] == (1280, 720, 81)  # the H100's own tier: xlarge
    assert "h264_nvenc test encode failed on GPU 1" in notes
    assert summary(render(tmp_path, "--facts", path, "--gpu", "0")[0])["format"] == "video/nvenc_h264-mp4"
    assert summary(render(tmp_path, "--facts", path)[0])["format"] == "video/nvenc_h264-mp4"  # the first GPU
    missing = wanprov("workflow", "render", "wan22-i2v-gguf-lightning", "--facts", path, "--gpu", "2")
    assert missing.returncode == 2 and "has no GPU 2 (its GPUs: 0, 1)" in missing.stderr


def test_install_renders_for_the_gpu_it_is_given(tmp_path, facts):
    path = str(facts("rtx4090_h100"))
    for gpu, wanted in (("0", "video/nvenc_h264-mp4"), ("1", "video/h264-mp4")):
        dest = tmp_path / f"gpu{gpu}"
        result = wanprov(
            "workflow", "install", "--dest", str(dest), "--template", "wan22-i2v-gguf-lightning",
            "--facts", path, "--gpu", gpu,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        prompt = json.loads((dest / "wan22-i2v-gguf-lightning.api.json").read_text())
        assert summary(prompt)["format"] == wanted
