"""The collection builds into an artifact that `ansible-galaxy collection install` accepts, offline, and
`ansible-doc` shows every module of it with its options, examples and return values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

BIN = Path(sys.executable).parent


def _run(tool: str, *args: str, cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(
        [str(BIN / tool), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode == 0, f"{tool} {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> dict[str, object]:
    """Build from the repository, install the artifact into a temp collections path (no network)."""
    work = tmp_path_factory.mktemp("galaxy")
    env = {**os.environ, "ANSIBLE_HOME": str(work / "home"), "ANSIBLE_COLLECTIONS_PATH": str(work / "coll")}
    env.pop("ANSIBLE_CONFIG", None)
    _run("ansible-galaxy", "collection", "build", "--output-path", str(work / "dist"), cwd=repo_root, env=env)
    galaxy = yaml.safe_load((repo_root / "galaxy.yml").read_text())
    artifact = work / "dist" / f"{galaxy['namespace']}-{galaxy['name']}-{galaxy['version']}.tar.gz"
    _run(
        "ansible-galaxy", "collection", "install", "--offline", "-p", str(work / "coll"), str(artifact),
        cwd=work, env=env,
    )  # fmt: skip
    return {"work": work, "env": env, "artifact": artifact, "fqcn": f"{galaxy['namespace']}.{galaxy['name']}"}


def module_names(repo_root: Path) -> list[str]:
    return sorted(p.stem for p in (repo_root / "plugins" / "modules").glob("*.py") if p.stem != "__init__")


def test_artifact_holds_the_collection_and_nothing_private(installed, repo_root):
    with tarfile.open(installed["artifact"]) as archive:
        names = archive.getnames()
    assert "MANIFEST.json" in names and "meta/runtime.yml" in names
    for module in module_names(repo_root):
        assert f"plugins/modules/{module}.py" in names
    assert "roles/comfyui/defaults/main.yml" in names
    private = {".venv", ".git", "tests", "benchmarks", "cli"}  # the core ships as the wanprov Python package
    # ... nor a checkout's dot folders (CI's second venv, the sanity cache)
    leaked = [n for n in names if n.split("/")[0] in private or n.startswith(".") or "__pycache__" in n]
    assert leaked == []
    target = installed["work"] / "coll" / "ansible_collections" / "wanprov" / "gpu"
    assert json.loads((target / "MANIFEST.json").read_text())["collection_info"]["name"] == "gpu"


def test_ansible_doc_lists_and_documents_every_module(installed, repo_root):
    fqcn, env, work = installed["fqcn"], installed["env"], installed["work"]
    listed = json.loads(_run("ansible-doc", "-t", "module", "-l", "-j", fqcn, cwd=work, env=env))
    expected = [f"{fqcn}.{name}" for name in module_names(repo_root)]
    assert sorted(listed) == expected
    docs = json.loads(_run("ansible-doc", "-t", "module", "-j", *expected, cwd=work, env=env))
    for name in expected:
        entry = docs[name]
        assert entry["doc"]["short_description"], name
        assert entry["doc"]["options"], name
        assert entry["examples"].strip(), name
        assert entry["return"], name


@pytest.mark.slow  # one ansible-playbook run (a few seconds)
def test_installed_modules_run_under_ansible_playbook(installed, tmp_path):
    """Through Ansible itself (AnsiballZ packs the module_utils): check mode with --diff writes nothing and
    shows the plan; under an interpreter without wanprov the module names the fix."""
    playbook = tmp_path / "play.yml"
    torch = {"variant": "cu128", "torch": "2.9.1", "torchvision": "0.24.1", "torchaudio": "2.9.1"}
    summary = {
        "torch": {**torch, "index_url": "https://download.pytorch.org/whl/cu128"},
        "launch_flags": [],
        "usable_gpus": [0],
    }
    stack = {
        "comfyui_dir": str(tmp_path / "ComfyUI"),
        "venv_dir": str(tmp_path / "venv"),
        "data_dir": str(tmp_path / "data"),
        "summary": summary,
        "install_torch": False,
        "nodes": False,
    }
    bare_python = str(Path(sys.base_prefix) / "bin" / "python3")  # the venv's base: no wanprov there
    tasks = [
        {"name": "Plan the stack", "wanprov.gpu.stack": stack, "register": "stack"},
        {
            "name": "Pins",
            "ansible.builtin.assert": {
                "that": [
                    "stack.plan.torch_pins.torch == '2.9.1'",
                    "stack.plan.instances | map(attribute='service') | list == ['comfyui-gpu0']",
                ]
            },
        },
        {
            "name": "Probe",
            "wanprov.gpu.path_state": {"user": "root", "group": "root", "paths": [str(tmp_path)]},
        },
        {
            "name": "Without wanprov",
            "wanprov.gpu.doctor": {"facts": "/nonexistent"},
            "vars": {"ansible_python_interpreter": bare_python},
            "ignore_errors": True,
        },
    ]
    play = {
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": sys.executable},
        "tasks": tasks,
    }
    playbook.write_text(yaml.safe_dump([play], sort_keys=False))
    (tmp_path / "venv").mkdir()
    out = _run(
        "ansible-playbook", "-i", "localhost,", "-c", "local", "--check", "--diff", str(playbook),
        cwd=tmp_path, env=installed["env"],
    )  # fmt: skip
    assert "+torch==2.9.1\n" in out
    assert "ok=4    changed=1    unreachable=0    failed=0" in out
    assert "set ansible_python_interpreter to the wanprov venv's Python" in out
    assert list((tmp_path / "venv").iterdir()) == []
