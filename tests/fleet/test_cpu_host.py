"""End to end: site.yml on a host WITHOUT a GPU (no NVIDIA driver, no nvidia-smi, no torch) with
`comfyui_cpu: true`: preflight lets it through (the GPU checks inform), the stack plans one `cpu` instance,
the torch verdict is a CPU tensor operation, health checks the instance and the fleet report gives it a row
(it used to refuse the health result: "health result for GPU 0 ... whose doctor report lists GPUs none",
exit 10, and site.yml failed on every run).

One host, runs in file order: converge -> health and the fleet report row -> re-run changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from doubles.fleet import Fleet, HostSpec, PlaybookResult, run_playbook
from doubles.gpu import install_fake_host
from doubles.gpu.specs import SPECS
from doubles.wheels import build_wheelhouse
from fleet.fleet_setup import SITE, stack_host_vars

pytestmark = [pytest.mark.fleet, pytest.mark.slow, pytest.mark.timeout(900)]


@dataclasses.dataclass
class CpuHost:
    fleet: Fleet
    root: Path
    reports: Path  # the controller's fleet report and health results

    def converge(self, *args: str) -> PlaybookResult:
        extra_vars = {"fleet_report_path": str(self.reports / "fleet-report.json")}
        return run_playbook(
            self.fleet, SITE, args=["--skip-tags", "models", *args], extra_vars=extra_vars, timeout=900
        )


@pytest.fixture(scope="module")
def cpu_host(fleet_sources) -> Iterator[CpuHost]:
    base = Path(subprocess.check_output(["mktemp", "-d", "/tmp/wanprov-cpu-XXXXXX"], text=True).strip())
    base.chmod(0o755)
    repos, manifest, shared_wheelhouse = fleet_sources
    wheelhouse = Path(shutil.copytree(shared_wheelhouse, base / "wheelhouse"))
    for wheel in wheelhouse.glob("wanprov-*.whl"):  # the controller ships wanprov
        wheel.unlink()
    for wheel in wheelhouse.glob("torch*.whl"):  # the torch family as the ordinary index serves it
        wheel.unlink()
    build_wheelhouse(wheelhouse, "pypi")
    spec = dataclasses.replace(SPECS["no_gpu"], torch_version=None)  # no GPU, no driver, no torch
    env = install_fake_host(base / "host", spec)
    fleet = Fleet.start(base / "fleet", [HostSpec("cpu", env=env)])
    root = fleet.hosts["cpu"].root
    variables = stack_host_vars(repos, manifest, wheelhouse, root)
    variables.update(
        {
            "comfyui_cpu": True,  # the setting under test: no GPU wanted
            # no torch pins: the plan takes the CPU wheels (whl/cpu; the wheelhouse stands in for it)
            "comfyui_torch_variant": "",
            "comfyui_torch_version": "",
            "comfyui_torchvision_version": "",
            "comfyui_torchaudio_version": "",
        }
    )
    document = yaml.safe_load(fleet.inventory.read_text())
    for group in document["all"]["children"].values():
        group["hosts"]["cpu"].update(variables)
    fleet.inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    yield CpuHost(fleet, root, base / "reports")
    for launch in (root / "var/lib/comfyui").glob("*/comfyui-launch.json"):
        subprocess.run(
            [sys.executable, "-m", "wanprov.service.supervise", "stop", str(launch)],
            check=False, capture_output=True,
        )  # fmt: skip
    fleet.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def first(cpu_host: CpuHost) -> PlaybookResult:
    return cpu_host.converge()


def test_a_gpu_less_host_converges_with_one_cpu_instance(cpu_host, first):
    assert first.rc == 0, first.describe()
    data = cpu_host.root / "var/lib/comfyui"
    assert sorted(p.name for p in data.iterdir() if (p / "comfyui-launch.json").is_file()) == ["cpu"]
    launch = json.loads((data / "cpu" / "comfyui-launch.json").read_text())
    assert "--cpu" in launch["argv"] and "--cuda-device" not in launch["argv"]
    units = sorted(p.name for p in (cpu_host.root / "etc/systemd/system").glob("*.service"))
    assert units == ["comfyui-cpu.service"]
    constraints = (cpu_host.root / "opt/comfyui/venv/wanprov-constraints.txt").read_text()
    assert [line for line in constraints.splitlines() if "==" in line] == [
        "torch==2.9.1", "torchvision==0.24.1", "torchaudio==2.9.1"
    ]  # fmt: skip


def test_health_checks_the_cpu_instance_and_the_report_has_its_row(cpu_host, first):
    assert first.rc == 0, first.describe()
    (record,) = json.loads((cpu_host.reports / "instance-health.json").read_text())
    assert record["ok"] is True and record["gpu"] is None, record
    report = json.loads((cpu_host.reports / "fleet-report.json").read_text())
    assert report["ok"] is True and report["problems"] == [], report
    (row,) = report["rows"]
    assert (row["host"], row["gpu"], row["status"]) == ("cpu", None, "healthy"), row
    assert row["gpu_name"] == "CPU (--cpu)"
    assert row["url"] == record["url"]


def test_rerun_changes_nothing(cpu_host, first):
    assert first.rc == 0, first.describe()
    again = cpu_host.converge()
    assert again.rc == 0 and again.recap["cpu"].changed == 0, again.describe()
