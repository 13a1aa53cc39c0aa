"""Run ansible-playbook / ansible against a Fleet and parse the PLAY RECAP into per-host counts."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from doubles.fleet.sshd import Fleet

REPO_ROOT = Path(__file__).resolve().parents[3]
# The ansible-playbook under test: WANPROV_ANSIBLE_PLAYBOOK names another ansible-core's (CI runs the fleet
# under each supported one); its Python must have wanprov installed, as a controller's does. Default: this
# venv's.
_OWN_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
ANSIBLE_PLAYBOOK = Path(os.environ.get("WANPROV_ANSIBLE_PLAYBOOK") or _OWN_PLAYBOOK)


@functools.cache
def ansible_core_version() -> str:
    """The ansible-core of ANSIBLE_PLAYBOOK, major.minor (e.g. "2.21")."""
    code = "import ansible.release as r; print('.'.join(r.__version__.split('.')[:2]))"
    python = ANSIBLE_PLAYBOOK.parent / "python"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def service_user(host: str) -> str:
    """The service user the comfyui role creates for a test host (the test hosts share one /etc/passwd).
    Under another ansible-core than this venv's, the name says which: CI converges a fleet under each
    at the same time."""
    if ANSIBLE_PLAYBOOK == _OWN_PLAYBOOK:
        return f"wanprov-{host}"
    return f"wanprov-{host}-a{ansible_core_version().replace('.', '')}"


_RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$")


@dataclass(frozen=True)
class RecapCounts:
    ok: int = 0
    changed: int = 0
    unreachable: int = 0
    failed: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


@dataclass
class PlaybookResult:
    rc: int
    stdout: str
    stderr: str
    recap: dict[str, RecapCounts]
    command: list[str]

    def describe(self) -> str:
        """Everything a failing assertion should show."""
        command = " ".join(self.command)
        return f"$ {command}\nrc={self.rc}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"


def parse_recap(stdout: str) -> dict[str, RecapCounts]:
    """Parse the default callback's PLAY RECAP block (`host : ok=3 changed=1 ...`) per host."""
    recap: dict[str, RecapCounts] = {}
    in_recap = False
    for raw in stdout.splitlines():
        line = raw.strip()
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if not in_recap or not line:
            continue
        match = _RECAP_LINE.match(line)
        if not match:
            continue
        counts = dict(pair.split("=") for pair in match["counts"].split())
        known = {key: int(value) for key, value in counts.items() if key in RecapCounts.__dataclass_fields__}
        recap[match["host"]] = RecapCounts(**known)
    return recap


def ansible_env(fleet: Fleet, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for ansible commands: the repo's ansible.cfg, plain output, per-fleet temp dirs."""
    env = dict(os.environ)
    bin_dir = str(ANSIBLE_PLAYBOOK.parent)
    env.update(
        {
            "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
            "ANSIBLE_ROLES_PATH": str(REPO_ROOT / "roles"),
            "ANSIBLE_STDOUT_CALLBACK": "default",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_LOCAL_TEMP": str(fleet.base_dir / "ansible-local"),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(fleet.base_dir / "cp"),
            "PATH": bin_dir + os.pathsep + env.get("PATH", ""),
        }
    )
    env.update(extra or {})
    return env


def _run(command: list[str], env: dict[str, str], timeout: float) -> PlaybookResult:
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    return PlaybookResult(proc.returncode, proc.stdout, proc.stderr, parse_recap(proc.stdout), command)


def run_playbook(
    fleet: Fleet,
    playbook: str | Path,
    *,
    extra_vars: Mapping[str, object] | None = None,
    check: bool = False,
    diff: bool = False,
    limit: str | None = None,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 900,
) -> PlaybookResult:
    """Run `ansible-playbook` against the fleet inventory; never raises on a failed play (read `.rc`)."""

    command = [
        str(ANSIBLE_PLAYBOOK),
        "-i",
        str(fleet.inventory),
        str(playbook),
    ]
    if extra_vars:
        command += ["--extra-vars", json.dumps(dict(extra_vars))]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    if limit:
        command += ["--limit", limit]
    command += list(args)
    return _run(command, ansible_env(fleet, env), timeout)


def run_ansible(
    fleet: Fleet,
    module: str,
    *,
    module_args: str = "",
    pattern: str = "all",
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> PlaybookResult:
    """Run an ad-hoc `ansible PATTERN -m MODULE` against the fleet (recap is empty for ad-hoc runs)."""
    command = [
        str(ANSIBLE_PLAYBOOK.parent / "ansible"),
        pattern,
        "-i",
        str(fleet.inventory),
        "-m",
        module,
    ]
    if module_args:
        command += ["-a", module_args]
    return _run(command, ansible_env(fleet, env), timeout)
