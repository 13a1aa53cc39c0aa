"""Same result both ways: one bare host converged by `wanprov up` (as root, system units), one by site.yml
with the equivalent inventory, hold the same files - torch family pins, constraints and pip.conf, units and
launch files, verified model files and their records, workflows, extra_model_paths and the input image -
each compared by content, owner and mode once what must differ is normalised (each host's root folder,
service user and port). Then site.yml --check against the host `wanprov up` made changes nothing.

Both hosts are sshd hosts of the fleet double with the same recorded GPU (an H100) and the same sources (the
ComfyUI double's repo, the node packs, the wheelhouse, the Hub double's tiny model files). `wanprov up` runs
here as root with the up host's session environment; its inventory entry names the wanprov that ran it
(tests/fleet/site_and_up.py). The hosts outlive this module: test_remove.py uninstalls from the site host
after its tests, on the same worker (tests/parallel.py, tests/fleet/conftest.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from doubles.fleet import PlaybookResult
from fleet.site_and_up import Hosts

pytestmark = [
    pytest.mark.fleet,
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(os.geteuid() != 0, reason="root: `wanprov up` creates the service user"),
]

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


@pytest.fixture(scope="module")
def hosts(site_and_up: Hosts) -> Hosts:
    """The two hosts (tests/fleet/site_and_up.py), built once per session: test_remove.py uninstalls from
    the site host after this module's tests."""
    return site_and_up


@pytest.fixture(scope="module")
def converged(site_and_up_converged: tuple[PlaybookResult, dict]) -> tuple[PlaybookResult, dict]:
    return site_and_up_converged


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
