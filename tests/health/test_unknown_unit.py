"""`wanprov health check --unit NAME` for a unit systemd does not have: a usage error that says so, not
"ComfyUI exited" over an empty log."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from wanprov.commands.health import check_command
from wanprov.exit_codes import ExitCode


@pytest.fixture
def systemctl_without_the_unit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What systemd 252's `systemctl show` prints for a unit it has no file for (exit 0)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(
        "#!/bin/sh\nprintf 'LoadState=not-found\\nActiveState=inactive\\nMainPID=0\\nNRestarts=0\\n'\n"
    )
    (bin_dir / "journalctl").write_text("#!/bin/sh\necho '-- No entries --'\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.usefixtures("systemctl_without_the_unit")
def test_a_unit_that_does_not_exist_is_named_as_such(tmp_path: Path) -> None:
    args = ["--url", f"http://127.0.0.1:{_closed_port()}", "--unit", "comfyui-gpu7"]
    args += ["--workflows-dir", str(tmp_path), "--timeout", "5", "--interval", "0.1"]
    result = CliRunner().invoke(check_command, [*args, "--format", "json"], standalone_mode=False)
    assert result.return_value == ExitCode.USAGE
    record = json.loads(result.stdout)
    assert record["exit_code"] == ExitCode.USAGE
    assert "no systemd unit comfyui-gpu7 on this host" in record["error"]
    assert "systemctl list-units" in record["error"]
    assert "exited" not in record["error"]

    text = CliRunner().invoke(check_command, args, standalone_mode=False)
    assert text.return_value == ExitCode.USAGE
    assert "no systemd unit comfyui-gpu7" in text.stderr
