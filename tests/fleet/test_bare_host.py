"""End to end: site.yml on a BARE host - no torch anywhere, no wanprov in any index - the way a real first
converge meets it (issue 14). The torch family comes from an index that serves like the ordinary package
index (no local labels); the node packs ask for both OpenCV distributions.

One host, runs in file order: converge -> re-run -> change the data folder live -> health with the file
lists required -> a service that dies at start.
"""

from __future__ import annotations

import dataclasses
import json
import re
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

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class Bare:
    fleet: Fleet
    root: Path
    vars: dict[str, object]
    reports: Path  # the controller's fleet report and health results (not the checkout's playbooks/reports)

    def converge(self, *args: str, **extra: object) -> PlaybookResult:
        extra_vars = {"fleet_report_path": str(self.reports / "fleet-report.json"), **extra}
        return run_playbook(
            self.fleet, SITE, args=["--skip-tags", "models", *args], extra_vars=extra_vars, timeout=900
        )

    def health_results(self) -> list[dict[str, object]]:
        return json.loads((self.reports / "instance-health.json").read_text())

    def controller_version(self) -> str:
        text = (REPO_ROOT / "pyproject.toml").read_text()
        return next(line.split('"')[1] for line in text.splitlines() if line.startswith("version"))


@pytest.fixture(scope="module")
def bare(fleet_sources) -> Iterator[Bare]:
    base = Path(subprocess.check_output(["mktemp", "-d", "/tmp/wanprov-bare-XXXXXX"], text=True).strip())
    base.chmod(0o755)
    repos, manifest, shared_wheelhouse = fleet_sources
    wheelhouse = Path(shutil.copytree(shared_wheelhouse, base / "wheelhouse"))  # changed below: a copy
    # wanprov's dependencies only: no index a host can reach has wanprov itself (the controller ships it)
    for wheel in wheelhouse.glob("wanprov-*.whl"):
        wheel.unlink()
    for wheel in wheelhouse.glob("torch*.whl"):  # the torch family as the ordinary index serves it
        wheel.unlink()
    build_wheelhouse(wheelhouse, "pypi")
    spec = dataclasses.replace(SPECS["h100"], torch_version=None)  # no torch on any path of the host
    env = install_fake_host(base / "gpu", spec)
    assert not list((base / "gpu" / "site").glob("torch*"))
    fleet = Fleet.start(base / "fleet", [HostSpec("bare", env=env)])
    root = fleet.hosts["bare"].root
    variables = stack_host_vars(repos, manifest, wheelhouse, root)
    variables.update(
        {
            "comfyui_torch_version": "2.9.1",  # label-less pins, as the doctor's own choice is written
            "comfyui_torchvision_version": "0.24.1",
            "comfyui_torchaudio_version": "2.9.1",
            "comfyui_torch_index_url": "",
            "comfyui_launch_flags": ["--cpu"],  # the fake torch has no CUDA device; the verdict is a CPU op
            "comfyui_node_packs_optional": ["all"],
        }
    )
    document = yaml.safe_load(fleet.inventory.read_text())
    for group in document["all"]["children"].values():
        group["hosts"]["bare"].update(variables)
    fleet.inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    yield Bare(fleet, root, variables, base / "reports")
    for data in (root / "var/lib/comfyui", root / "srv/comfyui-data"):
        for launch in data.glob("*/comfyui-launch.json"):  # one per instance (here: cpu/)
            subprocess.run(
                [sys.executable, "-m", "wanprov.service.supervise", "stop", str(launch)],
                check=False, capture_output=True,
            )  # fmt: skip
    fleet.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def first(bare: Bare) -> PlaybookResult:
    return bare.converge()


def _venv_python(bare: Bare) -> str:
    return str(bare.root / "opt/comfyui/venv/bin/python")


def _installed(bare: Bare, *names: str) -> dict[str, str | None]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = None\n"
        "print(json.dumps(out))"
    )
    return json.loads(subprocess.check_output([_venv_python(bare), "-c", code, *names], text=True))


def test_bare_host_converges_with_the_controllers_wanprov(bare, first):
    assert first.rc == 0, first.describe()
    version = subprocess.check_output(
        [str(bare.root / "opt/wanprov/venv/bin/wanprov"), "--version"], text=True
    )
    assert version.split()[-1] == bare.controller_version()


def test_preflight_plans_torch_and_the_stack_play_judges_it(first):
    assert "planned: the stack play installs and judges it" in first.stdout, first.describe()
    assert "torch_installed" not in first.stdout
    verdict = first.stdout.split("TASK [comfyui : Judge the installed torch]")[1].split("TASK [")[0]
    assert "ok: [bare]" in verdict, first.describe()


def test_torch_family_pinned_together_from_a_label_less_index(bare, first):
    constraints = (bare.root / "opt/comfyui/venv/wanprov-constraints.txt").read_text()
    pins = [line for line in constraints.splitlines() if "==" in line]
    assert pins == ["torch==2.9.1", "torchvision==0.24.1", "torchaudio==2.9.1"]
    assert _installed(bare, "torch", "torchvision", "torchaudio") == {
        "torch": "2.9.1",
        "torchvision": "0.24.1",
        "torchaudio": "2.9.1",
    }


def test_one_opencv_in_the_venv(bare, first):
    assert _installed(bare, "opencv-python", "opencv-python-headless") == {
        "opencv-python": None,
        "opencv-python-headless": "4.12.0.88",
    }


def test_rerun_changes_nothing(bare, first):
    again = bare.converge()
    assert again.rc == 0 and again.recap["bare"].changed == 0, again.describe()


def test_changing_the_data_folder_on_a_live_host(bare, first):
    moved = str(bare.root / "srv/comfyui-data")
    result = bare.converge(comfyui_data_dir=moved)
    assert result.rc == 0, result.describe()
    assert (Path(moved) / "input").is_dir()  # shared by the instances
    for sub in ("output", "temp", "user"):  # the instance's own (a --cpu host: one instance, cpu/)
        assert (Path(moved) / "cpu" / sub).is_dir()
    launch = json.loads((Path(moved) / "cpu" / "comfyui-launch.json").read_text())
    assert f"{moved}/input" in launch["argv"] and f"{moved}/cpu/output" in launch["argv"]


def test_health_with_file_lists_required_names_the_missing_files(bare, first):
    result = bare.converge("--tags", "health", health_require_files=True)
    assert result.rc != 0, result.describe()
    assert "file not on the server: node" in result.stdout, result.describe()
    # The report is written although the only host is unhealthy (the hosts fail after it), and its record
    # names every file each workflow needs: here (no models play) every model file is missing.
    (record,) = bare.health_results()
    assert record["ok"] is False and record["files_required"] is True, record
    assert record["workflows"], record
    for workflow in record["workflows"]:
        models = [f for f in workflow["files_checked"] if f["class_type"] != "LoadImage"]
        required = [f for f in models if f["required"]]
        assert required and {f["status"] for f in required} == {"missing"}, workflow
        images = [f for f in workflow["files_checked"] if f["class_type"] == "LoadImage"]
        assert {f["status"] for f in images} <= {"present"}, images  # the stack put the image there
        assert any(f["name"].endswith(".gguf") for f in required), workflow
        for f in required:
            assert f"{f['class_type']}) {f['input']}: {f['name']}" in record["error"], (f, record["error"])


def test_a_service_that_dies_at_start_fails_fast_with_its_log(bare, first):
    why = "RuntimeError: wanprov test: ComfyUI died at start"
    result = bare.converge(
        comfyui_service_environment={"COMFYUI_DOUBLE_DIE_AT_START": why}, comfyui_wait_retries=600
    )
    assert result.rc != 0, result.describe()
    # SERVICE_DOWN, from the instances module's wait (the result as YAML or JSON)
    assert re.search(r"\bexit_code\"?: 11\b", result.stdout), result.describe()
    assert "exited before answering" in result.stdout and why in result.stdout, result.describe()
