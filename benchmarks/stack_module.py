"""A converged stack host re-checked two ways: the comfyui role's current tasks (a git task, then the
wanprov CLI and a python script as separate commands) vs one `wanprov.gpu.stack` module call.

Both run under `ansible-playbook -c local` on the same host of doubles (a ComfyUI git repo, a node pack, fake
wheels; tests/collection/stack_host.py), converged first, so each run only decides that nothing is to do,
which is what a fleet re-run pays per host. Prints the median of each, side by side, and their ratio.

    .venv/bin/python benchmarks/stack_module.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
# The test doubles live under tests/ (not an installed package): import them the way pytest does.
sys.path[:0] = [str(REPO_ROOT / "tests"), str(REPO_ROOT)]

from collection.stack_host import StackHost, build_stack_host  # noqa: E402

BIN = Path(sys.executable).parent
RECAP = re.compile(r"^localhost\s+: ok=\d+\s+changed=(?P<changed>\d+).*failed=(?P<failed>\d+)", re.M)
VERSIONS = (  # the role's __comfyui_versions_script
    "import importlib.metadata as m, json, sys\nfound = {}\nfor name in sys.argv[1:]:\n"
    "    try:\n        found[name] = m.version(name)\n    except m.PackageNotFoundError:\n"
    "        found[name] = None\nprint(json.dumps(found))\n"
)


def role_tasks(host: StackHost) -> list[dict[str, object]]:
    """What the comfyui role runs on every converge to find a converged stack converged."""
    args = host.args
    python, comfyui = str(host.python), args["comfyui_dir"]
    constraints = f"{args['venv_dir']}/wanprov-constraints.txt"
    wanprov = str(BIN / "wanprov")
    install_nodes = [
        wanprov, "install-nodes", "--format", "json", "--comfyui-dir", comfyui, "--python", python,
        "--constraints", constraints, "--manifest", args["node_manifest"], "--dry-run",
        "--pip-arg=--no-index", f"--pip-arg=--find-links={host.wheels}",
    ]  # fmt: skip
    flags = ["--highvram", "--listen", "127.0.0.1", "--port", "8188", "--disable-auto-launch"]
    return [
        {"name": "ComfyUI checkout", "ansible.builtin.git": {
            "repo": args["comfyui_git_url"], "dest": comfyui, "version": args["comfyui_version"],
            "force": False, "update": True}},
        {"name": "Installed torch", "ansible.builtin.command": {
            "argv": [python, "-c", VERSIONS, "torch", "torchvision", "torchaudio"]}, "changed_when": False},
        {"name": "Node pack plan", "ansible.builtin.command": {"argv": install_nodes}, "register": "plan",
         "changed_when": "plan.rc == 4", "failed_when": "plan.rc not in [0, 4]"},
        {"name": "Launch flags", "ansible.builtin.command": {
            "argv": [wanprov, "stack", "flags", "--comfyui-dir", comfyui, "--python", python, "--", *flags]},
         "changed_when": False},
    ]  # fmt: skip


def module_tasks(host: StackHost) -> list[dict[str, object]]:
    return [{"name": "Stack", "wanprov.gpu.stack": host.args}]


def playbook(path: Path, tasks: list[dict[str, object]]) -> Path:
    play = {
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": sys.executable},
        "tasks": tasks,
    }
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    return path


def run(play: Path, env: dict[str, str]) -> tuple[float, dict[str, int]]:
    start = time.perf_counter()
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(play)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    recap = RECAP.search(proc.stdout)
    if proc.returncode != 0 or recap is None:
        raise SystemExit(f"{play.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return elapsed, {"changed": int(recap["changed"]), "failures": int(recap["failed"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="wanprov-stack-bench-") as tmp:
        work = Path(tmp)
        collections = work / "collections" / "ansible_collections" / "wanprov"
        collections.mkdir(parents=True)
        (collections / "gpu").symlink_to(REPO_ROOT)
        env = {
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(work / "collections"),
            "ANSIBLE_HOME": str(work / "ansible-home"),
        }
        env.pop("ANSIBLE_CONFIG", None)
        host = build_stack_host(work / "host", REPO_ROOT / "manifests" / "comfyui" / "object_info.json")
        _, stats = run(playbook(work / "converge.yml", module_tasks(host)), env)
        print(f"first converge with the module: changed={stats['changed']}", file=sys.stderr)
        plays = {
            "role tasks (git + 3 commands)": playbook(work / "role.yml", role_tasks(host)),
            "wanprov.gpu.stack (1 module)": playbook(work / "module.yml", module_tasks(host)),
        }
        times: dict[str, list[float]] = {name: [] for name in plays}
        for _ in range(runs):
            for name, play in plays.items():  # interleaved, so load on the shared machine hits both alike
                elapsed, stats = run(play, env)
                if stats["changed"] or stats["failures"]:
                    raise SystemExit(f"{name}: a converged host reported {stats}")
                times[name].append(elapsed)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"converged stack re-check, ansible-playbook -c local, median of {runs} runs:")
    for name, values in times.items():
        spread = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {name:32} {medians[name]:6.2f} s   ({spread})")
    role, module = medians.values()
    print(f"  ratio role/module: {role / module:.2f}x")


if __name__ == "__main__":
    main()
