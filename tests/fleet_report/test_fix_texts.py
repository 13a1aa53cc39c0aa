"""The fix of an unhealthy instance fits what its health check found; --help names the schema it reads."""

from __future__ import annotations

import re

from wanprov.fleet.report import unhealthy_fix
from workflows.workflow_cli import run_wanprov


def test_a_missing_model_file_is_fixed_by_the_models_stage_not_the_log():
    # the error check_instance records when a workflow names a file the server no longer lists
    error = (
        "/var/lib/comfyui/gpu0/user/default/workflows/wan.api.json: file not on the server: node 1 "
        "(UnetLoaderGGUF) unet_name: Wan2.2-I2V-A14B-HighNoise-Q5_K_S.gguf"
    )
    fix = unhealthy_fix(error, "ws-4090-a", 0)
    assert "--tags models --limit ws-4090-a" in fix
    assert "wanprov fetch-models --profile" in fix
    assert "journalctl" not in fix


def test_no_workflows_is_fixed_by_the_workflows_stage():
    fix = unhealthy_fix("no API workflows (*.api.json) in /x: run the workflows stage", "h", 1)
    assert "--tags workflows --limit h" in fix


def test_a_service_that_does_not_answer_points_at_its_unit_log():
    fix = unhealthy_fix("does not answer: ComfyUI exited before answering", "h", 1)
    assert "journalctl -u comfyui-gpu1" in fix


def test_help_names_the_health_schema_written_today():
    help_text = run_wanprov("fleet-report", "--help").stdout
    unwrapped = re.sub(r"-\s+", "-", " ".join(help_text.split()))  # click wraps at the hyphen
    assert "wanprov.instance-health/2" in unwrapped
