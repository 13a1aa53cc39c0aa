"""The command blocks of the user docs, and how the docs test treats each one (docs/development.md,
"Docs are tested").

A fenced block labelled `sh` (or `bash`, `console`, `shell`) is a command block. The HTML comment on the
line just above its fence says how the docs test treats it; without one, the test runs it:

    <!-- docs-test: gpu-host -->       needs a real NVIDIA GPU host (or what only one has): not run here
    <!-- docs-test: internet -->       needs the internet (Hugging Face, GitHub, PyPI): not run here
    <!-- docs-test: covered-by PATH --> too slow for the docs test; PATH (a test file or script) runs it

A run block is one bash script in a fresh copy of the checkout: each command must exit 0, or the number
its comment gives (`# ... exit 1`). A `text` block right after it is what the doc shows it printing: each
part of each of its lines must be in the output (`...` stands for any text between parts).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMAND_LANGS = {"sh", "bash", "console", "shell"}
MARKER = re.compile(r"^<!--\s*docs-test:\s*(?P<kind>gpu-host|internet|covered-by)\s*(?P<arg>\S*)\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)\s*$")
EXIT_COMMENT = re.compile(r"#.*\bexit (?P<code>\d+)\b")


def doc_files() -> list[Path]:
    """Every user doc: the README, docs/, the roles' READMEs, the contributor guide."""
    files = [REPO_ROOT / "README.md", REPO_ROOT / "CONTRIBUTING.md"]
    files += sorted((REPO_ROOT / "docs").glob("*.md")) + sorted((REPO_ROOT / "roles").glob("*/README.md"))
    return [path for path in files if path.exists()]


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    end: int  # of the closing fence, 1-based
    lang: str
    body: str
    marker: str | None  # gpu-host | internet | covered-by
    marker_arg: str
    shown: str | None  # the text block right after it: what the doc shows it printing

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO_ROOT)}:{self.line}"

    def commands(self) -> list[tuple[str, int]]:
        """(command, expected exit code) per command; continuation lines joined, comment lines left out."""
        joined: list[str] = []
        pending = ""
        for raw in self.body.splitlines():
            line = pending + raw.strip() if pending else raw.rstrip()
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            pending = ""
            if line.strip() and not line.lstrip().startswith("#"):
                joined.append(line)
        result = []
        for command in joined:
            match = EXIT_COMMENT.search(command)
            result.append((command, int(match["code"]) if match else 0))
        return result


def blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        lang = fence["lang"]
        body = "\n".join(lines[index + 1 : end])
        marker = MARKER.match(lines[index - 1].strip()) if index > 0 else None
        found.append(
            Block(
                path=path,
                line=index + 1,
                end=end + 1,
                lang=lang,
                body=body,
                marker=marker["kind"] if marker else None,
                marker_arg=marker["arg"] if marker else "",
                shown=None,
            )
        )
        index = end + 1
    # a text block right after a command block (blank lines between) is what the command prints
    with_shown = []
    for position, block in enumerate(found):
        following = found[position + 1] if position + 1 < len(found) else None
        shown = None
        if block.lang in COMMAND_LANGS and following is not None and following.lang == "text":
            between = lines[block.end : following.line - 1]
            if not any(line.strip() for line in between):
                shown = following.body
        with_shown.append(Block(**{**block.__dict__, "shown": shown}))
    return with_shown


def command_blocks() -> list[Block]:
    return [block for path in doc_files() for block in blocks(path) if block.lang in COMMAND_LANGS]


def fresh_clone(dest: Path) -> Path:
    """A fresh clone of this working tree at `dest`: its tracked and new (not ignored) files, committed, so
    `git status` there shows what a documented command changed."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(source.readlink())
        else:
            shutil.copy2(source, target)
    git = ["git", "-c", "user.name=docs", "-c", "user.email=docs@test", "-c", "commit.gpgsign=false"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "clone"]):
        subprocess.run([*git, *args], cwd=dest, check=True, capture_output=True)
    return dest
