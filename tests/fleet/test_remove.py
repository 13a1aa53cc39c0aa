"""Uninstall: playbooks/remove.yml on a host that site.yml converged (models included) stops its ComfyUI,
removes the units, ComfyUI, the venvs, the data folder and the service user, and keeps the model files and
the users' outputs until asked. The host is test_site.py's H100, after that module's tests (the session's
one converge of the fleet, tests/fleet/conftest.py); the other hosts are left alone. In file order:
--check -> remove -> re-run -> remove everything."""

from __future__ import annotations

import pwd
import socket
from pathlib import Path

import pytest

from doubles.fleet import PlaybookResult, run_playbook
from fleet.fleet_setup import FleetUnderTest

pytestmark = [
    pytest.mark.fleet,
    pytest.mark.slow,
    pytest.mark.timeout(900),
]

REMOVE = Path(__file__).resolve().parents[2] / "playbooks" / "remove.yml"
HOST = "h100"  # one of the fleet's ready hosts, single GPU


@pytest.fixture(scope="module")
def converged(site_fleet: FleetUnderTest, site_first_run: PlaybookResult) -> FleetUnderTest:
    counts = site_first_run.recap[HOST]
    assert counts.failed == 0 and counts.unreachable == 0, site_first_run.describe()
    assert _answers(site_fleet.port(HOST, 0))  # still converged after test_site.py's tests
    (site_fleet.instance_dir(HOST, 0) / "output" / "my-video.mp4").write_bytes(b"made by a user")
    return site_fleet


def remove(fleet: FleetUnderTest, *, check: bool = False, **extra: object) -> PlaybookResult:
    """remove.yml on HOST only (the fleet's other hosts keep their stack)."""
    root = fleet.fleet.hosts[HOST].root
    extra_vars = {"remove_models_host_cache_dir": f"{root}/var/cache/wanprov/models", **extra}
    return run_playbook(fleet.fleet, REMOVE, extra_vars=extra_vars, check=check, diff=check, limit=HOST)


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
    root = converged.fleet.hosts[HOST].root
    result = remove(converged, check=True)
    assert result.rc == 0, result.describe()
    assert result.recap[HOST].changed > 0
    assert (root / "opt/comfyui/ComfyUI/main.py").exists()
    assert (root / "opt/wanprov/venv/bin/wanprov").exists()
    assert _answers(converged.port(HOST, 0))


@pytest.fixture(scope="module")
def removed(converged) -> PlaybookResult:
    result = remove(converged)
    assert result.rc == 0, result.describe()
    return result


def test_remove_stops_the_service_and_removes_what_site_made(converged, removed):
    root = converged.fleet.hosts[HOST].root
    user = str(converged.host_vars[HOST]["comfyui_user"])
    assert not _answers(converged.port(HOST, 0))
    assert list((root / "etc/systemd/system").glob("comfyui*")) == []
    # /opt/comfyui (ComfyUI and its venv) and /opt/wanprov (wanprov's venv) are gone, parents too
    assert not (root / "opt/comfyui").exists()
    assert not (root / "opt/wanprov").exists()
    data = root / "var/lib/comfyui"
    assert not (data / "extra_model_paths.yaml").exists()
    assert not (data / "gpu0" / "user").exists()
    assert not _user_exists(user)
    # only the host it was limited to: the fleet's other ready host still runs
    assert _answers(converged.port("rtx4090", 0))
    assert (converged.fleet.hosts["rtx4090"].root / "opt/comfyui/ComfyUI/main.py").exists()


def test_remove_keeps_models_and_what_users_made_and_says_so(converged, removed):
    root = converged.fleet.hosts[HOST].root
    models = converged.models_dir(HOST)
    assert any(path.is_file() for path in models.rglob("*.gguf")), "the model files were removed"
    output = converged.instance_dir(HOST, 0) / "output" / "my-video.mp4"
    assert output.read_bytes() == b"made by a user"
    assert (root / "var/lib/comfyui/input").is_dir()
    assert "Kept (pass remove_models=true / remove_user_files=true" in removed.stdout
    assert str(models) in removed.stdout


def test_remove_again_changes_nothing(converged, removed):
    result = remove(converged)
    assert result.rc == 0, result.describe()
    assert result.recap[HOST].changed == 0, result.describe()


def test_remove_models_and_user_files_when_asked(converged, removed):
    root = converged.fleet.hosts[HOST].root
    result = remove(converged, remove_models=True, remove_user_files=True)
    assert result.rc == 0, result.describe()
    assert not converged.models_dir(HOST).exists()
    assert not (root / "var/lib/comfyui").exists()
    assert "Kept" not in result.stdout
