"""End to end: the comfyui role over real SSH (sshd on loopback) against local git repos and local wheels.

systemd is not PID 1 in the test container, so the service runs under the role's test-only `process`
supervisor (same command line as the unit); the rendered unit is checked with `systemd-analyze verify`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import testinfra
from stack_sources import SourceRepos

from doubles.fleet import Fleet, HostSpec, PlaybookResult, run_playbook
from doubles.git import git
from doubles.wheels import TORCH_PINNED

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

PLAYBOOK = Path(__file__).parent / "playbooks" / "stack.yml"
SERVICE_USER = "wanprov-test-comfy"


@dataclass
class StackHost:
    fleet: Fleet
    root: Path
    port: int
    repos: SourceRepos
    manifests: Path
    wheelhouse: Path

    @property
    def install_dir(self) -> Path:
        return self.root / "opt/comfyui/ComfyUI"

    @property
    def venv_python(self) -> Path:
        return self.root / "opt/comfyui/venv/bin/python"

    @property
    def unit(self) -> Path:
        return self.root / "etc/systemd/system/comfyui-gpu0.service"

    def play(self, **kwargs: object) -> PlaybookResult:
        return run_playbook(self.fleet, PLAYBOOK, **kwargs)  # type: ignore[arg-type]

    def torch_version(self) -> str:
        code = "import importlib.metadata as m; print(m.version('torch'))"
        return subprocess.run([self.venv_python, "-c", code], capture_output=True, text=True).stdout.strip()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def full_wheelhouse(wheelhouse: Path, repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake torch & co. plus a wheel of wanprov itself and its dependencies (for the wanprov_cli role)."""
    dest = tmp_path_factory.mktemp("wheelhouse-full")
    for wheel in wheelhouse.iterdir():
        shutil.copy(wheel, dest)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(dest), str(repo_root)], check=True
    )
    return dest


@pytest.fixture(scope="module")
def stack_host(full_wheelhouse: Path, source_repos: SourceRepos) -> Iterator[StackHost]:
    # Not under pytest's 0700 tmp: the unprivileged service user must traverse to its install.
    base = Path(tempfile.mkdtemp(prefix="wanprov-e2e-", dir="/tmp"))
    base.chmod(0o755)
    manifests = base / "manifests"
    manifests.mkdir()
    source_repos.manifest(manifests / "node-packs.yaml")
    root = base / "hosts" / "gpu-a"
    port = _free_port()
    host_vars = {
        "wanprov_cli_venv": f"{root}/opt/wanprov/venv",
        "wanprov_cli_pip_environment": {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(full_wheelhouse)},
        "comfyui_install_dir": f"{root}/opt/comfyui/ComfyUI",
        "comfyui_venv_dir": f"{root}/opt/comfyui/venv",
        "comfyui_data_dir": f"{root}/var/lib/comfyui",
        "comfyui_models_dir": f"{root}/srv/models",
        "comfyui_systemd_unit_dir": f"{root}/etc/systemd/system",
        "comfyui_user": SERVICE_USER,
        "comfyui_group": SERVICE_USER,
        "comfyui_service_manager": "process",
        "comfyui_port": port,
        "comfyui_git_url": source_repos.comfyui_url,
        "comfyui_git_url_schemes": ["file"],  # the local repos: the documented opt-in
        "comfyui_version": source_repos.comfyui_commit,
        "comfyui_node_manifest": str(manifests / "node-packs.yaml"),
        "comfyui_torch_variant": "cu128",
        # Labelled pins: this wheelhouse mixes cu128 and cu126 builds, as no real index does; a label-less
        # pin (tests/fleet/test_bare_host.py) is for an index that serves one variant.
        "comfyui_torch_version": "2.9.1+cu128",
        "comfyui_torchvision_version": "0.24.1+cu128",
        "comfyui_torchaudio_version": "2.9.1+cu128",
        "comfyui_pip_extra_args": f"--no-index --find-links {full_wheelhouse}",
        "comfyui_launch_flags": ["--highvram"],
        "comfyui_gpus": [0],  # no doctor here to list the usable GPUs: GPU 0's instance, as given
        "comfyui_judge_torch": False,  # no GPU double here: the torch verdict is the fleet tests' business
        "comfyui_wait_delay": 1,
    }
    fleet = Fleet.start(base, [HostSpec("gpu-a", vars=host_vars)])
    host = StackHost(fleet, root, port, source_repos, manifests, full_wheelhouse)
    try:
        yield host
    finally:
        _stop_service(root / "var/lib/comfyui/gpu0/comfyui.pid")
        fleet.stop()
        shutil.rmtree(base, ignore_errors=True)


def _stop_service(pidfile: Path) -> None:
    with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
        os.killpg(int(pidfile.read_text()), signal.SIGTERM)


@pytest.fixture(scope="module")
def fresh_check(stack_host: StackHost) -> PlaybookResult:
    """Check mode on the bare host, before anything was installed."""
    return stack_host.play(check=True)


@pytest.fixture(scope="module")
def converged(stack_host: StackHost, fresh_check: PlaybookResult) -> tuple[StackHost, PlaybookResult]:
    return stack_host, stack_host.play()


def test_check_mode_on_a_bare_host_reports_work_and_creates_nothing(stack_host, fresh_check):
    assert fresh_check.rc == 0, fresh_check.describe()
    assert fresh_check.recap["gpu-a"].changed > 0
    assert not (stack_host.root / "opt").exists()
    assert not (stack_host.root / "var/lib/comfyui").exists()


def test_converge_provisions_the_host(converged):
    host, result = converged
    assert result.rc == 0, result.describe()
    assert result.recap["gpu-a"].failed == 0 and result.recap["gpu-a"].changed > 0
    assert host.torch_version() == TORCH_PINNED

    infra = testinfra.get_host(
        f"ssh://root@127.0.0.1:{host.fleet.hosts['gpu-a'].port}",
        ssh_identity_file=str(host.fleet.client_key),
        ssh_extra_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
    )
    assert infra.user(SERVICE_USER).exists and infra.user(SERVICE_USER).shell == "/usr/sbin/nologin"
    data = infra.file(str(host.root / "var/lib/comfyui/gpu0/output"))
    assert data.is_directory and data.user == SERVICE_USER
    code = infra.file(str(host.install_dir / "main.py"))
    assert code.user == "root" and code.mode == 0o644
    assert git(host.install_dir, "rev-parse", "HEAD") == host.repos.comfyui_commit
    for name in (
        "ComfyUI-GGUF",
        "ComfyUI-TeaCache",
        "ComfyUI-VideoHelperSuite",
        "ComfyUI-Frame-Interpolation",
    ):
        pack = host.install_dir / "custom_nodes" / name
        assert git(pack, "rev-parse", "HEAD") == host.repos.packs[name][1]
    assert not (host.install_dir / "custom_nodes" / "ComfyUI-KJNodes").exists()

    unit = infra.file(str(host.unit))
    assert unit.contains(f"User={SERVICE_USER}") and unit.contains("NoNewPrivileges=true")
    assert unit.contains("ProtectSystem=strict") and unit.contains("Restart=on-failure")
    assert unit.contains("--highvram") and unit.contains("--listen 127.0.0.1")
    assert unit.contains(f"--port {host.port} ")
    assert unit.contains("--cuda-device 0") and unit.contains('Environment="CUDA_DEVICE_ORDER=PCI_BUS_ID"')
    assert infra.file(str(host.root / "opt/comfyui/venv/pip.conf")).contains("constraint = ")
    assert infra.file(str(host.root / "opt/comfyui/venv/wanprov-constraints.txt")).contains(
        f"torch=={TORCH_PINNED}"
    )
    models = infra.file(str(host.root / "var/lib/comfyui/extra_model_paths.yaml"))
    assert models.contains(f"base_path: {host.root}/srv/models")

    socket = infra.socket(f"tcp://127.0.0.1:{host.port}")
    assert socket.is_listening
    stats = json.loads(infra.check_output(f"curl -sf http://127.0.0.1:{host.port}/system_stats"))
    assert stats["system"]["comfyui_version"] == "0.3.64"
    assert stats["system"]["pytorch_version"] == TORCH_PINNED
    assert "--highvram" in stats["system"]["argv"]
    assert stats["wanprov_double"]["user"] == infra.user(SERVICE_USER).uid  # runs unprivileged


def test_unit_file_passes_systemd_analyze_verify(converged, tmp_path):
    host, _ = converged
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    proc = subprocess.run(["systemd-analyze", "verify", str(host.unit)], capture_output=True, text=True)
    # verify prints problems it finds in the unit; the unit's own name appears only in those lines
    problems = [line for line in proc.stderr.splitlines() if "comfyui-gpu0.service" in line]
    assert proc.returncode == 0 and not problems, proc.stderr


def test_second_run_changes_nothing(converged):
    host, _ = converged
    again = host.play()
    assert again.rc == 0, again.describe()
    assert again.recap["gpu-a"].changed == 0, again.describe()


def test_check_mode_reports_drift_changes_nothing_and_a_run_restores(converged):
    host, _ = converged
    gguf = host.install_dir / "custom_nodes" / "ComfyUI-GGUF"
    git(gguf, "checkout", "--quiet", "--detach", host.repos.gguf_second_commit)
    host.unit.write_text(host.unit.read_text().replace("--highvram", "--lowvram"))
    unit_before = host.unit.read_text()

    check = host.play(check=True, diff=True)
    assert check.rc == 0, check.describe()
    assert check.recap["gpu-a"].changed >= 2, check.describe()
    assert "ComfyUI-GGUF" in check.stdout and "wrong_commit" in check.stdout
    assert "-ExecStart" in check.stdout or "--lowvram" in check.stdout  # the unit's diff
    assert git(gguf, "rev-parse", "HEAD") == host.repos.gguf_second_commit  # nothing changed
    assert host.unit.read_text() == unit_before

    fix = host.play()
    assert fix.rc == 0 and fix.recap["gpu-a"].changed > 0, fix.describe()
    assert git(gguf, "rev-parse", "HEAD") == host.repos.packs["ComfyUI-GGUF"][1]
    assert "--highvram" in host.unit.read_text()


def test_pack_requiring_another_torch_fails_clearly_and_torch_stays(converged):
    host, _ = converged
    bad = host.repos.manifest(host.manifests / "bad.yaml", bad=True)
    result = host.play(extra_vars={"comfyui_node_manifest": str(bad)})
    assert result.rc != 0 and result.recap["gpu-a"].failed == 1, result.describe()
    assert "ComfyUI-Bad-Torch-Pin" in result.stdout and "torch" in result.stdout
    assert host.torch_version() == TORCH_PINNED


def test_branch_pinned_pack_is_refused(converged):
    host, _ = converged
    branchy = host.repos.manifest(host.manifests / "branch.yaml", branch_for="ComfyUI-GGUF")
    result = host.play(extra_vars={"comfyui_node_manifest": str(branchy)})
    assert result.rc != 0 and result.recap["gpu-a"].failed == 1, result.describe()
    assert "branch or tag" in result.stdout and "ComfyUI-GGUF" in result.stdout
