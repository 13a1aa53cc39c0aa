"""`wanprov up` as root on a bare (fake) GPU host: a refused host writes nothing; the dry run plans every
stage and exits 4; the run takes the host to a running, verified ComfyUI with the role's hardened units; a
re-run changes nothing and says so; --service none prints the exact start command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from up_host import free_port, host_dirs, wanprov_env

from wanprov.service.units import ServiceSettings, system_unit

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="root: creates the service user, writes system units"),
]
WANPROV = [sys.executable, "-m", "wanprov"]
SERVICE_USER = "wanprov-up-svc"


def up(sources, root: Path, *extra: str, port: int | None = None, env: dict | None = None):
    command = [*WANPROV, "up", *host_dirs(root), *sources.args, "--service", "process",
               "--service-user", SERVICE_USER, "--port", str(port or free_port()), "--smoke-timeout", "60",
               "--health-timeout", "60", "--format", "json", *extra]  # fmt: skip
    env = env or wanprov_env(sources)
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def stages(document: dict) -> dict[str, dict]:
    return {stage["name"]: stage for stage in document["stages"]}


@pytest.fixture(scope="module")
def root_host(up_sources):
    root = Path(tempfile.mkdtemp(prefix="host-", dir=up_sources.base))
    root.chmod(0o755)
    return root


def test_a_refused_host_stops_at_the_doctor_and_writes_nothing(up_sources, tmp_path):
    root = up_sources.base / "refused"
    no_gpu = {
        **os.environ,
        "PATH": "/usr/bin:/bin",
        **{k: v for k, v in up_sources.env.items() if k.startswith("HF_")},
    }
    rc, document, _ = up(up_sources, root, env=no_gpu)
    assert rc == 1, document
    assert [s["name"] for s in document["stages"]] == ["doctor"]
    assert stages(document)["doctor"]["status"] == "refused"
    assert any(f["check"] == "gpu_detected" and f["fix"] for f in document["blocking"])
    assert not root.exists()


def test_dry_run_plans_every_stage_and_exits_4(up_sources, root_host):
    rc, document, err = up(up_sources, root_host, "--dry-run")
    assert rc == 4, (document["blocking"], document["error"], err[-2000:])
    assert document["schema"] == "wanprov.up/1" and document["dry_run"] is True
    by_name = stages(document)
    assert list(by_name) == ["doctor", "stack", "models", "workflows", "service", "health", "smoke"]
    assert all(by_name[n]["status"] == "would_change" for n in ("stack", "models", "workflows", "service"))
    assert by_name["health"]["status"] == "skipped"
    assert list(root_host.iterdir()) == []


def test_up_converges_a_bare_host_then_a_rerun_changes_nothing(up_sources, root_host):
    port = free_port()
    rc, first, err = up(up_sources, root_host, port=port)
    assert rc == 0, (first.get("blocking"), first.get("error"), first.get("message"), err[-3000:])
    by_name = stages(first)
    assert all(by_name[n]["changed"] for n in ("stack", "models", "workflows", "service")), by_name
    assert by_name["health"]["status"] == "ok" and by_name["smoke"]["status"] in ("ok", "skipped")
    (instance,) = first["instances"]
    assert instance["url"] == f"http://127.0.0.1:{port}" and instance["files_verified"] > 0
    unit = root_host / "etc/systemd/system/comfyui-gpu0.service"
    text = unit.read_text()
    assert f"User={SERVICE_USER}" in text and "ProtectSystem=strict" in text
    assert (unit.stat().st_mode & 0o777, unit.stat().st_uid) == (0o644, 0)
    launch = root_host / "var/lib/comfyui/gpu0/comfyui-launch.json"
    assert launch.stat().st_mode & 0o777 == 0o600
    data = root_host / "var/lib/comfyui"
    assert data.stat().st_mode & 0o777 == 0o750 and data.owner() == SERVICE_USER
    assert (data / "gpu0/user/default/workflows/wan22-i2v-gguf-lightning.api.json").is_file()

    rc, again, err = up(up_sources, root_host, port=port)
    assert rc == 0, (again["blocking"], again["error"], err[-3000:])
    assert again["changed"] is False, [(s["name"], s.get("changes")) for s in again["stages"] if s["changed"]]
    assert stages(again)["health"]["status"] == "ok"
    rc, dry, _ = up(up_sources, root_host, "--dry-run", port=port)
    assert (rc, dry["changed"]) == (0, False)


def test_the_unit_is_the_cores_rendering_of_the_plan(up_sources, root_host):
    """What `up` wrote is the core's unit for the plan (tests/stack: the same text the role renders)."""
    launch = json.loads((root_host / "var/lib/comfyui/gpu0/comfyui-launch.json").read_text())
    port = int(launch["argv"][launch["argv"].index("--port") + 1])
    instance = {"gpu": 0, "port": port, "argv": launch["argv"], "env": {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}}
    settings = ServiceSettings(
        user=SERVICE_USER, group=SERVICE_USER, install_dir=str(root_host / "opt/comfyui/ComfyUI"),
        data_dir=str(root_host / "var/lib/comfyui"), comfyui_version=up_sources.comfyui_commit,
        env_file=str(root_host / "etc/systemd/system/comfyui.service.d/secrets.env"),
    )  # fmt: skip
    unit = root_host / "etc/systemd/system/comfyui-gpu0.service"
    assert unit.read_text() == system_unit(instance, settings)


def test_service_none_prints_the_start_command(up_sources, root_host):
    rc, document, _ = up(up_sources, root_host, "--service", "none", "--dry-run")
    assert rc in (0, 4), document
    (instance,) = document["instances"]
    assert instance["start_command"].startswith(f"cd {root_host}/opt/comfyui/ComfyUI && env ")
    assert str(root_host / "opt/comfyui/venv/bin/python") in instance["start_command"]


def test_cpu_on_a_gpu_less_host_runs_through_health(up_sources):
    """--cpu: the doctor's GPU findings do not block it; one `cpu` instance answers and validates."""
    root = Path(tempfile.mkdtemp(prefix="cpu-", dir=up_sources.base))
    root.chmod(0o755)
    hub = {k: v for k, v in up_sources.env.items() if k.startswith("HF_")}
    no_gpu = {**os.environ, "PATH": "/usr/bin:/bin", **hub}
    # its own service user: the GPU host above runs as SERVICE_USER, from another data folder
    cpu = ["--cpu", "--profile", "wan22-i2v-a14b-q4km-lightning", "--service-user", "wanprov-up-cpu"]
    port = free_port()
    rc, first, err = up(up_sources, root, *cpu, port=port, env=no_gpu)
    assert rc == 0, (first.get("blocking"), first.get("error"), err[-3000:])
    by_name = stages(first)
    assert by_name["health"]["status"] == "ok" and by_name["smoke"]["status"] == "skipped"
    (instance,) = first["instances"]
    assert (instance["name"], instance["gpu"]) == ("cpu", None)
    assert instance["smoke"] == "not run: a --cpu instance"
    launch = json.loads((root / "var/lib/comfyui/cpu/comfyui-launch.json").read_text())
    assert "--cpu" in launch["argv"] and "--cuda-device" not in launch["argv"]
    rc, again, _ = up(up_sources, root, *cpu, port=port, env=no_gpu)
    assert (rc, again["changed"]) == (0, False)


def test_the_doctor_sizes_the_manifests_profile_no_waiver(up_sources, tmp_path):
    """--manifest no longer waives the disk check: the doctor sizes what the models stage will fetch from the
    same catalogs. Here every file is declared 1 TiB, which no disk of this machine holds: refused, exit 1,
    the disk finding with a fix that names a real command; nothing written."""
    tiny = Path(up_sources.args[up_sources.args.index("--manifest") + 1])
    document = yaml.safe_load(tiny.read_text())
    for entry in document["files"].values():
        entry["size"] = 1 << 40
    huge = tmp_path / "huge-models.yaml"
    huge.write_text(yaml.safe_dump(document))
    root = up_sources.base / "too-small"
    rc, report, _ = up(up_sources, root, "--manifest", str(huge), "--dry-run")
    assert rc == 1, report
    blocking = {f["check"]: f for f in report["blocking"]}
    assert set(blocking) == {"disk_space"}, blocking
    assert "TiB" in blocking["disk_space"]["message"] or "GiB" in blocking["disk_space"]["message"]
    assert "wanprov fetch-models --profile" in blocking["disk_space"]["fix"]
    assert not root.exists()
