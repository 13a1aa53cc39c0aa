"""`wanprov up` as an ordinary user (a throwaway account, run with runuser): no root, everything under the
user's own ~/.local/share/wanprov, owned by them; the instance runs (here under the test-only process
supervisor: no systemd as PID 1) and verifies; a re-run changes nothing; `--service user` plans a systemd
user unit in ~/.config/systemd/user."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from pathlib import Path

import pytest
from up_host import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create the throwaway user"),
]
USER = "wanprov-up-user"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def user_env(up_sources):
    """The account, and wanprov installed where it can run it (this checkout's venv lives under /root)."""
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", USER], check=True)
    home = Path(pwd.getpwnam(USER).pw_dir)
    for path in (home / ".local", home / ".config", home / "process-units"):
        subprocess.run(["rm", "-rf", str(path)], check=True)  # a bare account each session
    # the local stand-ins for GitHub belong to root: git refuses another user's repository unless trusted
    gitconfig = home / ".gitconfig"
    gitconfig.write_text("[safe]\n\tdirectory = *\n")
    subprocess.run(["chown", f"{USER}:", str(gitconfig)], check=True)
    venv = up_sources.base / "wanprov-venv"
    if not venv.exists():
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin/pip"), "install", "-q", str(REPO)], check=True, timeout=600)
        subprocess.run(["chmod", "-R", "a+rX", str(venv)], check=True)
    yield home, venv
    for launch in (home / ".local/share/wanprov/data").glob("*/comfyui-launch.json"):
        stop = ["runuser", "-u", USER, "--", str(venv / "bin/python"), "-m", "wanprov.service.supervise"]
        subprocess.run([*stop, "stop", str(launch)], capture_output=True, check=False)


def up_as_user(up_sources, user_env, *extra: str, port: int):
    home, venv = user_env
    env = [f"{k}={v}" for k, v in up_sources.env.items()] + [f"HOME={home}", f"USER={USER}", "LANG=C.UTF-8"]
    command = ["runuser", "-u", USER, "--", "env", "-i", *env, str(venv / "bin/wanprov"), "up",
               *up_sources.args, "--port", str(port), "--smoke-timeout", "60", "--health-timeout", "60",
               "--format", "json", *extra]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def test_up_as_an_ordinary_user_then_nothing_to_change(up_sources, user_env):
    home, _ = user_env
    port = free_port()
    process = ["--service", "process", "--unit-dir", str(home / "process-units")]  # the test-only supervisor
    rc, first, err = up_as_user(up_sources, user_env, *process, port=port)
    assert rc == 0, (first.get("blocking"), first.get("error"), first.get("message"), err[-3000:])
    base = home / ".local/share/wanprov"
    for path in (base / "ComfyUI", base / "venv", base / "data", base / "data/gpu0/user/default/workflows"):
        assert path.owner() == USER, path
    assert (base / "venv/wanprov-constraints.txt").is_file()
    (instance,) = first["instances"]
    assert instance["smoke"] == "ok" and instance["files_verified"] > 0

    rc, again, err = up_as_user(up_sources, user_env, *process, port=port)
    assert rc == 0, (again["error"], err[-3000:])
    assert again["changed"] is False, [(s["name"], s.get("changes")) for s in again["stages"] if s["changed"]]


def test_service_user_plans_a_systemd_user_unit(up_sources, user_env):
    home, _ = user_env
    rc, document, err = up_as_user(up_sources, user_env, "--service", "user", "--dry-run", port=free_port())
    assert rc == 4, (document["error"], err[-2000:])
    service = next(stage for stage in document["stages"] if stage["name"] == "service")
    assert str(home / ".config/systemd/user/comfyui-gpu0.service") in service["changes"]
    assert not (home / ".config/systemd/user").exists()
