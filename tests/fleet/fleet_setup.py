"""Build a test fleet for site.yml: sshd hosts (the fleet double), each with its own recorded GPU (the GPU
double), a local hub serving tiny stand-ins of the profiles' model files, and the stack's local sources.

Shared by `tests/fleet/test_site.py` and `benchmarks/fleet_converge.py`; no pytest import.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from doubles.comfyui_app import build_comfyui_repo
from doubles.fleet import Fleet, HostSpec, PlaybookResult, run_playbook, service_user
from doubles.fleet.sshd import kill_sshd
from doubles.git import make_repo, node_pack_files
from doubles.gpu import install_fake_host
from doubles.hub.server import HubServer, environment_for
from doubles.weights.minimal import minimal_model_bytes
from doubles.wheels import build_wheelhouse
from stack.stack_sources import PACK_REQUIREMENTS, SourceRepos

REPO_ROOT = Path(__file__).resolve().parents[2]
OBJECT_INFO = REPO_ROOT / "manifests" / "comfyui" / "object_info.json"
SITE = REPO_ROOT / "site.yml"

# host name -> the GPU double's named spec (its GPUs and driver; no torch on any path of the host: each
# host's ComfyUI venv gets torch from the wheel-index double). rtx5090-old pins a torch without sm_120
# (BAD_HOST_TORCH): the stack play's verdict, then preflight, must refuse it.
# rtx4090 has two GPUs of two classes (RTX 4090 + RTX 4070 Ti SUPER): two ComfyUI instances, two profiles.
FLEET_GPUS: dict[str, str] = {
    "h100": "h100_single",
    "rtx4090": "rtx4090_rtx4070tis_cu128",
    "rtx5090-old": "rtx5090_torch251_cu124",
}
READY_HOSTS = ("h100", "rtx4090")
BAD_HOST = "rtx5090-old"
# The PyTorch index's cu124 family (no sm_120 kernels), served by the wheel-index double.
BAD_HOST_TORCH = {
    "comfyui_torch_variant": "cu124",
    "comfyui_torch_version": "2.5.1+cu124",
    "comfyui_torchvision_version": "0.20.1+cu124",
    "comfyui_torchaudio_version": "2.5.1+cu124",
}
TWO_GPU_HOST = "rtx4090"

# The profiles the test fleet fetches; their shipped catalog entries are re-pointed at tiny files.
FLEET_PROFILES = ("wan22-i2v-a14b-q4km-lightning", "wan22-i2v-a14b-q5-lightning")


@dataclass
class FleetUnderTest:
    base: Path
    fleet: Fleet
    hub: HubServer
    manifest: Path
    host_vars: dict[str, dict[str, object]]
    extra_vars: dict[str, object] = field(default_factory=dict)

    def converge(self, *, check: bool = False, diff: bool = False, **kwargs: object) -> PlaybookResult:
        return run_playbook(self.fleet, SITE, extra_vars=self.extra_vars, check=check, diff=diff, **kwargs)

    def pin_vars_in_inventory(self) -> Path:
        """Write the run's extra vars into the inventory (`all.vars`), so that a plain
        `ansible-playbook site.yml -i INVENTORY` by hand converges the same fleet."""
        document = yaml.safe_load(self.fleet.inventory.read_text())
        document["all"].setdefault("vars", {}).update(self.extra_vars)
        tmp = self.fleet.inventory.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(document, sort_keys=False))
        tmp.replace(self.fleet.inventory)
        return self.fleet.inventory

    def models_dir(self, name: str) -> Path:
        return Path(str(self.host_vars[name]["comfyui_models_dir"]))

    def instance_dir(self, name: str, gpu: int) -> Path:
        """GPU `gpu`'s instance folder on host `name` (output/, temp/, user/, pid, log, launch file)."""
        return Path(str(self.host_vars[name]["comfyui_data_dir"])) / f"gpu{gpu}"

    def port(self, name: str, gpu: int) -> int:
        return int(self.host_vars[name]["comfyui_ports"][gpu])  # type: ignore[index]

    @property
    def report_path(self) -> Path:
        return Path(str(self.extra_vars["fleet_report_path"]))

    def stop(self) -> None:
        for variables in self.host_vars.values():  # the services the test-only supervisor started
            for pidfile in Path(str(variables["comfyui_data_dir"])).glob("*/comfyui.pid"):
                with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
                    os.killpg(int(pidfile.read_text()), signal.SIGTERM)
        self.fleet.stop()
        self.hub.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def stop_by_pidfiles(base: Path) -> None:
    """Stop a fleet that `build_fleet` started in another (finished) process, from its pid files alone:
    each host's ComfyUI service, each sshd and its sessions; then remove `base`. For fleet-demo --stop."""
    for pidfile in sorted(base.glob("fleet/hosts/*/var/lib/comfyui/*/comfyui.pid")):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
            os.killpg(int(pidfile.read_text()), signal.SIGTERM)
    for pidfile in sorted(base.glob("fleet/sshd/*/sshd.pid")):
        with contextlib.suppress(FileNotFoundError, ValueError):
            kill_sshd(int(pidfile.read_text()))
    shutil.rmtree(base, ignore_errors=True)


def tiny_models_manifest(hub_root: Path, out: Path, profiles: Iterable[str]) -> dict[str, str]:
    """Write a --manifest that overrides the profiles' catalog entries with small files served by the hub.

    Same ids, repos, paths and local names as the shipped catalog (so the rendered workflows name exactly
    these files), only size and sha256 differ. Returns local relpath -> sha256.
    """
    from wanprov.models.catalog import load_catalog

    catalog = load_catalog()
    overrides: dict[str, dict[str, object]] = {}
    digests: dict[str, str] = {}
    for profile in profiles:
        for entry in catalog.profile(profile):
            if entry.id in overrides:
                continue
            # the smallest file of its format (the ComfyUI double parses each loader's file as the real one)
            data = minimal_model_bytes(entry.path, 2048 + 97 * len(overrides), entry.id)
            target = hub_root / entry.repo / entry.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            digest = hashlib.sha256(data).hexdigest()
            overrides[entry.id] = {
                "repo": entry.repo,
                "revision": entry.revision,
                "path": entry.path,
                "folder": entry.folder,
                **({"node_pack": entry.node_pack} if entry.node_pack else {}),
                "name": entry.name,
                "size": len(data),
                "sha256": digest,
                "source": "tests/fleet: tiny stand-in served by the hub double",
            }
            digests[entry.relpath] = digest
    out.write_text(yaml.safe_dump({"schema": "wanprov.catalog/1", "files": overrides}, sort_keys=False))
    return digests


def stack_sources(dest: Path) -> tuple[SourceRepos, Path, Path]:
    """Local git repos for ComfyUI and the node packs, a node-packs manifest naming them, and a wheelhouse
    (fake torch & co. from the wheels double, plus wanprov itself and its dependencies for wanprov_cli).

    The same sources as the stack tests' fixtures (tests/stack/conftest.py), built here without pytest.
    """
    repos_root = dest / "git"
    comfyui_commit = build_comfyui_repo(repos_root / "ComfyUI", OBJECT_INFO)
    packs = {}
    for name, requirements in PACK_REQUIREMENTS.items():
        packs[name] = (
            f"file://{repos_root / name}",
            make_repo(repos_root / name, node_pack_files(name, requirements)),
        )
    repos = SourceRepos(repos_root, f"file://{repos_root / 'ComfyUI'}", comfyui_commit, packs, "")
    manifest = repos.manifest(dest / "node-packs.yaml")
    wheelhouse = build_wheelhouse(dest / "wheelhouse")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(wheelhouse), str(REPO_ROOT)],
        check=True,
    )
    return repos, manifest, wheelhouse


def stack_host_vars(repos: SourceRepos, manifest: Path, wheelhouse: Path, root: Path) -> dict[str, object]:
    """Every path under the host's own root; the stack from local sources; each instance on its own port."""
    port = _free_port()
    return {
        "wanprov_cli_venv": f"{root}/opt/wanprov/venv",
        "wanprov_cli_pip_environment": {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse)},
        "comfyui_install_dir": f"{root}/opt/comfyui/ComfyUI",
        "comfyui_venv_dir": f"{root}/opt/comfyui/venv",
        "comfyui_data_dir": f"{root}/var/lib/comfyui",
        "comfyui_models_dir": f"{root}/srv/models",
        "comfyui_systemd_unit_dir": f"{root}/etc/systemd/system",
        # The comfyui role creates the service user (the service does not run as root). The test hosts share
        # one /etc/passwd, and each host gives the user its own home: one user per host (and ansible-core).
        "comfyui_user": service_user(root.name),
        "comfyui_group": service_user(root.name),
        "comfyui_service_manager": "process",  # systemd is not PID 1 here: the role's test-only supervisor
        "comfyui_port": port,
        # Free ports for GPU 0 and 1 (comfyui_port + 1 may be another host's).
        "comfyui_ports": {0: port, 1: _free_port()},
        "comfyui_git_url": repos.comfyui_url,
        "comfyui_git_url_schemes": ["file"],  # the local repos: the documented opt-in
        "comfyui_version": repos.comfyui_commit,
        "comfyui_node_manifest": str(manifest),
        # The wheelhouse holds cu128 fakes only; the doctor's own pick (cu130 for the H100's driver 580)
        # cannot be served offline, so the test pins what it has.
        "comfyui_torch_variant": "cu128",
        # Labelled pins: this wheelhouse mixes cu128 and cu126 builds, as no real index does; a label-less
        # pin (tests/fleet/test_bare_host.py) is for an index that serves one variant.
        "comfyui_torch_version": "2.9.1+cu128",
        "comfyui_torchvision_version": "0.24.1+cu128",
        "comfyui_torchaudio_version": "2.9.1+cu128",
        "comfyui_pip_extra_args": f"--no-index --find-links {wheelhouse}",
        "comfyui_wait_delay": 1,
        "health_delay": 1,
    }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_fleet(
    hosts: Mapping[str, str] = FLEET_GPUS,
    *,
    extra_vars: Mapping[str, object] | None = None,
    sources: tuple[SourceRepos, Path, Path] | None = None,
) -> FleetUnderTest:
    """Start the hub, the stack's local sources and one sshd host per entry of `hosts` (name -> GPU spec).
    `sources`: what `stack_sources` built already (the hosts only read them); default: build them here."""
    # Not under pytest's 0700 tmp: the unprivileged service user must traverse to its install.
    base = Path(tempfile.mkdtemp(prefix="wanprov-fleet-", dir="/tmp"))
    base.chmod(0o755)
    hub = HubServer(base / "hub").start()
    try:
        manifest = base / "tiny-models.yaml"
        tiny_models_manifest(hub.root, manifest, FLEET_PROFILES)
        repos, node_manifest, wheelhouse = sources or stack_sources(base / "sources")
        specs = []
        for name, gpu_spec in hosts.items():
            env = {
                **install_fake_host(base / "gpu" / name, gpu_spec),
                **environment_for(hub),
            }
            env.pop("HF_ENDPOINT")  # given through the models role's own setting instead
            specs.append(HostSpec(name, env=env))
        fleet = Fleet.start(base / "fleet", specs)
    except BaseException:
        hub.stop()
        shutil.rmtree(base, ignore_errors=True)
        raise
    host_vars = {
        name: stack_host_vars(repos, node_manifest, wheelhouse, fleet.hosts[name].root) for name in hosts
    }
    if BAD_HOST in host_vars:
        host_vars[BAD_HOST].update(BAD_HOST_TORCH)
    _add_host_vars(fleet, host_vars)
    variables = {
        "models_manifest": str(manifest),
        "models_hf_endpoint": hub.url,
        "fleet_report_path": str(base / "reports" / "fleet-report.json"),
        **(extra_vars or {}),
    }
    return FleetUnderTest(base, fleet, hub, manifest, host_vars, variables)


def _add_host_vars(fleet: Fleet, host_vars: Mapping[str, Mapping[str, object]]) -> None:
    """Give each inventory host its own paths and port (the fleet double writes connection vars only)."""
    document = yaml.safe_load(fleet.inventory.read_text())
    for group in document["all"]["children"].values():
        for name, variables in group["hosts"].items():
            variables.update(host_vars.get(name, {}))
    tmp = fleet.inventory.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(document, sort_keys=False))
    tmp.replace(fleet.inventory)
