"""docs/exit-codes.md and the code agree both ways, and every documented code is reached through the real
command line by some input (the cheapest one that honestly produces it)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_cli import invoke

from doubles.hub import Fault, HubServer, write_file
from wanprov.commands import root
from wanprov.exit_codes import ExitCode


def documented_table(repo_root: Path) -> dict[int, str]:
    text = (repo_root / "docs" / "exit-codes.md").read_text()
    return {int(code): name for code, name in re.findall(r"^\|\s*(\d+)\s*\|\s*([A-Z_]+)\s*\|", text, re.M)}


def test_docs_table_and_exit_codes_agree_both_ways(repo_root):
    assert documented_table(repo_root) == {int(code): code.name for code in ExitCode}


def test_the_help_text_lists_the_same_codes():
    listed = dict(re.findall(r"(\d+) ([a-z][a-z ]*?)[,( ]", " ".join((root.cli.help or "").split())))
    assert {int(code) for code in listed} == {int(code) for code in ExitCode}


# ---- every code, reached -----------------------------------------------------------------------------

REPO = "contract-org/files"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HubServer, Path]]:
    root_dir = tmp_path_factory.mktemp("hub")
    server = HubServer(root_dir).start()
    try:
        yield server, root_dir
    finally:
        server.stop()


@pytest.fixture
def hub_env(monkeypatch: pytest.MonkeyPatch, hub: tuple[HubServer, Path]) -> HubServer:
    server, _ = hub
    server.faults.clear()
    server.requests.clear()
    for name in ("HF_TOKEN", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("WANPROV_RETRIES", "0")
    monkeypatch.setenv("WANPROV_BACKOFF_BASE", "0.001")
    monkeypatch.setenv("HF_HOME", str(hub[1] / "hf-home"))
    return server


def one_file_manifest(
    tmp_path: Path, hub_root: Path, name: str, *, size: int | None = None, repo=REPO
) -> Path:
    """A manifest whose one entry is `name` (created on the hub unless its name says missing)."""
    data = b"" if "missing" in name else write_file(hub_root, repo, name, 64)
    manifest = tmp_path / f"{name}.yaml"
    manifest.write_text(
        "files:\n"
        "  f:\n"
        f"    repo: {repo}\n"
        "    revision: main\n"
        f"    path: {name}\n"
        "    folder: vae\n"
        f"    size: {size if size is not None else len(data)}\n"
        f"    sha256: {hashlib.sha256(data).hexdigest()}\n"
        "profiles:\n"
        "  p:\n"
        "    files: {vae: f}\n"
    )
    return manifest


def fetch(tmp_path: Path, manifest: Path, *extra: str):
    return invoke(
        "fetch-models", "--manifest", str(manifest), "--profile", "p",
        "--models-dir", str(tmp_path / "models"), "--format", "json", *extra,
    )  # fmt: skip


def test_0_ok():
    assert invoke("workflow", "list", "--format", "json").code == ExitCode.OK


def test_1_check_failed(tmp_path):
    cycle = '{"1": {"class_type": "VAEDecode", "inputs": {"samples": ["2", 0], "vae": ["2", 0]}},' + (
        ' "2": {"class_type": "VAEDecode", "inputs": {"samples": ["1", 0], "vae": ["1", 0]}}}'
    )
    (tmp_path / "w.json").write_text(cycle)
    assert invoke("workflow", "check", str(tmp_path / "w.json")).code == ExitCode.CHECK_FAILED


def test_2_usage():
    result = invoke("workflow", "render", "flux1-schnell", "--set", "shift=nan", "--format", "json")
    assert result.code == ExitCode.USAGE  # --format is not an option of render: a usage error, as JSON
    assert result.json()["exit_code"] == ExitCode.USAGE


def test_3_could_not_run(tmp_path):
    result = invoke("workflow", "render", "flux1-schnell", "-o", str(tmp_path / "missing" / "w.json"))
    assert result.code == ExitCode.COULD_NOT_RUN and "does not exist" in result.err


def test_4_pending(tmp_path):
    result = invoke(
        "workflow", "install", "--dest", str(tmp_path / "wf"), "--template", "flux1-schnell", "--dry-run"
    )
    assert result.code == ExitCode.PENDING


def test_5_network(tmp_path, hub, hub_env):
    manifest = one_file_manifest(tmp_path, hub[1], "down.bin")
    hub_env.faults[f"{REPO}/down.bin"] = Fault(statuses=[503] * 10)
    assert fetch(tmp_path, manifest).code == ExitCode.NETWORK


def test_6_integrity(tmp_path, hub, hub_env):
    manifest = one_file_manifest(tmp_path, hub[1], "corrupt.bin")
    hub_env.faults[f"{REPO}/corrupt.bin"] = Fault(corrupt=True)
    assert fetch(tmp_path, manifest).code == ExitCode.INTEGRITY


def test_7_auth(tmp_path, hub, hub_env):
    manifest = one_file_manifest(tmp_path, hub[1], "gated.bin", repo="gated-org/files")
    hub_env.tokens["gated-org/files"] = "hf_theRightToken"
    try:
        assert fetch(tmp_path, manifest).code == ExitCode.AUTH
    finally:
        hub_env.tokens.clear()


def test_8_not_found(tmp_path):
    result = invoke(
        "fetch-models", "--profile", "no-such-profile", "--models-dir", str(tmp_path), "--dry-run"
    )
    assert result.code == ExitCode.NOT_FOUND


def test_9_no_space(tmp_path, hub, hub_env):
    manifest = one_file_manifest(tmp_path, hub[1], "huge.bin", size=1 << 60)
    assert fetch(tmp_path, manifest).code == ExitCode.NO_SPACE  # the preflight: before any byte moves


def test_10_bad_manifest(tmp_path):
    (tmp_path / "m.yaml").write_text("files: [unclosed")
    result = invoke(
        "fetch-models", "--manifest", str(tmp_path / "m.yaml"), "--profile", "p", "--models-dir", "x"
    )
    assert result.code == ExitCode.BAD_MANIFEST


def test_130_interrupted(monkeypatch):
    import wanprov.workflows.render as render

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "list_templates", interrupted)
    assert invoke("workflow", "list").code == ExitCode.INTERRUPTED
    result = invoke("workflow", "list", "--format", "json")
    assert result.code == ExitCode.INTERRUPTED and result.json()["error"] == "interrupted"


def test_every_code_has_a_reaching_test(repo_root):
    """Each code is reached here (a test_<code>_... function), or asserted by a test elsewhere in tests/
    (`ExitCode.NAME`, or a returncode/code/exit_code compared with the number)."""
    names = {name for name in globals() if name.startswith("test_")}
    sources = "\n".join(
        path.read_text()
        for path in (repo_root / "tests").rglob("test_*.py")
        if path.name != Path(__file__).name
    )
    for code in ExitCode:
        here = any(name.startswith(f"test_{int(code)}_") for name in names)
        elsewhere = f"ExitCode.{code.name}" in sources or re.search(
            rf"\b(returncode|code|exit_code|rc)\s*==\s*{int(code)}\b", sources
        )
        assert here or elsewhere, f"no test reaches exit code {int(code)} ({code.name})"


def test_9_disk_full_while_writing(tmp_path, hub, hub_env, monkeypatch):
    """ENOSPC in the middle of a body is exit 9 at once, not retried into a 'network' failure."""
    import errno

    from wanprov.models import partfile

    def full(self, chunk, *_):
        raise OSError(errno.ENOSPC, "No space left on device")

    manifest = one_file_manifest(tmp_path, hub[1], "full.bin")
    monkeypatch.setattr(partfile.PartWriter, "write", full)
    monkeypatch.setenv("WANPROV_RETRIES", "3")  # a transient failure would be retried 3 times
    result = fetch(tmp_path, manifest)
    assert result.code == ExitCode.NO_SPACE, result
    assert len([r for r in hub_env.requests if "full.bin" in str(r["path"])]) == 1  # one GET: no retry


def test_3_offline_is_could_not_run(tmp_path, hub, hub_env, monkeypatch):
    manifest = one_file_manifest(tmp_path, hub[1], "offline.bin")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = fetch(tmp_path, manifest)
    assert result.code == ExitCode.COULD_NOT_RUN
    assert result.json()["error"] == "offline"
