"""Usage errors are usage errors, fixes name something that exists, no `None` in the human report."""

from __future__ import annotations

import json

from doctor_cli import TARGET_PYTHON, run_doctor

from wanprov.commands.root import cli
from wanprov.exit_codes import ExitCode


def test_gpus_on_a_host_without_a_gpu_is_a_usage_error(fake_host):
    result = run_doctor(["--python", TARGET_PYTHON, "--gpus", "3", "--no-nvenc"], fake_host("no_gpu"))
    assert result.returncode == ExitCode.USAGE, result.stdout + result.stderr
    assert "--gpus 3: this host has no NVIDIA GPU" in result.stderr
    assert "fix: leave --gpus out" in result.stderr


def test_unknown_profile_is_refused_as_every_command_refuses_it(fake_host):
    """Exit 8, a name not in the catalog (docs/exit-codes.md), as fetch-models and workflow render say it."""
    result = run_doctor(
        ["--python", TARGET_PYTHON, "--profile", "nosuch", "--format", "json"], fake_host("h100")
    )
    assert result.returncode == ExitCode.NOT_FOUND
    document = json.loads(result.stdout)
    assert document["error"] == "not_found" and document["message"] == "unknown model profile 'nosuch'"
    assert "wan22-i2v-a14b-q5-lightning" in document["hint"]
    # a known profile is still judged against the GPU's tier
    lighter = "wan22-i2v-a14b-q3-lightning"
    known = run_doctor(["--python", TARGET_PYTHON, "--profile", lighter], fake_host("h100"))
    assert "PASS  profile_fit" in known.stdout


def test_gpu_less_summary_line_says_none_not_None(fake_host):
    result = run_doctor(["--python", TARGET_PYTHON, "--no-nvenc"], fake_host("no_gpu"))
    assert result.returncode == ExitCode.CHECK_FAILED
    summary = next(line for line in result.stdout.splitlines() if line.startswith("summary:"))
    assert "None" not in result.stdout
    assert "profile none," in summary
    assert result.stdout.splitlines()[-1].startswith("NOT READY")


def test_missing_comfyui_fix_names_commands_that_exist(fake_host, tmp_path):
    empty = tmp_path / "not-comfyui"
    empty.mkdir()
    result = run_doctor(
        ["--python", TARGET_PYTHON, "--no-nvenc", "--comfyui-dir", str(empty), "--format", "json"],
        fake_host("h100"),
    )
    finding = next(f for f in json.loads(result.stdout)["findings"] if f["check"] == "comfyui_install")
    assert "wanprov install" not in finding["fix"]
    # every `wanprov X` a fix names is a real command
    for word in finding["fix"].split("wanprov ")[1:]:
        assert word.split()[0] in cli.commands, finding["fix"]
    assert "ansible-playbook site.yml -i localhost, -c local" in finding["fix"]
