"""Claims the README and docs make about the tool, checked against it: every command takes --format json,
collection.md lists every module, and the fleet report play finds the controller's wanprov without an
activated venv (sudo drops it from PATH)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import yaml
from doc_blocks import REPO_ROOT, blocks, command_blocks, doc_files

from wanprov.commands.root import cli


def _leaves(command: click.Command, path: list[str]) -> list[tuple[str, click.Command]]:
    if not isinstance(command, click.Group):
        return [(" ".join(path), command)]
    ctx = click.Context(command)
    found = []
    for name in command.list_commands(ctx):
        found += _leaves(command.get_command(ctx, name), [*path, name])
    return found


def test_every_command_prints_json_with_format_json() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert "Every command prints one JSON document with `--format json`" in readme
    leaves = _leaves(cli, ["wanprov"])
    without = [name for name, command in leaves if "output_format" not in [p.name for p in command.params]]
    assert without == []


def test_collection_doc_lists_every_module() -> None:
    modules = sorted(p.stem for p in (REPO_ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
    table = (REPO_ROOT / "docs" / "collection.md").read_text()
    missing = [name for name in modules if f"| `wanprov.gpu.{name}` |" not in table]
    assert missing == []


def test_fleet_report_play_finds_the_wanprov_beside_ansible(tmp_path: Path) -> None:
    """`sudo .venv/bin/ansible-playbook site.yml ...` (README, one workstation): the report play runs wanprov
    with the Python of the venv ansible-playbook runs from, not a bare `wanprov` sudo's PATH does not have."""
    defaults = yaml.safe_load((REPO_ROOT / "roles/fleet_report/defaults/main.yml").read_text())
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "vars": {"fleet_report_python": defaults["fleet_report_python"]},
            "tasks": [
                {"ansible.builtin.copy": {"content": "{{ fleet_report_python }}", "dest": f"{tmp_path}/out"}}
            ],
        }
    ]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play))
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [str(bin_dir / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    python = Path((tmp_path / "out").read_text())
    assert python.parent == bin_dir
    check = subprocess.run(
        [str(python), "-m", "wanprov", "--version"], env=env, capture_output=True, check=False
    )
    assert check.returncode == 0, check.stderr


# Words that follow "wanprov" in prose, not as a command ("the wanprov venv", "a wanprov bug").
PROSE = {
    "venv",
    "maintainers",
    "bug",
    "import",
    "core",
    "is",
    "will",
    "wheel",
    "version",
    "verification",
    "to",
    "there",
    "the",
    "than",
    "shadows",
    "runs",
    "reports",
    "release",
    "on",
    "older",
    "missing",
    "itself",
    "in",
    "importable",
    "for",
    "executable",
    "command",
    "checkout",
    "and",
    "into",
    "profile",
    "reads",
    "accepts",
    "owns",
    "package",
    "asks",
    "already",
    "verified",
    "verifies",
    "says",
    "check",
}
COMMAND = re.compile(r"\bwanprov ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?")
CODE_SPAN = re.compile(r"`(wanprov [^`]+)`")


def _unknown_commands(texts: dict[str, str], *, prose: bool) -> list[str]:
    ctx = click.Context(cli)
    unknown = []
    for where, text in texts.items():
        for match in COMMAND.finditer(text):
            word, sub = match[1], match[2]
            command = cli.get_command(ctx, word)
            if command is None:
                if not (prose and word in PROSE):
                    unknown.append(f"{where}: {match[0]!r}")
            elif isinstance(command, click.Group) and sub and command.get_command(ctx, sub) is None:
                unknown.append(f"{where}: {match[0]!r}")
    return unknown


def test_every_wanprov_command_a_fix_or_message_names_exists() -> None:
    """Fix texts once said `wanprov install`, which does not exist: every `wanprov WORD` in the CLI's and
    the roles' sources is a command (or plain prose: the wanprov venv)."""
    sources = [*(REPO_ROOT / "cli").rglob("*.py"), *(REPO_ROOT / "plugins").rglob("*.py")]
    sources += [*(REPO_ROOT / "roles").rglob("*.yml")]
    texts = {str(path.relative_to(REPO_ROOT)): path.read_text() for path in sources}
    assert _unknown_commands(texts, prose=True) == []


def test_every_wanprov_command_the_docs_show_exists() -> None:
    texts = {}
    for doc in doc_files():
        spans = list(CODE_SPAN.findall(doc.read_text()))
        for block in command_blocks():
            if block.path == doc:  # the commands, less their comments
                spans += [re.sub(r"\s#.*$", "", command) for command, _code in block.commands()]
        texts[str(doc.relative_to(REPO_ROOT))] = "\n".join(spans)
    assert _unknown_commands(texts, prose=False) == []


def test_the_single_host_section_leads_with_wanprov_up() -> None:
    """README "One workstation": its prose and its first command block are `wanprov up`, before Ansible."""
    readme = REPO_ROOT / "README.md"
    text = readme.read_text()
    start = text.index("\n## One workstation\n")
    end = text.index("\n## ", start + 1)
    section = text[start:end]
    assert section.split("\n\n")[1].startswith("`wanprov up`"), section[:300]
    first_lines = text[:start].count("\n") + 1, text[:end].count("\n") + 1
    (first, *_) = [b for b in blocks(readme) if first_lines[0] < b.line < first_lines[1] and b.lang == "sh"]
    commands = [command for command, _ in first.commands()]
    assert any(" up" in c and "ansible" not in c for c in commands), commands
    assert not any("ansible-playbook" in c for c in commands), commands
