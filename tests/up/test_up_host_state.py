"""`wanprov up` as root, the host's state beyond a first converge: a GPU-less host without a profile (no
models to fetch), and a service account an earlier run made for another data folder."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from test_up_root import stages, up

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="root: creates service users"),
]


def test_cpu_without_a_profile_skips_the_models_and_health_passes(up_sources):
    """No GPU and no --profile: nothing to fetch, so health does not ask for model files on disk (before,
    every workflow failed with 'file not found' for files the run never meant to fetch)."""
    root = Path(tempfile.mkdtemp(prefix="cpu-bare-", dir=up_sources.base))
    root.chmod(0o755)
    no_gpu = {**os.environ, "PATH": "/usr/bin:/bin"}  # no Hub either: nothing may be fetched
    # its own service user: the module's GPU host runs as the other one, from another data folder
    rc, first, err = up(up_sources, root, "--cpu", "--service-user", "wanprov-up-bare", env=no_gpu)
    assert rc == 0, (first.get("blocking"), first.get("error"), err[-3000:])
    by_name = stages(first)
    assert by_name["models"]["status"] == "skipped" and by_name["health"]["status"] == "ok", by_name
    assert not list((root / "opt/comfyui/ComfyUI/models").rglob("*.gguf"))


def test_an_existing_service_account_gets_the_roles_home_group_and_shell(tmp_path):
    """An account an earlier run made for another data folder is set as the role's user task sets it
    (before, `up` kept the old home and site.yml --check found the account to change)."""
    import pwd

    from wanprov.service.install import ServiceRequest, ensure_account

    user = f"wanprov-acct-{os.getpid()}"
    subprocess.run(["useradd", "--system", "--user-group", "--home-dir", "/nonexistent", "--shell", "/bin/sh",
                    user], check=True, capture_output=True)  # fmt: skip
    try:
        request = ServiceRequest(manager="process", user=user, group=user, unit_dir=tmp_path)
        data = tmp_path / "data"
        assert ensure_account(request, data, dry_run=True)  # reported, not done
        assert pwd.getpwnam(user).pw_dir == "/nonexistent"
        assert ensure_account(request, data, dry_run=False)
        account = pwd.getpwnam(user)
        assert (account.pw_dir, account.pw_shell) == (str(data), "/usr/sbin/nologin")
        assert ensure_account(request, data, dry_run=False) == []
    finally:
        subprocess.run(["userdel", user], check=False, capture_output=True)
