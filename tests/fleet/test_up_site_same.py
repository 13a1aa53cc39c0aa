"""Same result both ways: one bare host converged by `wanprov up` (as root, system units), one by site.yml
with the equivalent inventory, hold the same files - torch family pins, constraints and pip.conf, units and
launch files, verified model files and their records, workflows, extra_model_paths and the input image -
each compared by content, owner and mode once what must differ is normalised (each host's root folder,
service user and port). Then site.yml --check against the host `wanprov up` made changes nothing.

Both hosts are sshd hosts of the fleet double with the same recorded GPU (an H100) and the same sources (the
ComfyUI double's repo, the node packs, the wheelhouse, the Hub double's tiny model files). `wanprov up` runs
here as root with the up host's session environment; its inventory entry names the wanprov that ran it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from doubles.fleet import Fleet, HostSpec, PlaybookResult, run_playbook
from doubles.gpu import install_fake_host
from doubles.hub.server import HubServer, environment_for
from fleet.fleet_setup import FLEET_PROFILES, SITE, stack_host_vars, tiny_models_manifest

pytestmark = [
    pytest.mark.fleet,
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(os.geteuid() != 0, reason="root: `wanprov up` creates the service user"),
]

GPU = "h100_single"
# What both ways write and must agree on (relative to each host's root). Runtime files (pid, log, the
# database, output/temp) and the checkouts' own trees are the services', not the converge's.
COMPARED = (
    "opt/comfyui/venv/wanprov-constraints.txt",
    "opt/comfyui/venv/pip.conf",
    "etc/systemd/system",
    "var/lib/comfyui",
    "srv/models",
)
WORKFLOW = "wan22-i2v-gguf-lightning.api.json"
RUNTIME = {"comfyui.pid", "comfyui.log", "comfyui.db", "output", "temp", "__pycache__"}


@dataclass
class Hosts:
    fleet: Fleet
    hub: HubServer
    manifest: Path  # the tiny model catalog the Hub double serves
    vars: dict[str, dict[str, object]]  # host -> its inventory variables
    env: dict[str, dict[str, str]]  # host -> its session environment

    def root(self, host: str) -> Path:
        return self.fleet.hosts[host].root

    def site(self, *, check: bool = False, limit: str) -> PlaybookResult:
        extra = {"models_manifest": str(self.manifest), "models_hf_endpoint": self.hub.url,
                 "fleet_report_path": str(self.fleet.base_dir / "reports" / "fleet-report.json")}  # fmt: skip
        return run_playbook(self.fleet, SITE, extra_vars=extra, check=check, diff=check, limit=limit)


@pytest.fixture(scope="module")
def hosts(fleet_sources) -> Iterator[Hosts]:
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="wanprov-same-", dir="/tmp"))  # the service user must traverse it
    base.chmod(0o755)
    hub = HubServer(base / "hub").start()
    manifest = base / "tiny-models.yaml"
    tiny_models_manifest(hub.root, manifest, FLEET_PROFILES)
    env = {
        name: {**install_fake_host(base / "gpu" / name, GPU), **environment_for(hub)}
        for name in ("site", "up")
    }
    env["site"].pop("HF_ENDPOINT")  # site.yml gives it through models_hf_endpoint
    fleet = Fleet.start(base / "fleet", [HostSpec(name, env=dict(e)) for name, e in env.items()])
    repos, node_manifest, wheelhouse = fleet_sources
    variables = {name: stack_host_vars(repos, node_manifest, wheelhouse, fleet.hosts[name].root)
                 for name in ("site", "up")}  # fmt: skip
    # The up host's wanprov is the one that ran `wanprov up` (this interpreter's): site.yml keeps it.
    variables["up"]["wanprov_cli_venv"] = sys.prefix
    document = yaml.safe_load(fleet.inventory.read_text())
    for group in document["all"]["children"].values():
        for name, host_vars in group["hosts"].items():
            host_vars.update(variables[name])
    fleet.inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    try:
        yield Hosts(fleet, hub, manifest, variables, env)
    finally:
        for name in ("site", "up"):
            for launch in (fleet.hosts[name].root / "var/lib/comfyui").glob("*/comfyui-launch.json"):
                subprocess.run([sys.executable, "-m", "wanprov.service.supervise", "stop", str(launch)],
                               check=False, capture_output=True)  # fmt: skip
        fleet.stop()
        hub.stop()
        subprocess.run(["rm", "-rf", str(base)], check=False)


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


@pytest.fixture(scope="module")
def converged(hosts: Hosts) -> tuple[PlaybookResult, dict]:
    site = hosts.site(limit="site,localhost")
    proc = subprocess.run(up_command(hosts), capture_output=True, text=True, timeout=600,
                          env={**os.environ, **hosts.env["up"]})  # fmt: skip
    document = json.loads(proc.stdout)
    assert proc.returncode == 0, (document.get("error"), document.get("blocking"), proc.stderr[-3000:])
    return site, document


def snapshot(hosts: Hosts, host: str) -> dict[str, tuple[str, str, str]]:
    """Relative path -> (normalised content or link target, owner:group, mode) of what the converge wrote."""
    root = hosts.root(host)
    v = hosts.vars[host]
    words = {str(root): "<ROOT>", str(v["comfyui_user"]): "<SERVICE>", str(v["comfyui_port"]): "<PORT>"}

    def norm(text: str) -> str:
        for word, placeholder in words.items():
            text = text.replace(word, placeholder)
        return text

    files: dict[str, tuple[str, str, str]] = {}
    for top in COMPARED:
        start = root / top
        paths = [start] if not start.is_dir() else [start, *start.rglob("*")]
        for path in paths:
            rel = path.relative_to(root)
            if RUNTIME & set(rel.parts) or not (path.exists() or path.is_symlink()):
                continue
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                content = "-> " + norm(str(path.readlink()))
            elif stat.S_ISDIR(info.st_mode):
                content = "<dir>"
            elif path.name == "verified.json" and path.parent.name == ".wanprov":
                content = verified_records(path)
            else:
                data = path.read_bytes()
                try:
                    content = norm(data.decode())
                except UnicodeDecodeError:
                    content = f"<{len(data)} bytes> {hashlib.sha256(data).hexdigest()}"
            owner = norm(f"{_name(info.st_uid, 'user')}:{_name(info.st_gid, 'group')}")
            files[norm(str(rel))] = (content, owner, oct(stat.S_IMODE(info.st_mode)))
    return files


def verified_records(path: Path) -> str:
    """The models' verified records without what differs on every host (inode, mtime, when), by path."""
    document = json.loads(path.read_text())
    volatile = {"inode", "mtime_ns", "verified_at"}
    files = {rel: {k: v for k, v in record.items() if k not in volatile}
             for rel, record in document["files"].items()}  # fmt: skip
    return json.dumps({**document, "files": files}, sort_keys=True, indent=1)


def _name(number: int, kind: str) -> str:
    import grp
    import pwd

    try:
        return pwd.getpwuid(number).pw_name if kind == "user" else grp.getgrgid(number).gr_name
    except KeyError:
        return str(number)


def test_both_ways_converge(converged):
    site, document = converged
    assert site.rc == 0 and site.recap["site"].failed == 0, site.describe()
    assert {s["name"]: s["status"] for s in document["stages"]}["health"] == "ok", document["stages"]


def test_both_hosts_hold_the_same_files(hosts, converged):
    site, up = snapshot(hosts, "site"), snapshot(hosts, "up")
    # the parts each way must have written (a missing part would make the comparison vacuous)
    data = "var/lib/comfyui"
    for part in (*COMPARED[:2], "etc/systemd/system/comfyui-gpu0.service", f"{data}/gpu0/comfyui-launch.json",
                 f"{data}/extra_model_paths.yaml", f"{data}/input/example.png",
                 f"{data}/gpu0/user/default/workflows/{WORKFLOW}"):  # fmt: skip
        assert part in site, (part, sorted(site))
    assert any(path.endswith(".gguf") for path in site), sorted(site)
    assert any("/.wanprov/" in f"/{path}" for path in site), sorted(site)  # the verified records
    only_site = sorted(set(site) - set(up))
    only_up = sorted(set(up) - set(site))
    differ = {path: {"site": site[path], "up": up[path]} for path in sorted(set(site) & set(up))
              if site[path] != up[path]}  # fmt: skip
    assert not (only_site or only_up or differ), json.dumps(
        {"only_site": only_site, "only_up": only_up, "differ": differ}, indent=1
    )[:12000]


def test_the_same_torch_family_in_both_venvs(hosts, converged):
    names = ("torch", "torchvision", "torchaudio")
    code = f"import importlib.metadata as m; print([m.version(n) for n in {names}])"
    versions = {}
    for host in ("site", "up"):
        python = str(hosts.root(host) / "opt/comfyui/venv/bin/python")
        versions[host] = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    assert versions["site"] == versions["up"] == "['2.9.1+cu128', '0.24.1+cu128', '2.9.1+cu128']\n"


def test_site_check_on_the_host_up_made_changes_nothing(hosts, converged):
    check = hosts.site(check=True, limit="up,localhost")
    assert check.rc == 0, check.describe()
    assert check.recap["up"].changed == 0, check.describe()
