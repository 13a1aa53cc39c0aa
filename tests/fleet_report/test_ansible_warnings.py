"""Zero warnings in a playbook run: a run that loads ansible-core's ssh connection plugin (any host reached
over SSH) prints no Python warning either.

With cryptography 51, ansible-core's SSH-agent code (ansible/_internal/_ssh/_ssh_agent.py, imported by the
ssh plugin) printed a CryptographyDeprecationWarning on every such run; pyproject.toml bounds cryptography
below 51 (docs/development.md, "Dependency bounds"). The check that catches it is ansible_output.py's, used
by every playbook test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ansible_output import warning_lines

PLAYBOOK = os.environ.get("WANPROV_ANSIBLE_PLAYBOOK") or str(Path(sys.executable).parent / "ansible-playbook")
# Recorded on this build machine (ansible-core 2.19.14, cryptography 51.0.1), `ansible all -i 127.0.0.1,
# -m ping`: the two lines Python's warnings module printed.
RECORDED = (
    ".venv/lib/python3.11/site-packages/ansible/_internal/_ssh/_ssh_agent.py:18: "
    "CryptographyDeprecationWarning: DSA is deprecated and support will be removed in a future release. "
    "Use a more modern signature algorithm.\n"
    "  from cryptography.hazmat.primitives.asymmetric.dsa import (\n"
)


def test_the_check_catches_pythons_warnings_and_ansibles() -> None:
    assert len(warning_lines(RECORDED)) == 1
    assert warning_lines("[WARNING]: Found variable using reserved name: x\n")
    assert warning_lines("[DEPRECATION WARNING]: x is deprecated.\n")
    assert not warning_lines("TASK [wanprov.gpu.doctor : warn when the disk is short] ***\nok: [h1]\n")


def test_a_run_over_ssh_prints_no_warning(tmp_path: Path) -> None:
    play = tmp_path / "play.yml"
    play.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n")
    env = {
        "HOME": str(tmp_path),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "local"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(tmp_path / "cp"),
        "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", ""),
    }
    # port 9: nothing listens, the host is unreachable at once; the ssh plugin is loaded all the same
    proc = subprocess.run(
        [PLAYBOOK, "-i", "gone,", str(play), "-e", "ansible_host=127.0.0.1 ansible_port=9",
         "--ssh-common-args", "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert "UNREACHABLE" in proc.stdout, proc.stdout + proc.stderr  # it did go over SSH
    assert not warning_lines(proc.stdout + proc.stderr), proc.stderr
