"""-o / --editor-out / --save-facts: one writer (datafiles.write_output) that never replaces what is not a
regular file, keeps an existing file's mode and owner, creates no folders, and types its failures."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hostile_cli import invoke

from wanprov.datafiles import write_output
from wanprov.errors import UsageError, WanprovError


def render_to(*args: str):
    return invoke("workflow", "render", "flux1-schnell", *args)


def test_a_symlink_target_is_refused_and_left_alone(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "out.json"
    link.symlink_to(victim)
    result = render_to("-o", str(link))
    assert result.code == 2 and "symlink" in result.err
    assert link.is_symlink() and victim.read_text() == "keep me"


def test_a_fifo_target_is_refused_and_left_alone(tmp_path: Path) -> None:
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    result = render_to("--editor-out", str(fifo))
    assert result.code == 2 and "FIFO" in result.err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_device_target_is_refused(tmp_path: Path) -> None:
    result = render_to("-o", "/dev/null")
    assert result.code == 2 and "character device" in result.err
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_a_folder_target_is_refused(tmp_path: Path) -> None:
    result = invoke("doctor", "--no-torch", "--no-nvenc", "--save-facts", str(tmp_path), "--format", "json")
    assert result.code == 2 and result.json()["error"] == "usage"
    assert tmp_path.is_dir()


def test_an_existing_file_keeps_its_mode_and_owner(tmp_path: Path) -> None:
    target = tmp_path / "w.json"
    target.write_text("old")
    target.chmod(0o640)
    owner = (1234, 5678) if os.geteuid() == 0 else (os.geteuid(), os.getegid())
    if os.geteuid() == 0:
        os.chown(target, *owner)  # as root: a file that belongs to the service user
    assert render_to("-o", str(target)).code == 0
    info = target.stat()
    assert stat.S_IMODE(info.st_mode) == 0o640 and (info.st_uid, info.st_gid) == owner
    assert target.read_text().startswith("{")


def test_a_new_file_gets_the_umask_not_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        assert render_to("-o", str(tmp_path / "new.json")).code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o644


def test_missing_folders_are_not_created(tmp_path: Path) -> None:
    result = render_to("-o", str(tmp_path / "a" / "b" / "w.json"), "--editor-out", str(tmp_path / "e.json"))
    assert result.code == 3 and "does not exist" in result.err
    assert list(tmp_path.iterdir()) == []


def test_no_temp_file_is_left_behind_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    monkeypatch.setattr(Path, "replace", fail)
    with pytest.raises(WanprovError) as caught:
        write_output(tmp_path / "x.json", "{}")
    assert caught.value.exit_code == 9
    assert list(tmp_path.iterdir()) == []


def test_write_output_refuses_directly(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(UsageError, match="folder"):
        write_output(tmp_path / "d", "x")
