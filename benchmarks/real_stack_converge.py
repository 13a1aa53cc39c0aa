"""Converge the REAL stack on one bare host of this machine and print the figures: first converge and
re-run wall time, re-run `changed`, ComfyUI venv size, and what `/object_info` lists.

Real: ComfyUI at the pinned commit and the six node packs at theirs (bare git mirrors served as local git
remotes), the packages of the index this machine's pip is configured with, the torch family from a local
index laid out like the PyTorch index (the CPU wheel here lacks a CPU torchvision: see the docs), service
manager `process`, `--cpu`. Stand-in: the host is an sshd on loopback (the fleet double), whose `nvidia-smi`
is the GPU double's (an H100 without any torch); no PYTHONPATH, so nothing fake is on any interpreter's
path. The models stage is skipped (no Hugging Face).

    .venv/bin/python benchmarks/real_stack_converge.py --mirrors ~/mirrors \\
        --torch-wheel ~/wheels/torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl \\
        --wheel ~/wheels/torchvision-0.29.1-cp311-cp311-manylinux_2_28_x86_64.whl \\
        --wheel ~/wheels/torchaudio-2.11.1-py3-none-manylinux_2_28_x86_64.whl \\
        --wheel ~/wheels/triton-3.8.0-... --wheel ~/wheels/cuda_bindings-13.5.0-... \\
        --torch 2.14.1 --torchvision 0.29.1 --torchaudio 2.11.1

Steps and figures: docs/development.md, "Converge the real stack".
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT / "tests"), str(REPO_ROOT / "cli")]

from doubles.fleet import Fleet, HostSpec, RecapCounts, run_playbook  # noqa: E402
from doubles.gpu import install_fake_host  # noqa: E402
from doubles.gpu.specs import SPECS  # noqa: E402
from fleet.fleet_setup import stack_host_vars  # noqa: E402
from stack.stack_sources import SourceRepos  # noqa: E402
from wanprov.stack.manifest import load_comfyui, load_node_packs  # noqa: E402

SITE = REPO_ROOT / "site.yml"
EXPECTED_NODES = ("UnetLoaderGGUF", "TeaCache", "VHS_VideoCombine", "RIFE VFI")


def mirror_remote(mirrors: Path, url: str, commit: str, dest: Path) -> tuple[str, str, list[str]]:
    """A local bare remote for the `fetch` tool's mirror of `url` (owner+name/repo), serving `commit`.

    The mirrors leave out some large blobs (a tokenizer.json, demo media), and git refuses to pack a tree
    with a missing object. Then the remote serves a commit of the pinned tree without those files (same
    code, another sha, its message naming the pin and what is left out); else the pinned commit itself,
    served shallow (its history is not complete either). Returns (url, commit, left out)."""
    owner, name = url.removesuffix(".git").split("/")[-2:]
    source = mirrors / f"{owner}+{name}" / "repo"
    subprocess.run(["git", "init", "-q", "--bare", str(dest)], check=True)
    (dest / "objects/info/alternates").write_text(f"{source / 'objects'}\n")
    git = ["git", "--git-dir", str(dest)]
    listing = subprocess.run(
        [*git, "ls-tree", "-r", "-z", commit], capture_output=True, text=True, check=True
    )
    entries = [line.split("\t", 1) for line in listing.stdout.split("\0") if line]
    missing = [
        path
        for meta, path in entries
        if meta.split()[1] == "blob"
        and subprocess.run([*git, "cat-file", "-e", meta.split()[2]], capture_output=True).returncode != 0
    ]
    served = commit
    if missing:
        env = {**os.environ, "GIT_INDEX_FILE": str(dest / "wanprov-index")}
        subprocess.run([*git, "read-tree", commit], env=env, check=True)
        subprocess.run([*git, "rm", "-q", "--cached", "--", *missing], env=env, check=True)
        tree = subprocess.run([*git, "write-tree"], env=env, capture_output=True, text=True, check=True)
        message = f"{name} @ {commit} without {len(missing)} file(s) the mirror lacks: {', '.join(missing)}"
        made = subprocess.run(
            [*git, "-c", "user.name=wanprov", "-c", "user.email=wanprov@localhost", "commit-tree",
             tree.stdout.strip(), "-m", message],
            capture_output=True, text=True, check=True, env={**env, "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
                                                           "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"},
        )  # fmt: skip
        served = made.stdout.strip()
    else:
        # The mirrors' history is incomplete too: served shallow, the pinned commit is all a clone gets.
        (dest / "shallow").write_text(f"{commit}\n")
    subprocess.run([*git, "update-ref", "refs/heads/wanprov-pin", served], check=True)
    subprocess.run([*git, "symbolic-ref", "HEAD", "refs/heads/wanprov-pin"], check=True)
    return f"file://{dest}", served, missing


def torch_index(dest: Path, wheels: list[Path]) -> str:
    """A PEP 503 simple index of `wheels` (one project page per name), like download.pytorch.org/whl/cpu."""
    projects: dict[str, list[Path]] = {}
    for wheel in wheels:
        projects.setdefault(wheel.name.split("-")[0].replace("_", "-").lower(), []).append(wheel)
    for project, files in projects.items():
        page = dest / "simple" / project
        page.mkdir(parents=True)
        links = []
        for wheel in files:
            (page / wheel.name).symlink_to(wheel.resolve())  # GBs: the index links, copies nothing
            links.append(f'<a href="{wheel.name}">{wheel.name}</a><br/>')
        (page / "index.html").write_text(
            "<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n"
        )
    return f"file://{dest / 'simple'}"


@dataclasses.dataclass
class RealSources:
    """The real stack's sources served locally: ComfyUI and the packs from the mirrors, the torch index."""

    repos: SourceRepos
    manifest: Path  # the node pack manifest naming the served commits
    index: str  # file:// URL of the torch family's PEP 503 index


def real_sources(opts: argparse.Namespace, base: Path) -> RealSources:
    comfyui = load_comfyui()
    git_root = base / "git"
    comfyui_url, comfyui_commit, left_out = mirror_remote(
        opts.mirrors, comfyui.url, comfyui.commit, git_root / "ComfyUI.git"
    )
    print(f"ComfyUI: {comfyui_commit} (pinned {comfyui.commit}); left out: {left_out}", flush=True)
    remotes = {}
    for name, pack in load_node_packs().items():
        pack_url, pack_commit, left_out = mirror_remote(
            opts.mirrors, pack.url, pack.commit, git_root / f"{name}.git"
        )
        remotes[name] = (pack_url, pack_commit)
        print(f"{name}: {pack_commit} (pinned {pack.commit}); left out: {left_out}", flush=True)
    repos = SourceRepos(git_root, comfyui_url, comfyui_commit, remotes, "")
    manifest = repos.manifest(base / "node-packs.yaml")
    index = torch_index(base / "torch-index", [opts.torch_wheel, *opts.wheel])
    return RealSources(repos, manifest, index)


def real_stack_host(
    opts: argparse.Namespace, base: Path, extra_vars: dict[str, object], host: str = "real"
) -> tuple[Fleet, Path, dict[str, object]]:
    """One bare test host under `base` whose inventory converges the REAL stack: ComfyUI and the node packs
    served from `opts.mirrors` at their pins, the torch family from a local index of `opts.torch_wheel` and
    `opts.wheel`, `--cpu`, every optional pack, real waits; `extra_vars` on top; the host (and its service
    user, wanprov-HOST) named `host`. Returns the started fleet, the host's root and its variables. (Shared
    with benchmarks/first_video.py.)"""
    import yaml

    sources = real_sources(opts, base)
    repos, manifest, index = sources.repos, sources.manifest, sources.index

    bare = dataclasses.replace(SPECS["h100"], torch_version=None, pyav=None, modules={})
    env = install_fake_host(base / "gpu", bare)
    # the host's name names its service user too (wanprov-<name>): two benchmarks with hosts of one name
    # on one machine would share that user, and the second's usermod fails while the first's server runs
    fleet = Fleet.start(base / "fleet", [HostSpec(host, env=env)])
    root = fleet.hosts[host].root
    host_vars = stack_host_vars(repos, manifest, base / "unused-wheelhouse", root)
    for name in (
        "wanprov_cli_pip_environment",
        "comfyui_pip_extra_args",
        "comfyui_wait_delay",
        "health_delay",
    ):
        host_vars.pop(name)  # the machine's own package index, real waits
    host_vars.update(
        {
            "comfyui_torch_variant": "cpu",
            "comfyui_torch_version": opts.torch,
            "comfyui_torchvision_version": opts.torchvision,
            "comfyui_torchaudio_version": opts.torchaudio,
            "comfyui_torch_index_url": index,
            "comfyui_launch_flags": ["--cpu"],
            "comfyui_node_packs_optional": ["all"],
            "comfyui_wait_retries": 180,
            "comfyui_wait_delay": 1,
            **extra_vars,
        }
    )
    document = yaml.safe_load(fleet.inventory.read_text())
    for group in document["all"]["children"].values():
        for variables in group["hosts"].values():
            variables.update(host_vars)
    fleet.inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    return fleet, root, host_vars


class CpuMeter:
    """CPU seconds (user+sys) of this process and everything it starts (ansible, the host's sshd and what
    it runs, `wanprov up`, pip, ComfyUI): a cgroup-v1 cpuacct group this process joins, so the other
    engineers' load on a shared machine is not counted. None when the group cannot be made."""

    ROOT = Path("/sys/fs/cgroup/cpuacct")

    def __init__(self) -> None:
        self.group: Path | None = self.ROOT / f"wanprov-bench-{os.getpid()}"
        try:
            self.group.mkdir()
            (self.group / "cgroup.procs").write_text(f"{os.getpid()}\n")
        except OSError:
            self.group = None

    def seconds(self) -> float | None:
        if self.group is None:
            return None
        return int((self.group / "cpuacct.usage").read_text()) / 1e9

    def close(self) -> None:
        if self.group is None:
            return
        try:
            (self.ROOT / "cgroup.procs").write_text(f"{os.getpid()}\n")
            self.group.rmdir()  # refused while a kept host's processes are still in it
        except OSError:
            pass


def write_log(base: Path, run: str, stdout: str, stderr: str) -> None:
    """Beside the host's folder, which is removed at the end unless --keep."""
    (base.parent / f"{base.name}-{run}.log").write_text(stdout + "\n--- stderr ---\n" + stderr)


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def host_figures(root: Path, port: int, instance: str) -> dict[str, object]:
    """The venv's size, what ComfyUI lists, the torch family and OpenCV in the venv."""
    figures: dict[str, object] = {}
    venv = root / "opt/comfyui/venv"
    figures["venv_size"] = subprocess.run(
        ["du", "-sh", str(venv)], capture_output=True, text=True
    ).stdout.split()[0]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/object_info", timeout=60) as reply:
        nodes = json.load(reply)
    figures["object_info_nodes"] = len(nodes)
    figures["expected_nodes_present"] = {name: name in nodes for name in EXPECTED_NODES}
    versions = subprocess.run(
        [str(venv / "bin/python"), "-c", "import importlib.metadata as m, json; print(json.dumps({n: "
         "m.version(n) for n in ('torch', 'torchvision', 'torchaudio') }))"],
        capture_output=True, text=True,
    )  # fmt: skip
    figures["torch_family"] = json.loads(versions.stdout or "{}")
    cv = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
    )
    figures["opencv"] = [p["name"] for p in json.loads(cv.stdout or "[]") if "opencv" in p["name"]]
    figures["log"] = str(root / f"var/lib/comfyui/{instance}/comfyui.log")
    return figures


def timed(figures: dict[str, object], run: str, meter: CpuMeter, call) -> object:
    """Run `call` and record its wall and CPU seconds and the load average before and after."""
    before_load, cpu = load(), meter.seconds()
    start = time.perf_counter()
    result = call()
    figures[f"{run}_s"] = round(time.perf_counter() - start, 1)
    after = meter.seconds()
    figures[f"{run}_cpu_s"] = None if cpu is None or after is None else round(after - cpu, 1)
    figures[f"{run}_load"] = f"{before_load} -> {load()}"
    return result


def via_site(opts: argparse.Namespace, base: Path, meter: CpuMeter) -> dict[str, object]:
    small_disk = {"preflight_fail_on_findings": False} if opts.small_disk else {}
    # its own service user (benchmarks/first_video.py's host is `real` too)
    account = {"comfyui_user": "wanprov-real-site", "comfyui_group": "wanprov-real-site"}
    fleet, root, host_vars = real_stack_host(opts, base, {**account, **small_disk})
    print(f"host root {root}; inventory {fleet.inventory}", flush=True)
    figures: dict[str, object] = {"via": "site.yml --skip-tags models", **small_disk}
    try:
        args = ["--skip-tags", "models"]
        for run in ("first", "rerun"):
            result = timed(figures, run, meter, lambda: run_playbook(fleet, SITE, args=args, timeout=3600))
            write_log(base, run, result.stdout, result.stderr)
            figures[f"{run}_recap"] = dataclasses.asdict(result.recap.get("real", RecapCounts()))
            print(f"{run}: rc={result.rc} {figures[f'{run}_s']} s, CPU {figures[f'{run}_cpu_s']} s, "
                  f"load {figures[f'{run}_load']}, {figures[f'{run}_recap']}, log {base}-{run}.log",
                  flush=True)  # fmt: skip
            if result.rc != 0:
                print(result.stdout[-6000:])
                raise SystemExit(1)
        figures.update(host_figures(root, int(host_vars["comfyui_port"]), "cpu"))
        return figures
    finally:
        if not opts.keep:
            stop_instances(root)
            fleet.stop()


def via_up(opts: argparse.Namespace, base: Path, meter: CpuMeter) -> dict[str, object]:
    """`wanprov up --cpu` as root on a bare, GPU-less host: this machine, every path under `root`, the
    same sources and pins as the site.yml way. No --profile: without a GPU there is no profile to fetch,
    so the models stage is skipped, as `--skip-tags models` skips it there."""
    sources = real_sources(opts, base)
    root = base / "host"
    root.mkdir(mode=0o755)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        sys.executable, "-m", "wanprov", "up", "--cpu",
        "--comfyui-dir", f"{root}/opt/comfyui/ComfyUI", "--venv-dir", f"{root}/opt/comfyui/venv",
        "--data-dir", f"{root}/var/lib/comfyui", "--models-dir", f"{root}/srv/models",
        "--unit-dir", f"{root}/etc/systemd/system",
        "--comfyui-git-url", sources.repos.comfyui_url, "--comfyui-version", sources.repos.comfyui_commit,
        "--allow-url-scheme", "file", "--node-manifest", str(sources.manifest), "--with-optional", "all",
        "--torch-variant", "cpu", "--torch-version", opts.torch, "--torchvision-version", opts.torchvision,
        "--torchaudio-version", opts.torchaudio, "--torch-index-url", sources.index,
        "--service", "process", "--service-user", "wanprov-real-up", "--port", str(port),
        "--health-timeout", "300", "--format", "json",
    ]  # fmt: skip
    if opts.small_disk:  # no profile: an empty catalog, whose files the models stage would check itself
        catalog = base / "empty-catalog.yaml"
        catalog.write_text("schema: wanprov.catalog/1\nfiles: {}\n")
        command += ["--manifest", str(catalog)]
    print(f"host root {root}; {' '.join(command)}", flush=True)
    figures: dict[str, object] = {"via": "wanprov up --cpu", "small_disk": opts.small_disk}
    try:
        for run in ("first", "rerun"):
            proc = timed(
                figures,
                run,
                meter,
                lambda: subprocess.run(command, capture_output=True, text=True, timeout=3600),
            )
            write_log(base, run, proc.stdout, proc.stderr)
            document = json.loads(proc.stdout or "{}")
            figures[f"{run}_changed"] = document.get("changed")
            figures[f"{run}_stages"] = {s["name"]: f"{s['status']} {s['seconds']:.1f} s"
                                        for s in document.get("stages", [])}  # fmt: skip
            print(f"{run}: rc={proc.returncode} {figures[f'{run}_s']} s, CPU {figures[f'{run}_cpu_s']} s, "
                  f"load {figures[f'{run}_load']}, changed={figures[f'{run}_changed']}, "
                  f"{figures[f'{run}_stages']}, log {base}-{run}.log", flush=True)  # fmt: skip
            if proc.returncode != 0:
                print(json.dumps(document.get("error"), indent=2), proc.stderr[-6000:])
                raise SystemExit(1)
        figures.update(host_figures(root, port, "cpu"))
        return figures
    finally:
        if not opts.keep:
            stop_instances(root)


def stop_instances(root: Path) -> None:
    for launch in sorted((root / "var/lib/comfyui").glob("*/comfyui-launch.json")):  # per instance
        subprocess.run(
            [sys.executable, "-m", "wanprov.service.supervise", "stop", str(launch)],
            check=False,
        )


def add_real_stack_options(parser: argparse.ArgumentParser) -> None:
    """The real stack's sources, as real_stack_host() reads them (shared with benchmarks/first_video.py)."""
    parser.add_argument("--mirrors", type=Path, required=True, help="folder of owner+name/repo bare mirrors")
    parser.add_argument("--torch-wheel", type=Path, required=True)
    parser.add_argument("--wheel", type=Path, action="append", default=[], help="more wheels for the index")
    parser.add_argument("--torch", required=True)
    parser.add_argument("--torchvision", required=True)
    parser.add_argument("--torchaudio", required=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_real_stack_options(parser)
    parser.add_argument("--via", choices=("site", "up"), default="site",
                        help="site: site.yml, --skip-tags models; up: `wanprov up --cpu`")  # fmt: skip
    parser.add_argument("--small-disk", action="store_true",
                        help="a disk under the doctor's minimum for a Wan 2.2 profile (no models are "
                             "fetched here): site.yml reports the finding without failing "
                             "(preflight_fail_on_findings: false), `wanprov up` gets an empty model catalog "
                             "(--manifest: the models stage judges the bytes it fetches)")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="leave the host and its service running")
    opts = parser.parse_args()
    if opts.via == "up" and os.geteuid() != 0:
        raise SystemExit("--via up runs as root (it creates the service user)")

    base = Path(tempfile.mkdtemp(prefix="wanprov-real-", dir="/tmp"))
    base.chmod(0o755)
    meter = CpuMeter()
    try:
        figures = (via_up if opts.via == "up" else via_site)(opts, base, meter)
    finally:
        meter.close()
        if not opts.keep:  # the venv alone is several GB
            shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
