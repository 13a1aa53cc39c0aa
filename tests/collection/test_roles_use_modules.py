"""The roles reach the core through the collection's modules (no CLI JSON parsed in Jinja, no second writer
of a core file, no core decision re-derived in YAML), and `ansible-playbook` run from this checkout finds
those modules with no build or install step (ansible.cfg's collections_path -> .collections)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# The roles on the modules (health and fleet_report are the health work's).
ROLES = ("comfyui", "preflight", "wanprov_cli", "workflows", "models")
# Modules that import the core, so they must run under the wanprov venv's Python.
CORE_MODULES = (
    "wanprov.gpu.doctor",
    "wanprov.gpu.stack",
    "wanprov.gpu.models",
    "wanprov.gpu.workflows",
    "wanprov.gpu.instances",
    "wanprov.gpu.path_state",
)
# Signs of a core decision made in YAML: building the service's flags (device, port, folders, database),
# the torch index or pins, or reading the doctor's summary for torch, flags or GPUs. The stack plan decides.
CORE_DECISIONS = re.compile(
    r"--cuda-device|'--port'|--output-directory|--database-url|download\.pytorch\.org|torch_pins\.|"
    r"CUDA_DEVICE_ORDER|usable_gpus|summary\.(launch_flags|torch|gpus)|\.launch_flags\b"
)


def _role_yaml(repo_root: Path) -> list[Path]:
    return [p for role in ROLES for p in sorted((repo_root / "roles" / role).rglob("*.yml"))]


def _tasks(node: object):
    """Every task mapping in a tasks file, blocks included."""
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in ("block", "rescue", "always"):
            yield from _tasks(node.get(key, []))


def test_no_role_reads_cli_json_or_keeps_its_own_copy_of_a_module(repo_root):
    for path in _role_yaml(repo_root):
        text = path.read_text()
        assert "from_json" not in text, f"{path}: read the module's typed result, not the CLI's stdout"
    for role in ROLES:
        assert not (repo_root / "roles" / role / "library").exists(), f"{role}: use wanprov.gpu's modules"
    templates = {p.name for p in (repo_root / "roles/comfyui/templates").glob("*.j2")}
    assert not templates & {"constraints.txt.j2", "pip.conf.j2"}, "the core is the one writer of these"


def test_the_wanprov_venv_fallback_is_written_once(repo_root):
    """/opt/wanprov/venv is the wanprov_cli role's default; everything else reads wanprov_cli_venv or the
    preflight's wanprov_python / wanprov_bin facts."""
    found = [
        str(p.relative_to(repo_root))
        for role in ("comfyui", "preflight", "wanprov_cli", "workflows", "models")
        for p in sorted((repo_root / "roles" / role).rglob("*.yml"))
        if "/opt/wanprov/venv" in p.read_text()
    ] + [str(p.relative_to(repo_root)) for p in sorted((repo_root / "playbooks").glob("*.yml"))
         if "/opt/wanprov/venv" in p.read_text()]  # fmt: skip
    assert found == ["roles/wanprov_cli/defaults/main.yml"]


def test_no_role_re_derives_a_core_decision(repo_root):
    # (preflight only exposes the doctor's summary as facts: wanprov_torch, wanprov_host)
    paths = [p for p in _role_yaml(repo_root) if "/preflight/" not in str(p)]
    for path in [*paths, repo_root / "playbooks/stack.yml"]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.lstrip().startswith("#"):
                assert not CORE_DECISIONS.search(line), f"{path}:{number}: {line.strip()} (the plan decides)"


def test_the_service_tasks_read_the_plans_instances(repo_root):
    variables = yaml.safe_load((repo_root / "roles/comfyui/vars/main.yml").read_text())
    assert variables["__comfyui_settled_instances"] == "{{ comfyui_stack.plan.instances }}"
    tasks = list(_tasks(yaml.safe_load((repo_root / "roles/comfyui/tasks/service.yml").read_text())))
    commands = [t for t in tasks if "ansible.builtin.command" in t]
    # the flags are the plan's, checked by the stack module: no second check through the CLI
    assert not [t for t in commands if "'stack', 'flags'" in str(t["ansible.builtin.command"])]


def test_no_debug_task_fakes_a_change(repo_root):
    for path in _role_yaml(repo_root):
        if "/tasks/" not in str(path):
            continue
        for task in _tasks(yaml.safe_load(path.read_text()) or []):
            if "ansible.builtin.debug" in task:
                assert "changed_when" not in task, (
                    f"{path}: {task.get('name')} reports a change it did not make"
                )


def test_core_modules_run_under_the_wanprov_venv(repo_root):
    """Each core module task names its interpreter: the wanprov venv's Python (a role setting or fact)."""
    seen = set()
    for path in _role_yaml(repo_root):
        if "/tasks/" not in str(path):
            continue
        for task in _tasks(yaml.safe_load(path.read_text()) or []):
            module = next((name for name in CORE_MODULES if name in task), None)
            if module is None:
                continue
            seen.add(module)
            interpreter = (task.get("vars") or {}).get("ansible_python_interpreter", "")
            # the wanprov venv's Python on a host; the controller's own for the models cache
            assert re.fullmatch(
                r"\{\{ (wanprov|\w+_wanprov|models_controller)_python \}\}|\{\{ __\w+_wanprov_python \}\}",
                interpreter,
            ), f"{path}: {task.get('name')} runs {module} under {interpreter!r}, not wanprov's Python"
    assert set(CORE_MODULES) <= seen


@pytest.mark.parametrize("module", ["stack", "doctor", "path_state"])
def test_ansible_cfg_resolves_this_checkouts_modules(repo_root, tmp_path, module):
    env = {**os.environ, "ANSIBLE_CONFIG": str(repo_root / "ansible.cfg"), "ANSIBLE_HOME": str(tmp_path)}
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-doc"), "--json", f"wanprov.gpu.{module}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    found = Path(yaml.safe_load(proc.stdout)[f"wanprov.gpu.{module}"]["doc"]["filename"])
    assert found.resolve() == (repo_root / "plugins" / "modules" / f"{module}.py").resolve()
    assert found.is_relative_to(repo_root / ".collections")


def test_no_playbook_reads_a_roles_internal_variables(repo_root):
    """Playbooks read what roles publish (comfyui_stack, wanprov_*), never a role's __internal values."""
    for playbook in [repo_root / "site.yml", *sorted((repo_root / "playbooks").glob("*.yml"))]:
        assert re.findall(r"\b__[a-z]+_\w+", playbook.read_text()) == [], playbook


# ---- the roles orchestrate; the modules decide (idempotence, instance names, the test-only supervisor) ----

ALL_ROLES = sorted(
    p.name for p in Path(__file__).resolve().parents[2].joinpath("roles").iterdir() if p.is_dir()
)
# A `when:` that judges idempotence by hand: a dict literal compared, or a template rendered and hashed.
HAND_MADE_IDEMPOTENCE = re.compile(r"[!=]=\s*\{|\bhash\(|lookup\(\s*['\"](ansible\.builtin\.)?template")


def _task_files(repo_root: Path, roles=ALL_ROLES) -> list[Path]:
    return [p for role in roles for part in ("tasks", "handlers")
            for p in sorted((repo_root / "roles" / role / part).glob("*.yml"))]  # fmt: skip


@pytest.mark.parametrize("role", ALL_ROLES)
def test_no_when_judges_idempotence_by_hand(repo_root, role):
    """Whether a file, folder or account must change is the module's call (check mode, diff come with it)."""
    for path in _task_files(repo_root, [role]):
        for task in _tasks(yaml.safe_load(path.read_text()) or []):
            when = task.get("when", [])
            for condition in when if isinstance(when, list) else [when]:
                assert not HAND_MADE_IDEMPOTENCE.search(str(condition)), (
                    f"{path}: {task.get('name')}: {condition}"
                )


def test_no_role_renders_the_service_files(repo_root):
    """The units, launch files, environment file and models map have one writer: the core
    (wanprov.gpu.instances, as `wanprov up`), so no role keeps a template of them."""
    assert not list((repo_root / "roles/comfyui").glob("templates/*.j2"))
    for path in _task_files(repo_root):
        assert "ansible.builtin.template" not in path.read_text(), path


def test_instance_names_come_from_the_plan(repo_root):
    """No role or playbook but the remove role derives an instance's name, unit or folder from a pattern of
    the plan's naming (gpuN, cpu, <service>-gpuN.service): the plan lists them, the core finds stale ones."""
    naming = re.compile(r"gpu\*|gpu\[0-9\]|-cpu\.service|\(gpu|\\\.service|regex_replace\([^)]*service")
    yamls = [
        p
        for role in ALL_ROLES
        if role != "remove"
        for p in sorted((repo_root / "roles" / role).rglob("*.yml"))
    ]
    for path in [*yamls, repo_root / "site.yml", *sorted((repo_root / "playbooks").glob("*.yml"))]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.lstrip().startswith("#"):
                assert not naming.search(line), f"{path}:{number}: {line.strip()}"


def test_no_playbook_reads_a_roles_facts(repo_root):
    """Playbooks set no facts from a role's variables (the role publishes its public facts itself), and only
    the comfyui role reads its comfyui_stack result: others read the documented wanprov_comfyui."""
    for playbook in [repo_root / "site.yml", *sorted((repo_root / "playbooks").glob("*.yml"))]:
        code = "\n".join(
            line for line in playbook.read_text().splitlines() if not line.lstrip().startswith("#")
        )
        assert not re.search(r"\bcomfyui_\w+", code), f"{playbook} reads the comfyui role's variables"
    for role in ALL_ROLES:
        if role != "comfyui":
            for path in sorted((repo_root / "roles" / role).rglob("*.yml")):
                assert "comfyui_stack" not in path.read_text(), f"{path}: read wanprov_comfyui"


def test_the_test_only_supervisor_is_one_module_option(repo_root):
    """The `process` supervisor is the instances module's `manager` option: no role task runs it or branches
    on it (the production tasks never see it)."""
    for path in _task_files(repo_root):
        text = path.read_text()
        assert "supervise" not in text, path
        for task in _tasks(yaml.safe_load(text) or []):
            assert "'process'" not in str(task.get("when", "")), f"{path}: {task.get('name')}"
    for path in sorted((repo_root / "roles").glob("*/vars/main.yml")):
        assert "supervise" not in path.read_text(), path
