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
            shutil.copy(wheel, page / wheel.name)
            links.append(f'<a href="{wheel.name}">{wheel.name}</a><br/>')
        (page / "index.html").write_text(
            "<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n"
        )
    return f"file://{dest / 'simple'}"


def real_stack_host(
    opts: argparse.Namespace, base: Path, extra_vars: dict[str, object], host: str = "real"
) -> tuple[Fleet, Path, dict[str, object]]:
    """One bare test host under `base` whose inventory converges the REAL stack: ComfyUI and the node packs
    served from `opts.mirrors` at their pins, the torch family from a local index of `opts.torch_wheel` and
    `opts.wheel`, `--cpu`, every optional pack, real waits; `extra_vars` on top; the host (and its service
    user, wanprov-HOST) named `host`. Returns the started fleet, the host's root and its variables. (Shared
    with benchmarks/first_video.py.)"""
    import yaml

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


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mirrors", type=Path, required=True, help="folder of owner+name/repo bare mirrors")
    parser.add_argument("--torch-wheel", type=Path, required=True)
    parser.add_argument("--wheel", type=Path, action="append", default=[], help="more wheels for the index")
    parser.add_argument("--torch", required=True)
    parser.add_argument("--torchvision", required=True)
    parser.add_argument("--torchaudio", required=True)
    parser.add_argument("--keep", action="store_true", help="leave the host and its service running")
    opts = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="wanprov-real-", dir="/tmp"))
    base.chmod(0o755)
    fleet, root, host_vars = real_stack_host(opts, base, {})
    print(f"host root {root}; inventory {fleet.inventory}", flush=True)

    figures: dict[str, object] = {}
    try:
        for run in ("first", "rerun"):
            start = time.perf_counter()
            result = run_playbook(fleet, SITE, args=["--skip-tags", "models"], timeout=3600)
            figures[f"{run}_s"] = round(time.perf_counter() - start, 1)
            (base / f"{run}.log").write_text(result.stdout + "\n--- stderr ---\n" + result.stderr)
            figures[f"{run}_recap"] = dataclasses.asdict(result.recap.get("real", RecapCounts()))
            print(
                f"{run}: rc={result.rc} {figures[f'{run}_s']} s {figures[f'{run}_recap']}",
                f"log {base}/{run}.log",
            )
            if result.rc != 0:
                print(result.stdout[-6000:])
                return 1
        venv = root / "opt/comfyui/venv"
        figures["venv_size"] = subprocess.run(
            ["du", "-sh", str(venv)], capture_output=True, text=True
        ).stdout.split()[0]
        port = host_vars["comfyui_port"]
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
        figures["log"] = str(root / "var/lib/comfyui/cpu/comfyui.log")  # a --cpu host: one instance, cpu
        print(json.dumps(figures, indent=2))
        return 0
    finally:
        if not opts.keep:
            for launch in sorted((root / "var/lib/comfyui").glob("*/comfyui-launch.json")):  # per instance
                subprocess.run(
                    [sys.executable, "-m", "wanprov.service.supervise", "stop", str(launch)],
                    check=False,
                )
            fleet.stop()


if __name__ == "__main__":
    sys.exit(main())
