"""The user docs and the CLI speak to users: every relative link resolves (anchors included), and neither
names anything of how this project is built (its bookkeeping, its builders' tools, folders only its build
machines have)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from doc_blocks import REPO_ROOT, doc_files

from wanprov.commands.root import cli
from workflows.workflow_cli import run_wanprov

# (pattern, why it is not the user's) - case-insensitive
NOT_THE_USERS = [
    (
        r"\bthe seed\b|\bseed('s)? (guide|checklist|setup|section|advice|trick)|\bseed guide",
        "'the seed': a tuning guide users never saw",
    ),
    (r"design card", "a build document"),
    (r"(?<![\w&])#\d+\b", "a ticket number"),
    (r"\bissue \d+\b|\bticket\b", "a ticket"),
    (r"\bround \d+\b|\brounds?\b [0-9]|\bround [a-z]+'s\b", "a development round"),
    (
        r"\.\./shared|shared/reference|shared/seed|shared/fixtures|/work/\.mirror|/work/shared|/opt/pypi",
        "a folder only the build machines have",
    ),
    (r"\bclaude\b|\bcodex\b|\bcopilot\b|the `?fetch`? tool|\bbuilder tool", "a tool the builders use"),
]
PATTERNS = [(re.compile(pattern, re.I), why) for pattern, why in NOT_THE_USERS]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\((?P<target>[^)\s]+)\)")


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower-case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for match in LINK.finditer(doc.read_text()):
        target = match["target"]
        if re.match(r"[a-z]+:", target):  # http(s), mailto: not checked offline
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (doc.parent / file_part).resolve() if file_part else doc
        if not resolved.exists() or REPO_ROOT not in (resolved, *resolved.parents):
            broken.append(f"{target}: no such file in the checkout")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.name}")
    assert broken == [], f"{doc.relative_to(REPO_ROOT)}: {broken}"


def _offences(text: str) -> list[str]:
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for pattern, why in PATTERNS:
            if match := pattern.search(line):
                found.append(f"line {number}: {match.group(0)!r} ({why}): {line.strip()[:120]}")
    return found


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_docs_name_nothing_of_how_the_project_is_built(doc: Path) -> None:
    assert _offences(doc.read_text()) == []


def _help_texts(command: click.Command, path: list[str]) -> list[tuple[str, str]]:
    ctx = click.Context(command, info_name=" ".join(path))
    found = [(" ".join(path), command.get_help(ctx))]
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            found += _help_texts(command.get_command(ctx, name), [*path, name])
    return found


def test_cli_help_names_nothing_of_how_the_project_is_built() -> None:
    offences = {name: _offences(text) for name, text in _help_texts(cli, ["wanprov"])}
    assert {name: found for name, found in offences.items() if found} == {}


def test_cli_output_names_nothing_of_how_the_project_is_built(tmp_path: Path) -> None:
    """The outputs that once said "the seed": models list, workflow check's checklist."""
    listed = run_wanprov("models", "list").stdout
    rendered = tmp_path / "wan.json"
    render = ("workflow", "render", "wan22-i2v-gguf-lightning", "--tier", "medium", "-o", str(rendered))
    assert run_wanprov(*render).returncode == 0
    checked = run_wanprov("workflow", "check", str(rendered))
    assert "checklist" in checked.stdout
    assert _offences(listed) == [] and _offences(checked.stdout + checked.stderr) == []
