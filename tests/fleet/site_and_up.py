"""Two bare sshd hosts with the same recorded GPU (an H100) and the same sources: `site` is converged by
site.yml (models included), `up` by `wanprov up` as root with the equivalent options. test_up_site_same.py
compares them; test_remove.py then uninstalls from `site` (tests/fleet/conftest.py builds them once)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from doubles.fleet import Fleet, HostSpec, PlaybookResult, run_playbook
from doubles.gpu import install_fake_host
from doubles.hub.server import HubServer, environment_for
from fleet.fleet_setup import FLEET_PROFILES, SITE, stack_host_vars, tiny_models_manifest
from stack.stack_sources import SourceRepos

GPU = "h100_single"
NAMES = ("site", "up")


@dataclass
class Hosts:
    fleet: Fleet
    hub: HubServer
    base: Path
    manifest: Path  # the tiny model catalog the Hub double serves
    vars: dict[str, dict[str, object]]  # host -> its inventory variables
    env: dict[str, dict[str, str]]  # host -> its session environment

    def root(self, host: str) -> Path:
        return self.fleet.hosts[host].root

    def site(self, *, check: bool = False, limit: str) -> PlaybookResult:
        extra = {"models_manifest": str(self.manifest), "models_hf_endpoint": self.hub.url,
                 "fleet_report_path": str(self.fleet.base_dir / "reports" / "fleet-report.json")}  # fmt: skip
        return run_playbook(self.fleet, SITE, extra_vars=extra, check=check, diff=check, limit=limit)

    def stop(self) -> None:
        for name in NAMES:
            for launch in (self.root(name) / "var/lib/comfyui").glob("*/comfyui-launch.json"):
                subprocess.run([sys.executable, "-m", "wanprov.service.supervise", "stop", str(launch)],
                               check=False, capture_output=True)  # fmt: skip
        self.fleet.stop()
        self.hub.stop()
        subprocess.run(["rm", "-rf", str(self.base)], check=False)


def start_hosts(sources: tuple[SourceRepos, Path, Path]) -> Hosts:
    """Start the Hub double and the two hosts, with their inventory variables written (nothing converged)."""
    base = Path(tempfile.mkdtemp(prefix="wanprov-same-", dir="/tmp"))  # the service user must traverse it
    base.chmod(0o755)
    hub = HubServer(base / "hub").start()
    manifest = base / "tiny-models.yaml"
    tiny_models_manifest(hub.root, manifest, FLEET_PROFILES)
    env = {name: {**install_fake_host(base / "gpu" / name, GPU), **environment_for(hub)} for name in NAMES}
    env["site"].pop("HF_ENDPOINT")  # site.yml gives it through models_hf_endpoint
    fleet = Fleet.start(base / "fleet", [HostSpec(name, env=dict(e)) for name, e in env.items()])
    repos, node_manifest, wheelhouse = sources
    variables = {name: stack_host_vars(repos, node_manifest, wheelhouse, fleet.hosts[name].root)
                 for name in NAMES}  # fmt: skip
    # The up host's wanprov is the one that ran `wanprov up` (this interpreter's): site.yml keeps it.
    variables["up"]["wanprov_cli_venv"] = sys.prefix
    document = yaml.safe_load(fleet.inventory.read_text())
    for group in document["all"]["children"].values():
        for name, host_vars in group["hosts"].items():
            host_vars.update(variables[name])
    fleet.inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    return Hosts(fleet, hub, base, manifest, variables, env)


def up_command(hosts: Hosts) -> list[str]:
    """`wanprov up` with the options that mirror the up host's inventory variables."""
    v = hosts.vars["up"]
    return [
        sys.executable, "-m", "wanprov", "up",
        "--comfyui-dir", str(v["comfyui_install_dir"]), "--venv-dir", str(v["comfyui_venv_dir"]),
        "--data-dir", str(v["comfyui_data_dir"]), "--models-dir", str(v["comfyui_models_dir"]),
        "--unit-dir", str(v["comfyui_systemd_unit_dir"]),
        "--service", str(v["comfyui_service_manager"]), "--service-user", str(v["comfyui_user"]),
        "--port", str(v["comfyui_port"]),
        "--comfyui-git-url", str(v["comfyui_git_url"]), "--comfyui-version", str(v["comfyui_version"]),
        "--allow-url-scheme", "file", "--node-manifest", str(v["comfyui_node_manifest"]),
        "--torch-variant", str(v["comfyui_torch_variant"]),
        "--torch-version", str(v["comfyui_torch_version"]),
        "--torchvision-version", str(v["comfyui_torchvision_version"]),
        "--torchaudio-version", str(v["comfyui_torchaudio_version"]),
        "--pip-extra-args", str(v["comfyui_pip_extra_args"]),
        "--manifest", str(hosts.manifest), "--health-timeout", "120", "--smoke-timeout", "120",
        "--format", "json",
    ]  # fmt: skip


def run_up(hosts: Hosts) -> subprocess.CompletedProcess[str]:
    """`wanprov up` on the up host, as root, with its session environment."""
    return subprocess.run(up_command(hosts), capture_output=True, text=True, timeout=600,
                          env={**os.environ, **hosts.env["up"]})  # fmt: skip
