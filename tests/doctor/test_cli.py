"""The CLI contract: exit codes, --facts / --save-facts, --strict, text and JSON output."""

from __future__ import annotations

import json
import shutil

from doctor_cli import TARGET_PYTHON, run_doctor


def test_save_then_replay_facts_gives_the_same_verdict(fake_host, tmp_path):
    saved = tmp_path / "h100.json"
    env = fake_host("h100")
    live = run_doctor(["--python", TARGET_PYTHON, "--save-facts", str(saved), "--format", "json"], env)
    assert live.returncode == 0
    facts = json.loads(saved.read_text())
    assert facts["schema"] == "wanprov.facts/1"
    replay = run_doctor(["--facts", str(saved), "--format", "json"])  # no fake host: nothing is probed
    assert replay.returncode == 0
    live_doc, replay_doc = json.loads(live.stdout), json.loads(replay.stdout)
    assert replay_doc["findings"] == live_doc["findings"]
    assert replay_doc["summary"] == live_doc["summary"]


def test_failing_host_exits_1_and_text_shows_fixes(fake_host):
    result = run_doctor(["--python", TARGET_PYTHON], fake_host("rtx5090_torch251_cu124"))
    assert result.returncode == 1
    assert "FAIL  blackwell_support" in result.stdout
    assert "fix: install the cu128 wheel" in result.stdout
    assert "NOT READY" in result.stdout
    assert "probing host" in result.stderr  # progress goes to stderr


def test_strict_fails_on_warn(fake_host):
    env = fake_host("rtx4090_driver535_cu128")
    assert run_doctor(["--python", TARGET_PYTHON, "--no-nvenc"], env).returncode == 0
    strict = run_doctor(["--python", TARGET_PYTHON, "--no-nvenc", "--strict", "--format", "json"], env)
    assert strict.returncode == 1
    document = json.loads(strict.stdout)
    assert document["strict"] is True and document["ok"] is False


def test_skipping_probes(fake_host):
    result = run_doctor(["--no-torch", "--no-nvenc", "--format", "json"], fake_host("h100"))
    document = json.loads(result.stdout)
    assert document["facts"]["torch"]["status"] == "skipped"
    assert document["facts"]["nvenc"]["status"] == "skipped"
    assert document["summary"]["nvenc"] is None
    assert result.returncode == 0


def test_bad_facts_file_exits_10_with_one_json_error(tmp_path):
    path = tmp_path / "facts.json"
    path.write_text('{"schema": "wanprov.facts/0"}')
    result = run_doctor(["--facts", str(path), "--format", "json"])
    assert result.returncode == 10
    error = json.loads(result.stdout)
    assert error["error"] == "bad_facts" and error["exit_code"] == 10 and error["hint"]


def test_usage_errors_exit_2(tmp_path):
    facts = tmp_path / "facts.json"
    facts.write_text("{}")
    assert run_doctor(["--facts", str(facts), "--python", "/usr/bin/python3"]).returncode == 2
    assert run_doctor(["--comfyui-dir", str(tmp_path / "missing")]).returncode == 2
    assert run_doctor(["--format", "yaml"]).returncode == 2


def test_unwritable_save_facts_exits_3(tmp_path):
    # Tests run as root, so permissions cannot make a folder unwritable: a regular file in the path does.
    (tmp_path / "a-file").write_text("")
    result = run_doctor(["--no-torch", "--no-nvenc", "--save-facts", str(tmp_path / "a-file" / "f.json")])
    assert result.returncode == 3
    assert "cannot write facts" in result.stderr


def test_comfyui_dir_picks_its_venv_and_checks_flags(fake_host, tmp_path, repo_root):
    """The ComfyUI stand-in (tests/doubles/comfyui_app) with a venv whose python is the target."""
    comfy = tmp_path / "ComfyUI"
    shutil.copytree(repo_root / "tests" / "doubles" / "comfyui_app", comfy)
    (comfy / "custom_nodes" / "ComfyUI-GGUF").mkdir(parents=True)
    (comfy / ".venv" / "bin").mkdir(parents=True)
    (comfy / ".venv" / "bin" / "python").symlink_to(TARGET_PYTHON)
    result = run_doctor(["--comfyui-dir", str(comfy), "--no-nvenc", "--format", "json"], fake_host("h100"))
    document = json.loads(result.stdout)
    torch = document["facts"]["torch"]
    assert torch["python"] == str(comfy / ".venv" / "bin" / "python")
    assert torch["version"] == "2.11.0+cu130"
    findings = {f["check"]: f for f in document["findings"]}
    assert "ComfyUI-GGUF" in findings["comfyui_install"]["message"]
    assert findings["comfyui_launch_flags"]["severity"] == "pass"
    assert "--highvram" in findings["comfyui_launch_flags"]["message"]
    assert document["facts"]["disk"]["path"] == str(comfy / "models")
    assert result.returncode == 0
