"""The Ansible modules and the use-case commands are adapters: they import from the wanprov core only its
use-case entry points (typed request, entry function) and the presentation helpers, never the steps a use
case orders (git, pip, node packs, fetch plans, renders), and a module's code stays small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

# core module -> the names an adapter may import from it
ENTRY_POINTS: dict[str, set[str]] = {
    "wanprov.stack.converge": {"converge", "ConvergeRequest", "CheckoutRequest", "NodesRequest"},
    "wanprov.stack.host_plan": {"StackRequest", "TorchRequest", "Instance"},
    "wanprov.models.profile": {"fetch_profile", "FetchProfileRequest"},
    "wanprov.workflows.install": {"install_workflows", "InstallWorkflowsRequest", "RenderRequest"},
    "wanprov.workflows.params": {"parse_set"},  # KEY=VALUE parameters, as the CLI's --set
    "wanprov.health.instance": {"check_instance", "HealthRequest", "SmokeRequest"},
    "wanprov.stack.service_wait": {"watch_for"},
    "wanprov.doctor": {"evaluate"},
    "wanprov.facts": {"collect", "ProbeOptions", "snapshot"},
    "wanprov.up": {"run_up", "UpRequest"},
    "wanprov.service.install": {"ServiceRequest", "InstancesRequest", "converge_instances", "stop_instances"},
    "wanprov.service.units": {"ServiceSettings", "MODEL_FOLDERS"},
    "wanprov.service.paths": {"PathsRequest", "converge_paths", "folders_of"},
    "wanprov.errors": {"WanprovError", "UsageError"},
}
# What a command may import besides: its own presentation (output, progress views, exit codes).
PRESENTATION = {
    "wanprov.commands.output": None,
    "wanprov.commands.stack_options": None,
    "wanprov.models.progress": {"terminal_progress"},
    "wanprov.exit_codes": None,
}
# The commands that run a use case: file -> the functions that do.
USE_CASE_COMMANDS = {
    "cli/wanprov/commands/stack.py": ["converge_command"],
    "cli/wanprov/commands/fetch_models.py": ["fetch_models"],
    "cli/wanprov/commands/workflow.py": ["install_cmd"],
    "cli/wanprov/commands/up.py": ["up"],
}
CORE_MODULES = ["doctor", "health", "instances", "models", "path_state", "stack", "workflows"]
MAX_MODULE_CODE_LINES = 80  # outside DOCUMENTATION, EXAMPLES and RETURN


def wanprov_imports(tree: ast.AST) -> list[tuple[str, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("wanprov"):
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "*") for alias in node.names if alias.name.startswith("wanprov")]
    return found


def not_allowed(imports: list[tuple[str, str]], allowed: dict[str, set[str] | None]) -> list[str]:
    return [
        f"{module}.{name}"
        for module, name in imports
        if module not in allowed or (allowed[module] is not None and name not in allowed[module])
    ]


@pytest.mark.parametrize("name", CORE_MODULES)
def test_modules_import_only_entry_points(repo_root: Path, name: str):
    tree = ast.parse((repo_root / "plugins" / "modules" / f"{name}.py").read_text())
    assert not_allowed(wanprov_imports(tree), ENTRY_POINTS) == []


@pytest.mark.parametrize(("path", "functions"), USE_CASE_COMMANDS.items())
def test_use_case_commands_import_only_entry_points(repo_root: Path, path: str, functions: list[str]):
    tree = ast.parse((repo_root / path).read_text())
    bodies = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name in functions]
    assert [body.name for body in bodies] == functions
    allowed = {**ENTRY_POINTS, **PRESENTATION}
    assert [bad for body in bodies for bad in not_allowed(wanprov_imports(body), allowed)] == []


@pytest.mark.parametrize("name", [*CORE_MODULES, "swarm"])
def test_modules_are_small(repo_root: Path, name: str):
    source = (repo_root / "plugins" / "modules" / f"{name}.py").read_text()
    documentation: set[int] = set()
    for node in ast.parse(source).body:
        targets = [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)]
        if set(targets) & {"DOCUMENTATION", "EXAMPLES", "RETURN"}:
            documentation |= set(range(node.lineno, node.end_lineno + 1))
    code = [
        line
        for number, line in enumerate(source.splitlines(), 1)
        if number not in documentation and line.strip() and not line.strip().startswith("#")
    ]
    assert len(code) <= MAX_MODULE_CODE_LINES


@pytest.mark.parametrize("name", CORE_MODULES)
def test_modules_document_check_and_diff_mode_as_attributes(repo_root: Path, name: str):
    import yaml

    source = (repo_root / "plugins" / "modules" / f"{name}.py").read_text()
    assigned = [n for n in ast.parse(source).body if isinstance(n, ast.Assign)]
    node = next(n for n in assigned if getattr(n.targets[0], "id", None) == "DOCUMENTATION")
    documentation = yaml.safe_load(node.value.value)
    assert "wanprov.gpu.attributes" in documentation["extends_documentation_fragment"]
    for attribute in ("check_mode", "diff_mode"):
        assert documentation["attributes"][attribute]["support"] in {"full", "partial", "none"}
