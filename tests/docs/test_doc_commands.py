"""Every command block of the user docs runs as written in a fresh copy of the checkout (the GPU double of
a machine without a GPU, no internet), or is marked as needing a GPU host, the internet, or a named slower
test (doc_blocks.py says how). Its exit codes and the lines the doc shows are checked."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from doc_blocks import REPO_ROOT, Block, blocks, command_blocks, doc_files, fresh_clone

from doubles.gpu import install_fake_host

BLOCKS = command_blocks()
RUN = [block for block in BLOCKS if block.marker is None]
# Commands that install into a venv, the system or start long-lived services: a doc block holding one must be
# marked (covered-by the test that runs it), never run by this test.
RISKY = re.compile(
    r"pip install|pip download|-m venv|apt-get|\.ci/run|fleet-demo|ansible-playbook|sudo |systemctl|rm -rf"
)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh clone of this working tree (its tracked and new files, committed), the checkout's venv as its
    .venv, a HOME of its own and the GPU double of a machine without an NVIDIA GPU."""
    base = tmp_path_factory.mktemp("docs")
    clone = fresh_clone(base / "wanprov")
    if not (clone / ".venv").exists():  # a .venv link of the checkout itself was copied as it is
        (clone / ".venv").symlink_to(REPO_ROOT / ".venv")
    home = base / "home"
    home.mkdir()
    gpu_env = install_fake_host(base / "gpu", "no_gpu")
    env = {**os.environ, **gpu_env, "HOME": str(home), "TMPDIR": str(base / "tmp")}
    (base / "tmp").mkdir()
    env["PATH"] = f"{clone / '.venv' / 'bin'}{os.pathsep}{gpu_env.get('PATH', os.environ['PATH'])}"
    for name in ("VIRTUAL_ENV", "ANSIBLE_CONFIG", "HF_TOKEN", "HF_ENDPOINT"):
        env.pop(name, None)
    yield clone, env
    shutil.rmtree(base, ignore_errors=True)


def script(block: Block) -> str:
    lines = ["set -u"]
    for command, expected in block.commands():
        shown = shlex.quote(command)
        lines += [
            command,
            f'__rc=$?; [ "$__rc" = {expected} ] || '
            f'{{ printf "docs-test: exit %s, expected {expected}: %s\\n" "$__rc" {shown} >&2; exit 97; }}',
        ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("block", RUN, ids=[block.where for block in RUN])
def test_command_block_runs_as_documented(block: Block, sandbox: tuple[Path, dict[str, str]]) -> None:
    clone, env = sandbox
    # The copy shares the checkout's venv and this machine: what would change them is never run here.
    risky = RISKY.search(block.body)
    assert risky is None, f"{block.where}: {risky.group(0)!r} changes this machine: mark the block"
    # its own session: on a timeout every process the block started is ended, not left running
    with subprocess.Popen(
        ["bash", "-c", script(block)], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    ) as proc:  # fmt: skip
        try:
            stdout, stderr = proc.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            pytest.fail(f"{block.where}: still running after 180 s (mark it)\n{stdout}{stderr}")
    output = stdout + stderr
    assert proc.returncode == 0, f"{block.where}:\n{block.body}\n--- output ---\n{output[-4000:]}"
    for line in (block.shown or "").splitlines():
        for part in filter(None, (part.strip() for part in line.split("..."))):  # `...`: any text
            assert part in output, f"{block.where}: the doc shows {line!r}; it printed:\n{output[-4000:]}"


def test_the_clone_is_intact_after_every_block(sandbox: tuple[Path, dict[str, str]]) -> None:
    """Run last in this module: no documented command changed a tracked file or left a build artifact."""
    clone, _env = sandbox
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=clone, capture_output=True, text=True
    ).stdout
    assert status == ""
    assert list(clone.glob("*.tar.gz")) == []


@pytest.mark.parametrize("block", BLOCKS, ids=[block.where for block in BLOCKS])
def test_marked_blocks_say_why(block: Block) -> None:
    if block.marker == "covered-by":
        assert block.marker_arg, f"{block.where}: covered-by names the test or script that runs it"
        assert (REPO_ROOT / block.marker_arg).exists(), f"{block.where}: {block.marker_arg} does not exist"
    assert block.commands(), f"{block.where}: a command block without a command"


def test_every_fence_has_a_language() -> None:
    """A command in an unlabelled block would escape the checks above: synopses and output are `text`."""
    unlabelled = [block.where for path in doc_files() for block in blocks(path) if not block.lang]
    assert unlabelled == []
