"""`wanprov workflow install`: render the set, write only what differs (content, mode, owner); dry run."""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

import pytest

from wanprov.errors import WanprovError
from wanprov.workflows.install import install
from workflows.workflow_cli import run_workflow

TEMPLATE = "wan22-i2v-gguf-lightning"
FILES = [f"{TEMPLATE}.api.json", f"{TEMPLATE}.json"]


wanprov = run_workflow


def install_cli(dest: Path, *args: str) -> tuple[int, dict]:
    """One template for the large tier, as JSON: (exit code, report)."""
    done = wanprov(
        "install", "--dest", str(dest), "--template", TEMPLATE, "--tier", "large", "--format", "json", *args
    )
    return done.returncode, json.loads(done.stdout)


def statuses(report: dict) -> dict[str, str]:
    return {f["name"]: f["status"] for f in report["files"]}


def snapshot(dest: Path) -> dict[str, tuple[int, int]]:
    """name -> (inode, mtime_ns): a rewrite (atomic rename) changes the inode."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in dest.iterdir()}


def test_first_run_writes_both_formats_second_run_writes_nothing(tmp_path):
    dest = tmp_path / "user" / "default" / "workflows"
    rc, first = install_cli(dest)
    assert rc == 0
    assert first["schema"] == "wanprov.workflow-install/1" and first["dest"] == str(dest)
    assert statuses(first) == dict.fromkeys(FILES, "written") and first["changed"] is True
    assert '"class_type"' in (dest / FILES[0]).read_text()  # API format
    assert '"nodes"' in (dest / FILES[1]).read_text()  # editor format
    assert (dest.stat().st_mode & 0o7777) == 0o755
    assert all((dest / name).stat().st_mode & 0o7777 == 0o644 for name in FILES)
    before = snapshot(dest)

    rc, second = install_cli(dest)
    assert rc == 0
    assert statuses(second) == dict.fromkeys(FILES, "unchanged") and second["changed"] is False
    assert snapshot(dest) == before


def test_same_bytes_as_workflow_render(tmp_path):
    """install and render agree, so files one wrote are current for the other."""
    rc, _ = install_cli(tmp_path / "wf")
    assert rc == 0
    rendered = wanprov(
        "render",
        TEMPLATE,
        "--tier",
        "large",
        "-o",
        str(tmp_path / "r.api.json"),
        "--editor-out",
        str(tmp_path / "r.json"),
    )
    assert rendered.returncode == 0, rendered.stderr
    assert (tmp_path / "r.api.json").read_bytes() == (tmp_path / "wf" / FILES[0]).read_bytes()
    assert (tmp_path / "r.json").read_bytes() == (tmp_path / "wf" / FILES[1]).read_bytes()


def test_dry_run_writes_nothing_and_exits_4(tmp_path):
    dest = tmp_path / "wf"
    rc, report = install_cli(dest, "--dry-run")
    assert rc == 4
    assert statuses(report) == dict.fromkeys(FILES, "pending")
    assert report["dir"] == "pending" and report["changed"] is True
    assert not dest.exists()

    install_cli(dest)
    (dest / FILES[0]).write_text("{}\n")
    before = snapshot(dest)
    rc, report = install_cli(dest, "--dry-run")
    assert rc == 4 and statuses(report) == {FILES[0]: "pending", FILES[1]: "unchanged"}
    assert (dest / FILES[0]).read_text() == "{}\n" and snapshot(dest) == before

    install_cli(dest)
    rc, report = install_cli(dest, "--dry-run")
    assert rc == 0 and report["changed"] is False


def test_a_changed_file_is_rewritten_and_only_it(tmp_path):
    dest = tmp_path / "wf"
    install_cli(dest)
    good = (dest / FILES[1]).read_bytes()
    (dest / FILES[1]).write_text('{"edited": true}\n')
    untouched = snapshot(dest)[FILES[0]]

    rc, report = install_cli(dest)
    assert rc == 0 and report["changed"] is True
    assert statuses(report) == {FILES[0]: "unchanged", FILES[1]: "written"}
    assert (dest / FILES[1]).read_bytes() == good
    assert snapshot(dest)[FILES[0]] == untouched
    assert not [p for p in dest.iterdir() if p.name.startswith(".")]  # no temp file left behind


def test_mode_is_fixed_without_rewriting(tmp_path):
    dest = tmp_path / "wf"
    install_cli(dest)
    (dest / FILES[0]).chmod(0o600)
    dest.chmod(0o700)
    inode = (dest / FILES[0]).stat().st_ino

    rc, report = install_cli(dest)
    assert rc == 0 and report["changed"] is True and report["dir"] == "written"
    assert statuses(report) == {FILES[0]: "written", FILES[1]: "unchanged"}
    assert (dest / FILES[0]).stat().st_mode & 0o7777 == 0o644
    assert (dest / FILES[0]).stat().st_ino == inode  # attributes set in place, content untouched
    assert dest.stat().st_mode & 0o7777 == 0o755

    rc, report = install_cli(dest, "--mode", "0640")
    assert rc == 0 and statuses(report) == dict.fromkeys(FILES, "written")
    assert all((dest / name).stat().st_mode & 0o7777 == 0o640 for name in FILES)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_owner_is_set_on_new_files_and_fixed_on_existing(tmp_path):
    nobody = pwd.getpwnam("nobody").pw_uid
    dest = tmp_path / "wf"
    rc, _ = install_cli(dest, "--owner", "nobody")
    assert rc == 0
    assert dest.stat().st_uid == nobody
    assert all((dest / name).stat().st_uid == nobody for name in FILES)
    os.chown(dest / FILES[1], 0, -1)

    rc, report = install_cli(dest, "--owner", "nobody")
    assert rc == 0 and statuses(report) == {FILES[0]: "unchanged", FILES[1]: "written"}
    assert (dest / FILES[1]).stat().st_uid == nobody


def test_unknown_template_exits_2_naming_it_and_writes_nothing(tmp_path):
    dest = tmp_path / "wf"
    done = wanprov(
        "install",
        "--dest",
        str(dest),
        "--template",
        TEMPLATE,
        "--template",
        "no-such-template",
        "--format",
        "json",
    )
    assert done.returncode == 2
    error = json.loads(done.stdout)
    assert "no-such-template" in error["message"] and TEMPLATE in error["hint"]
    assert not dest.exists()


@pytest.mark.parametrize(
    ("args", "word"), [(["--owner", "no-such-user-wanprov"], "no-such-user"), (["--mode", "rw"], "rw")]
)
def test_bad_owner_or_mode_exits_2_naming_it(tmp_path, args, word):
    done = wanprov("install", "--dest", str(tmp_path / "wf"), *args)
    assert done.returncode == 2 and word in done.stderr
    assert not (tmp_path / "wf").exists()


def test_dest_that_is_a_file_is_an_error(tmp_path):
    dest = tmp_path / "wf"
    dest.write_text("not a folder")
    with pytest.raises(WanprovError, match="not a folder"):
        install({"a.json": "{}\n"}, dest)
    assert dest.read_text() == "not a folder"


def test_every_template_by_default_and_nvenc_only_where_a_template_encodes(tmp_path):
    """--nvenc is a host fact: the image template (no encoder) is installed, not refused."""
    done = wanprov("install", "--dest", str(tmp_path), "--tier", "large", "--nvenc", "--format", "json")
    assert done.returncode == 0, done.stderr
    names = set(statuses(json.loads(done.stdout)))
    assert {"flux1-schnell.json", f"{TEMPLATE}.api.json", f"{TEMPLATE}.json"} <= names
    assert "nvenc" in (tmp_path / f"{TEMPLATE}.api.json").read_text()
