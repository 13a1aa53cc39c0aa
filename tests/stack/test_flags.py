"""Launch flags are checked against the installed ComfyUI's own `--help` (or its cli_args.py)."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from wanprov.commands.stack import stack
from wanprov.stack.flags import check_flags, flags_from_cli_args, known_flags

APP = "tests/doubles/comfyui_app"


def test_known_flags_from_help_and_from_source(repo_root):
    from_help, source = known_flags(repo_root / APP, None)
    assert source == "comfy/cli_args.py"
    assert {"--normalvram", "--highvram", "--reserve-vram", "--listen"} <= from_help
    assert "--disable-dynamic-vram" not in from_help  # not a flag of the pinned 0.3.64


def test_help_of_the_installed_app(repo_root):
    # the stand-in's `--help` exits before importing torch, like the real main.py, so the test python works
    proc = subprocess.run(
        [sys.executable, "main.py", "--help"], cwd=repo_root / APP, capture_output=True, text=True
    )
    assert proc.returncode == 0
    known, source = known_flags(repo_root / APP, __import__("pathlib").Path(sys.executable))
    assert source == "main.py --help"
    assert known == flags_from_cli_args((repo_root / APP / "comfy" / "cli_args.py").read_text())


def test_check_flags_splits_values_and_rejects_unknown():
    result = check_flags(["--reserve-vram", "2", "--normalvram", "--disable-dynamic-vram"], frozenset(
        {"--reserve-vram", "--normalvram"}), "x")  # fmt: skip
    assert result.accepted == ["--reserve-vram", "--normalvram"]
    assert result.rejected == ["--disable-dynamic-vram"]


def test_stack_flags_cli_exit_codes(repo_root):
    runner = CliRunner()
    ok = runner.invoke(stack, ["flags", "--comfyui-dir", str(repo_root / APP), "--format", "json", "--",
                               "--highvram", "--reserve-vram", "1.5"], standalone_mode=False)  # fmt: skip
    assert ok.exception is None and ok.return_value == 0
    assert json.loads(ok.stdout)["accepted"] == ["--highvram", "--reserve-vram"]
    bad = runner.invoke(stack, ["flags", "--comfyui-dir", str(repo_root / APP), "--", "--lowvram", "--nope"],
                        standalone_mode=False)  # fmt: skip
    assert bad.return_value == 1 and "REFUSED --nope" in bad.output
