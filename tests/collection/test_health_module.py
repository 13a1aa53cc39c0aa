"""wanprov.gpu.health: its arguments, a dead service (exit code 11 and the log's tail in the result or the
failure), and check mode (every check, never the smoke's run) against the ComfyUI double."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wanprov.models.catalog import profile_roles
from wanprov.workflows.install import RenderRequest, install, render_set
from wanprov.workflows.schema import load_object_info
from workflows.comfyui_double import MINIMAL_FILES, comfyui_double, get

TEMPLATE, PROFILE = "wan22-i2v-gguf-lightning", "wan22-i2v-a14b-q5-lightning"


@pytest.fixture(scope="module")
def double(tmp_path_factory: pytest.TempPathFactory, object_info_path: Path) -> Iterator[tuple[str, Path]]:
    """A double holding the profile's files, and the instance's rendered workflows: (url, workflows dir)."""
    root = tmp_path_factory.mktemp("double")
    with comfyui_double(root, object_info_path) as (url, comfy):
        for entry in profile_roles(PROFILE).values():
            if not entry.node_pack:
                (comfy / "models" / entry.folder).mkdir(parents=True, exist_ok=True)
                (comfy / "models" / entry.folder / entry.name).write_bytes(
                    MINIMAL_FILES.get(Path(entry.name).suffix, b"")
                )
        files, _ = render_set([TEMPLATE], RenderRequest(profile=PROFILE, tier="large"), load_object_info())
        install(files, root / "workflows")
        yield url, root / "workflows"


def _dead(tmp_path: Path) -> dict[str, str]:
    """The `process` supervisor's files of a service that has exited: no pid file, its last words logged."""
    (tmp_path / "comfyui.log").write_text("Traceback ...\nRuntimeError: wanprov test: died at start\n")
    return {"pidfile": str(tmp_path / "comfyui.pid"), "log": str(tmp_path / "comfyui.log")}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "one of the following is required: unit, pidfile"),
        ({"unit": "comfyui-gpu0", "pidfile": "/run/p", "log": "/run/l"}, "mutually exclusive"),
        ({"pidfile": "/run/comfyui.pid"}, "parameters are required together: pidfile, log"),
        ({"unit": "comfyui-gpu0", "gpu": "first"}, "gpu"),
    ],
)
def test_bad_arguments_are_refused_naming_them(run_module, tmp_path, args, message):
    rc, result = run_module("health", {"url": "http://127.0.0.1:1", "workflows_dir": str(tmp_path), **args})
    assert rc == 1 and message in result["msg"], result


def test_a_dead_service_fails_the_task_with_its_log_or_returns_it(run_module, tmp_path):
    args = {"url": "http://127.0.0.1:1", "workflows_dir": str(tmp_path), "timeout": 600, **_dead(tmp_path)}
    rc, failed = run_module("health", args)
    assert rc == 1 and failed["exit_code"] == 11, failed
    assert "exited before answering" in failed["msg"] and "died at start" in failed["msg"]
    rc, result = run_module("health", {**args, "fail_on_unhealthy": False})
    assert rc == 0 and result["ok"] is False and result["changed"] is False
    assert result["schema"] == "wanprov.instance-health/2" and "died at start" in result["error"]


def test_check_mode_checks_everything_but_never_runs_the_smoke(run_module, double, tmp_path):
    url, workflows = double
    (tmp_path / "comfyui.pid").write_text("1\n")  # a running process (init) stands for the service
    (tmp_path / "comfyui.log").write_text("")
    args = {
        "url": url,
        "workflows_dir": str(workflows),
        "pidfile": str(tmp_path / "comfyui.pid"),
        "log": str(tmp_path / "comfyui.log"),
        "gpu": 0,
        "tier": "large",
        "require_files": True,
        "smoke": True,
        "profile": PROFILE,
        "smoke_timeout": 60,
    }
    rc, checked = run_module("health", args, check=True)
    assert rc == 0 and checked["ok"] is True and checked["changed"] is False, checked
    assert checked["smoke"] is None
    assert get(url, "/history") == {}  # nothing was queued
    files = checked["workflows"][0]["files_checked"]
    assert files and all(f["status"] == "present" for f in files if f["required"])
    rc, ran = run_module("health", args)
    assert rc == 0 and ran["smoke"]["ok"] is True and isinstance(ran["smoke_seconds"], float), ran
    assert len(get(url, "/history")) == 1
