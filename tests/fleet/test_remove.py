"""Uninstall: playbooks/remove.yml on a host that site.yml converged (models included) stops its ComfyUI,
removes the units, ComfyUI, the venvs, the data folder and the service user, and keeps the model files and
the users' outputs until asked. The host is the `site` host of tests/fleet/site_and_up.py, after
test_up_site_same.py's tests (one converge per session, tests/fleet/conftest.py, on the same worker,
tests/parallel.py); the `up` host beside it, which `wanprov up` converged, is left alone. In file order:
--check -> remove -> re-run -> remove everything."""

from __future__ import annotations

import os
import pwd
import socket
from pathlib import Path

import pytest

from doubles.fleet import PlaybookResult, run_playbook
from fleet.site_and_up import Hosts

pytestmark = [
    pytest.mark.fleet,
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(os.geteuid() != 0, reason="root: the hosts' converges create service users"),
]

REMOVE = Path(__file__).resolve().parents[2] / "playbooks" / "remove.yml"
HOST = "site"  # converged by site.yml with its models
OTHER = "up"  # converged by `wanprov up`; its inventory's wanprov_cli_venv is this interpreter's venv


@pytest.fixture(scope="module")
def converged(site_and_up: Hosts, site_and_up_converged: tuple[PlaybookResult, dict]) -> Hosts:
    site_run, _ = site_and_up_converged
    counts = site_run.recap[HOST]
    assert counts.failed == 0 and counts.unreachable == 0, site_run.describe()
    assert _answers(_port(site_and_up, HOST))  # still converged after test_up_site_same.py's tests
    (_instance_dir(site_and_up, HOST) / "output" / "my-video.mp4").write_bytes(b"made by a user")
    return site_and_up


def remove(hosts: Hosts, *, check: bool = False, **extra: object) -> PlaybookResult:
    """remove.yml on HOST only (the other host keeps its stack)."""
    extra_vars = {"remove_models_host_cache_dir": f"{hosts.root(HOST)}/var/cache/wanprov/models", **extra}
    return run_playbook(hosts.fleet, REMOVE, extra_vars=extra_vars, check=check, diff=check, limit=HOST)


def _port(hosts: Hosts, name: str) -> int:
    return int(str(hosts.vars[name]["comfyui_port"]))


def _models_dir(hosts: Hosts, name: str) -> Path:
    return Path(str(hosts.vars[name]["comfyui_models_dir"]))


def _instance_dir(hosts: Hosts, name: str) -> Path:
    """GPU 0's instance folder on host `name` (output/, temp/, user/, pid, log, launch file)."""
    return Path(str(hosts.vars[name]["comfyui_data_dir"])) / "gpu0"


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def test_check_mode_shows_the_removal_and_removes_nothing(converged):
    root = converged.root(HOST)
    result = remove(converged, check=True)
    assert result.rc == 0, result.describe()
    assert result.recap[HOST].changed > 0
    assert (root / "opt/comfyui/ComfyUI/main.py").exists()
    assert (root / "opt/wanprov/venv/bin/wanprov").exists()
    assert _answers(_port(converged, HOST))


@pytest.fixture(scope="module")
def removed(converged) -> PlaybookResult:
    result = remove(converged)
    assert result.rc == 0, result.describe()
    return result


def test_remove_stops_the_service_and_removes_what_site_made(converged, removed):
    root = converged.root(HOST)
    user = str(converged.vars[HOST]["comfyui_user"])
    assert not _answers(_port(converged, HOST))
    assert list((root / "etc/systemd/system").glob("comfyui*")) == []
    # /opt/comfyui (ComfyUI and its venv) and /opt/wanprov (wanprov's venv) are gone, parents too
    assert not (root / "opt/comfyui").exists()
    assert not (root / "opt/wanprov").exists()
    data = root / "var/lib/comfyui"
    assert not (data / "extra_model_paths.yaml").exists()
    assert not (data / "gpu0" / "user").exists()
    assert not _user_exists(user)
    # only the host it was limited to: the other host still runs, its wanprov and user untouched
    assert _answers(_port(converged, OTHER))
    assert (converged.root(OTHER) / "opt/comfyui/ComfyUI/main.py").exists()
    assert (Path(str(converged.vars[OTHER]["wanprov_cli_venv"])) / "bin" / "wanprov").exists()
    assert _user_exists(str(converged.vars[OTHER]["comfyui_user"]))


def test_remove_keeps_models_and_what_users_made_and_says_so(converged, removed):
    root = converged.root(HOST)
    models = _models_dir(converged, HOST)
    assert any(path.is_file() for path in models.rglob("*.gguf")), "the model files were removed"
    output = _instance_dir(converged, HOST) / "output" / "my-video.mp4"
    assert output.read_bytes() == b"made by a user"
    assert (root / "var/lib/comfyui/input").is_dir()
    assert "Kept (pass remove_models=true / remove_user_files=true" in removed.stdout
    assert str(models) in removed.stdout


def test_remove_again_changes_nothing(converged, removed):
    result = remove(converged)
    assert result.rc == 0, result.describe()
    assert result.recap[HOST].changed == 0, result.describe()


def test_remove_models_and_user_files_when_asked(converged, removed):
    root = converged.root(HOST)
    result = remove(converged, remove_models=True, remove_user_files=True)
    assert result.rc == 0, result.describe()
    assert not _models_dir(converged, HOST).exists()
    assert not (root / "var/lib/comfyui").exists()
    assert "Kept" not in result.stdout
