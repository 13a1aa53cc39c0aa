"""Every module result passes through the core's one cleaner (credentials redacted, control characters
escaped), modes that would make files setuid or world-writable are refused, and a module never ends in a
traceback (MODULE FAILURE): bad input is a fail_json naming it."""

from __future__ import annotations

import io
import json
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from hostile.hostile_cli import invoke
from wanprov.exit_codes import ExitCode

SECRET = "hunter2hunter2"


def test_health_module_redacts_url_credentials_everywhere(run_module, tmp_path):
    (tmp_path / "comfyui.log").write_text(f"GET http://admin:{SECRET}@127.0.0.1:1/x failed\x1b]0;owned\x07\n")
    args = {
        "url": f"http://admin:{SECRET}@127.0.0.1:1",
        "workflows_dir": str(tmp_path),
        "pidfile": str(tmp_path / "comfyui.pid"),
        "log": str(tmp_path / "comfyui.log"),
    }
    for extra in ({}, {"fail_on_unhealthy": False}):
        _rc, result = run_module("health", {**args, **extra})
        text = json.dumps(result)
        assert SECRET not in text, result
        assert "\x1b" not in text and "\\u001b" not in text, result  # escaped as text, not an escape
        assert "***@127.0.0.1" in result.get("url", "") + result.get("msg", "")


def test_models_module_redacts_the_endpoint_password(run_module, tmp_path):
    args = {
        "profile": "flux1-schnell",
        "models_dir": str(tmp_path / "models"),
        "hf_endpoint": f"http://me:{SECRET}@127.0.0.1:9",
    }
    _rc, result = run_module("models", args, check=True)
    assert SECRET not in json.dumps(result), result


@pytest.mark.parametrize("mode", ["4755", "2755", "1644", "0666", "0777", "4777"])
def test_workflows_module_refuses_setuid_and_world_writable_modes(run_module, tmp_path, mode):
    args = {"dest": str(tmp_path / "wf"), "templates": ["flux1-schnell"], "tier": "large", "mode": mode}
    rc, result = run_module("workflows", args)
    assert rc == 1 and mode in result["msg"], result
    assert not (tmp_path / "wf").exists()


@pytest.mark.parametrize("mode", ["4777", "2755", "1644", "0666", "0602"])
def test_workflow_install_refuses_setuid_and_world_writable_modes(tmp_path, mode):
    result = invoke(
        "workflow", "install", "flux1-schnell", "--tier", "large", "--dest", str(tmp_path / "wf"),
        "--mode", mode, "--format", "json",
    )  # fmt: skip
    assert result.code == ExitCode.USAGE, result
    assert not (tmp_path / "wf").exists()


def test_path_state_with_a_nul_in_a_path_fails_cleanly(run_module):
    rc, result = run_module("path_state", {"user": "root", "group": "root", "paths": ["/tmp/a\x00b"]})
    assert rc == 1 and "NUL" in result["msg"], result


def test_an_unexpected_exception_becomes_fail_json_not_a_traceback(collections_root, monkeypatch):
    from ansible.module_utils import basic
    from ansible_collections.wanprov.gpu.plugins.module_utils.core import guard

    payload = {"ANSIBLE_MODULE_ARGS": {"_ansible_check_mode": False}}
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps(payload).encode())
    if hasattr(basic, "_ANSIBLE_PROFILE"):
        monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    module = basic.AnsibleModule(argument_spec={})
    guard(module)
    out = io.StringIO()
    try:
        raise ValueError(f"bad value from http://u:{SECRET}@host")
    except ValueError as exc:
        with redirect_stdout(out):
            sys.excepthook(type(exc), exc, exc.__traceback__)
    result = json.loads(out.getvalue())
    assert result["failed"] is True
    assert result["msg"].startswith("unexpected error ValueError: bad value from http://***@host")
    assert SECRET not in out.getvalue()


def test_health_check_text_mode_never_prints_the_password(tmp_path):
    (tmp_path / "svc.log").write_text("")
    result = invoke(
        "health", "check", "--url", f"http://u:{SECRET}@127.0.0.1:9", "--workflows-dir", str(tmp_path),
        "--pidfile", str(tmp_path / "svc.pid"), "--log", str(tmp_path / "svc.log"), "--timeout", "0",
    )  # fmt: skip
    assert result.code != 0
    assert SECRET not in result.out + result.err, result
    assert "***@127.0.0.1" in result.out + result.err


def test_error_messages_quoting_a_file_are_escaped(tmp_path: Path):
    bad = tmp_path / "w\x1b]0;owned\x07.json"
    bad.write_text("{")
    result = invoke("workflow", "check", str(bad))
    assert result.code == ExitCode.BAD_MANIFEST
    assert "\x1b" not in result.err and "\\x1b]0;owned\\x07" in result.err


def test_a_nul_in_a_cli_path_or_name_is_a_usage_error(tmp_path):
    for extra in (("--dest", f"{tmp_path}/x\x00y"), ("--dest", str(tmp_path / "wf"), "--owner", "a\x00b")):
        result = invoke("workflow", "install", "--tier", "large", *extra, "--dry-run", "--format", "json")
        assert result.code == ExitCode.USAGE, result
        assert "unexpected error" not in result.out
