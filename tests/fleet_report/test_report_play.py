"""The fleet report play, run by ansible-playbook on local hosts: a report for every run whatever the
hosts' state (healthy, refused, a bad report, failed before the doctor, unreachable, every host refused or
unreachable), with the controller's own wanprov (no `wanprov` on PATH), no temp folder left, and no warning.

WANPROV_ANSIBLE_PLAYBOOK names another ansible-playbook (CI runs these under each supported ansible-core);
its Python must have wanprov installed, as a controller's does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from doubles.fleet import ANSIBLE_PLAYBOOK

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = str(ANSIBLE_PLAYBOOK)  # WANPROV_ANSIBLE_PLAYBOOK, or this venv's
FAILURE_MARKS = ("[ERROR]: Task failed: Module failed", "Traceback")


def doctor_report(tmp_path: Path) -> dict:
    """A real `wanprov doctor --format json` of an eight-GPU fake host, as preflight brings it back."""
    from doubles.gpu import TARGET_PYTHON, install_fake_host
    from workflows.workflow_cli import run_wanprov

    env = install_fake_host(tmp_path / "host", "h100x8")
    result = run_wanprov("doctor", "--python", TARGET_PYTHON, "--no-nvenc", "--format", "json", env=env)
    return json.loads(result.stdout)


def run(
    tmp_path: Path, playbook: Path, hosts: dict[str, dict], **extra: object
) -> tuple[subprocess.CompletedProcess, dict]:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    report = tmp_path / "reports" / "fleet-report.json"
    env = {
        "HOME": str(tmp_path / "home"),
        # no venv on PATH: the play must find the controller's wanprov through the Python running it
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(tmp_path / "cp"),
        "TMPDIR": str(tmp_path / "tmp"),
        "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", ""),
    }
    (tmp_path / "tmp").mkdir()
    (tmp_path / "home").mkdir()
    variables = {"fleet_report_path": str(report), **extra}
    proc = subprocess.run(
        [PLAYBOOK, "-i", str(inventory), str(playbook), "-e", json.dumps(variables)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300, check=False,
    )  # fmt: skip
    document = json.loads(report.read_text()) if report.exists() else {}
    return proc, document


LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
# a port nothing listens on: unreachable at once; its host key is never asked for
GONE = {
    "ansible_host": "127.0.0.1",
    "ansible_port": 9,
    "ansible_user": "nobody",
    "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
    "-o ConnectTimeout=3",
}


def assert_no_warning(proc: subprocess.CompletedProcess) -> None:
    """No warning of Ansible's or of Python's (ansible_output.py), no module failure, no traceback."""
    from ansible_output import warning_lines

    output = proc.stdout + proc.stderr
    failures = [line for line in output.splitlines() if any(mark in line for mark in FAILURE_MARKS)]
    marks = warning_lines(output) + failures
    assert not marks, output[-4000:]


@pytest.fixture(scope="module")
def states_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("states")
    good = doctor_report(tmp_path)
    bad = {**good, "summary": {**good["summary"], "gpus": [{"index": "zero"}]}}
    refused = {**good, "ok": False}
    health = {
        "schema": "wanprov.instance-health/2", "host": "ok", "gpu": 0, "url": "http://127.0.0.1:8188",
        "ok": True, "error": None, "workflows_validated": 1, "workflows_total": 1,
    }  # fmt: skip
    comfyui = {"instances": [{"gpu": 0}]}  # comfyui_gpus: [0] (the comfyui role's wanprov_comfyui)
    hosts = {
        "ok": {**LOCAL, "report_document": good, "health_results": [health], "comfyui_result": comfyui},
        "refused": {**LOCAL, "report_document": refused},
        "bad": {**LOCAL, "report_document": bad},
        "broken": LOCAL,
        "gone": GONE,
    }
    proc, document = run(tmp_path, REPO / "tests/fleet_report/plays/report-states.yml", hosts)
    return tmp_path, proc, document


def test_every_host_state_has_its_row_with_the_reason(states_run):
    _, proc, document = states_run
    assert document, proc.stdout[-3000:] + proc.stderr[-2000:]
    rows = {(row["host"], row["gpu"]): row for row in document["rows"]}
    assert rows[("ok", 0)]["status"] == "healthy"
    assert rows[("ok", 1)]["status"] == "excluded" and "comfyui_gpus" in rows[("ok", 1)]["reason"]
    assert rows[("refused", 0)]["status"] == "refused"
    assert (
        rows[("bad", None)]["status"] == "invalid"
        and "summary.gpus[0].index" in rows[("bad", None)]["reason"]
    )
    assert rows[("broken", None)]["status"] == "unreachable"
    assert "failed before its doctor ran" in rows[("broken", None)]["reason"]
    assert rows[("gone", None)]["status"] == "unreachable"
    assert (
        "fleet report" not in proc.stderr.lower()
        or "FAILED" not in proc.stdout.split("Fleet report")[-1][:2000]
    )


def test_the_report_play_uses_the_controllers_wanprov_leaves_no_temp_folder_and_warns_nothing(states_run):
    tmp_path, proc, _ = states_run
    assert "Build the fleet report" in proc.stdout
    assert not list((tmp_path / "tmp").glob("*wanprov-fleet*")), "the inputs' temp folder was left behind"
    assert_no_warning(proc)


def test_every_host_refused_at_preflight_still_gets_its_report(tmp_path):
    """GPU-less hosts judged by the real preflight role: every host refused, so Ansible would end the
    playbook before the report play; the report is written before they fail."""
    hosts = {name: {**LOCAL, "preflight_wanprov_python": sys.executable} for name in ("cpu1", "cpu2")}
    play = tmp_path / "preflight-only.yml"
    play.write_text(
        yaml.safe_dump(
            [
                {"name": "Preflight", "hosts": "all", "gather_facts": False,
                 "roles": [{"role": "preflight", "vars": {"preflight_python": ""}}]},
                {"name": "The report", "ansible.builtin.import_playbook": str(REPO / "playbooks/report.yml")},
            ],
            sort_keys=False,
        )
    )  # fmt: skip
    proc, document = run(tmp_path, play, hosts, preflight_environment={"WANPROV_NVIDIA_SMI": "/nonexistent"})
    assert proc.returncode != 0  # the hosts are refused
    assert document, proc.stdout[-3000:]
    assert {row["host"]: row["status"] for row in document["rows"]} == {"cpu1": "refused", "cpu2": "refused"}
    assert_no_warning(proc)


def test_no_host_reachable_still_gets_its_report(tmp_path):
    hosts = {"gone1": GONE, "gone2": GONE}
    proc, document = run(tmp_path, REPO / "playbooks/preflight.yml", hosts)
    assert proc.returncode != 0
    assert document, proc.stdout[-3000:]
    rows = {row["host"]: row for row in document["rows"]}
    assert rows["gone1"]["status"] == rows["gone2"]["status"] == "unreachable"
    assert rows["gone1"]["reason"].startswith("unreachable:"), rows["gone1"]
    assert_no_warning(proc)
