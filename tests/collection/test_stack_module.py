"""wanprov.gpu.stack: argument handling, the plan it returns, check mode (nothing written) and --diff."""

from __future__ import annotations

from pathlib import Path

import pytest

from wanprov.stack.host_plan import SCHEMA

EXPLICIT = {
    "torch_variant": "cu128",
    "torch_version": "2.9.1",
    "torchvision_version": "0.24.1",
    "torchaudio_version": "2.9.1",
}
DOCTOR_SUMMARY = {
    "torch": {
        "variant": "cu130",
        "index_url": "https://download.pytorch.org/whl/cu130",
        "torch": "2.9.1",
        "torchvision": "0.24.1",
        "torchaudio": "2.9.1",
    },
    "launch_flags": ["--highvram"],
    "gpus": [{"index": 0, "name": "H100", "vram_tier": "large", "launch_flags": ["--highvram"]}],
    "usable_gpus": [0],
}
ONLY_PLAN = {"install_torch": False, "check_flags": False, "nodes": False}


def stack_args(root: Path, **extra: object) -> dict[str, object]:
    return {
        "comfyui_dir": str(root / "ComfyUI"),
        "venv_dir": str(root / "venv"),
        "data_dir": str(root / "data"),
        **extra,
    }


def test_check_mode_plans_everything_and_writes_nothing(run_module, tree, tmp_path):
    (tmp_path / "venv").mkdir()
    before = tree(tmp_path)
    rc, result = run_module(
        "stack", stack_args(tmp_path, summary=DOCTOR_SUMMARY, **ONLY_PLAN), check=True, diff=True
    )
    assert rc == 0, result
    assert tree(tmp_path) == before
    assert result["schema"] == SCHEMA
    assert result["changed"] is True
    constraints = str(tmp_path / "venv" / "wanprov-constraints.txt")
    assert result["protection"] == [constraints, str(tmp_path / "venv" / "pip.conf")]
    plan = result["plan"]
    assert plan["torch"]["source"] == "doctor"
    assert plan["torch_pins"] == {"torch": "2.9.1", "torchvision": "0.24.1", "torchaudio": "2.9.1"}
    assert plan["torch_pip_args"] == ["--index-url", "https://download.pytorch.org/whl/cu130"]
    (instance,) = plan["instances"]
    assert instance["flags"][:3] == ["--highvram", "--listen", "127.0.0.1"]
    assert instance["argv"][:2] == [str(tmp_path / "venv/bin/python"), str(tmp_path / "ComfyUI/main.py")]
    assert (instance["service"], instance["url"]) == ("comfyui-gpu0", "http://127.0.0.1:8188")
    diffs = {d["after_header"]: d for d in result["diff"]}
    assert diffs[constraints]["before"] == ""
    assert "torch==2.9.1\n" in diffs[constraints]["after"]
    assert f"constraint = {constraints}" in diffs[str(tmp_path / "venv/pip.conf")]["after"]


def test_protection_files_written_once_then_unchanged(run_module, tmp_path):
    (tmp_path / "venv").mkdir()
    args = stack_args(tmp_path, launch_flags_auto=False, gpus=[0], **EXPLICIT, **ONLY_PLAN)
    rc, first = run_module("stack", args)
    assert rc == 0, first
    assert first["changed"] is True
    text = (tmp_path / "venv" / "wanprov-constraints.txt").read_text()
    assert text.splitlines()[1:4] == [
        "torch==2.9.1",
        "torchvision==0.24.1",
        "torchaudio==2.9.1",
    ]
    assert (tmp_path / "venv" / "pip.conf").stat().st_mode & 0o777 == 0o644
    rc, second = run_module("stack", args, check=True, diff=True)
    assert (rc, second["changed"], second["protection"]) == (0, False, [])
    assert "diff" not in second
    rc, third = run_module("stack", args)
    assert (rc, third["changed"]) == (0, False)


def test_explicit_settings_win_over_the_doctor(run_module, tmp_path):
    args = stack_args(
        tmp_path,
        summary=DOCTOR_SUMMARY,
        launch_flags=["--lowvram"],
        extra_launch_flags=["--reserve-vram", "2"],
        torch_index_url="https://mirror.example/whl/cu128",
        pip_index_url="https://pypi.mirror.example/simple",
        pip_extra_args="--no-index --find-links /srv/wheels",
        models_dir=str(tmp_path / "models"),
        protect=False,
        **EXPLICIT,
        **ONLY_PLAN,
    )
    rc, result = run_module("stack", args, check=True)
    assert rc == 0, result
    plan = result["plan"]
    assert plan["torch"]["source"] == "explicit"
    assert plan["torch_pins"] == {"torch": "2.9.1", "torchvision": "0.24.1", "torchaudio": "2.9.1"}
    assert plan["torch_pip_args"] == [
        "--index-url", "https://mirror.example/whl/cu128", "--no-index", "--find-links", "/srv/wheels",
    ]  # fmt: skip
    assert plan["pip_args"] == [
        "--index-url", "https://pypi.mirror.example/simple", "--no-index", "--find-links", "/srv/wheels",
    ]  # fmt: skip
    flags = plan["instances"][0]["flags"]
    assert flags[:3] == ["--lowvram", "--reserve-vram", "2"]
    assert flags[flags.index("--extra-model-paths-config") + 1] == str(
        tmp_path / "data/extra_model_paths.yaml"
    )
    assert (result["changed"], result["protection"]) == (False, [])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"torch_variant": "cu128"}, "must be set together"),
        ({"summary": {"torch": None, "launch_flags": []}}, "no torch wheel for this host"),
        ({"comfyui_version": "master", "comfyui_git_url": "https://git.example/ComfyUI"}, "branch or tag"),
        ({"comfyui_version": "a" * 40, "comfyui_git_url": "file:///srv/ComfyUI"}, "only https is allowed"),
        ({"comfyui_version": "a" * 40, "comfyui_git_url": "--upload-pack=touch /tmp/x"}, "is not a URL"),
        ({"comfyui_version": "a" * 40, "comfyui_git_url": "ext::sh -c x"}, "is not a URL"),
        (
            {"comfyui_version": "a" * 40, "comfyui_git_url": "ext::sh", "git_url_schemes": ["file"]},
            "transport",
        ),
        ({"git_url_schemes": ["ext"]}, "git_url_schemes"),
        ({"comfyui_version": "a" * 40}, "comfyui_git_url is not"),
        ({"port": "not-a-port"}, "port"),
        ({"gpus": [3]}, "not on this host: [3]"),
        ({"gpus": "0,1"}, "give `all`"),
        ({"service_manager": "runit"}, "service_manager"),
        ({"no_such_option": 1}, "no_such_option"),
    ],
)
def test_bad_arguments_fail_with_the_reason(run_module, tmp_path, extra, message):
    args = stack_args(tmp_path, summary=DOCTOR_SUMMARY, **ONLY_PLAN)
    args.update(extra)
    rc, result = run_module("stack", args, check=True)
    assert rc == 1
    assert result["failed"] is True
    assert message in result["msg"]
    assert not (tmp_path / "venv").exists()


def test_typed_core_error_carries_code_and_hint(run_module, tmp_path):
    rc, result = run_module("stack", stack_args(tmp_path, summary={"torch": None}, **ONLY_PLAN), check=True)
    assert rc == 1
    assert (result["error"], result["exit_code"]) == ("refused", 1)
    assert "wanprov doctor" in result["hint"]


def test_launch_flags_are_checked_against_the_checkout(run_module, tmp_path):
    cli_args = tmp_path / "ComfyUI" / "comfy" / "cli_args.py"
    cli_args.parent.mkdir(parents=True)
    (tmp_path / "ComfyUI" / "main.py").write_text("")
    known = ["--listen", "--port", "--output-directory", "--input-directory", "--temp-directory"]
    known += ["--user-directory", "--database-url", "--disable-auto-launch", "--highvram", "--cuda-device"]
    cli_args.write_text("".join(f'parser.add_argument("{flag}")\n' for flag in known))
    args = stack_args(tmp_path, summary=DOCTOR_SUMMARY, protect=False, install_torch=False, nodes=False)
    rc, result = run_module("stack", args, check=True)
    assert rc == 0, result
    assert result["flags"]["rejected"] == []
    assert result["flags"]["source"] == "comfy/cli_args.py"
    rc, result = run_module("stack", {**args, "extra_launch_flags": ["--normalvram"]}, check=True)
    assert rc == 1
    assert "--normalvram" in result["msg"]
    assert result["error"] == "refused"


def test_the_instances_follow_gpus_ports_and_the_service_manager(run_module, tmp_path):
    summary = {
        **DOCTOR_SUMMARY,
        "gpus": [*DOCTOR_SUMMARY["gpus"], {"index": 1, "launch_flags": ["--lowvram"]}],
    }
    args = stack_args(
        tmp_path, summary=summary, gpus=[1, 0], ports={"1": 9001}, service_manager="process",
        service_name="cui", unit_dir=str(tmp_path / "units"), protect=False, **ONLY_PLAN,
    )  # fmt: skip
    rc, result = run_module("stack", args, check=True)
    assert rc == 0, result
    gpu1, gpu0 = result["plan"]["instances"]
    assert (gpu1["port"], gpu0["port"]) == (9001, 8188)
    assert "--lowvram" in gpu1["flags"] and "--lowvram" not in gpu0["flags"]
    assert gpu1["unit"] == str(tmp_path / "units/cui-gpu1.service")
    assert gpu1["watch_args"] == ["--pidfile", str(tmp_path / "data/gpu1/comfyui.pid"), "--log",
                                  str(tmp_path / "data/gpu1/comfyui.log")]  # fmt: skip
    assert result["changed"] is False and not tmp_path.joinpath("data").exists()


def test_check_mode_on_a_bare_host_reports_torch_unknown(run_module, tree, tmp_path):
    args = stack_args(tmp_path, summary=DOCTOR_SUMMARY)  # every step on; no checkout, no venv yet
    rc, result = run_module("stack", args, check=True)
    assert rc == 0, result
    assert result["torch"]["action"] == "unknown"
    assert (result["nodes"], result["flags"]) == (None, None)
    assert tree(tmp_path) == {}


def test_real_run_without_a_venv_fails_clearly(run_module, tmp_path):
    args = stack_args(tmp_path, summary=DOCTOR_SUMMARY, protect=False, check_flags=False, nodes=False)
    rc, result = run_module("stack", args)
    assert rc == 1
    assert "create it before installing torch" in result["msg"]


def test_missing_wanprov_fails_with_the_interpreter_hint(run_module, tmp_path, monkeypatch, collections_root):
    from ansible_collections.wanprov.gpu.plugins.module_utils import core

    monkeypatch.setattr(core, "WANPROV_IMPORT_ERROR", "ModuleNotFoundError: No module named 'wanprov'")
    rc, result = run_module("stack", stack_args(tmp_path, **EXPLICIT), check=True)
    assert rc == 1
    assert "Failed to import the required Python library (wanprov)" in result["msg"]
    assert "ansible_python_interpreter" in result["msg"]


def test_a_failing_step_still_reports_what_changed_before_it(run_module, tmp_path):
    (tmp_path / "venv").mkdir()
    args = stack_args(tmp_path, summary=DOCTOR_SUMMARY, install_torch=False, check_flags=False)
    rc, result = run_module("stack", args)  # protection written, then install-nodes finds no checkout
    assert rc == 1
    assert result["error"] == "bad_manifest" and "not a ComfyUI checkout" in result["msg"]
    assert result["changed"] is True
    assert (tmp_path / "venv" / "wanprov-constraints.txt").is_file()
