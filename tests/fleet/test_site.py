"""End to end: `ansible-playbook site.yml` over real SSH against a three-host test fleet.

Hosts (sshd on loopback, own root folder, own recorded GPU): h100 and rtx4090 are ready; rtx5090-old pins
torch 2.5.1 cu124 (no sm_120 kernels; installed in its ComfyUI venv from the wheel-index double, the only
place any host has a torch) and must be refused with that reason - by the stack play's verdict on the
torch it installed in the first converge (preflight plans torch on a bare host), by preflight on every
later run - while the others finish. The tests run in file order on one fleet: converge -> idempotent
re-run -> drift -> testinfra.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ansible_output import warning_lines
from doubles.fleet import PlaybookResult
from fleet.fleet_setup import BAD_HOST, READY_HOSTS, TWO_GPU_HOST, FleetUnderTest, build_fleet
from wanprov.models.catalog import profile_roles

pytestmark = [
    pytest.mark.fleet,
    pytest.mark.slow,
    pytest.mark.timeout(900),
]


@pytest.fixture(scope="module")
def fut(fleet_sources) -> Iterator[FleetUnderTest]:
    """The three-host fleet (tests/fleet/fleet_setup.py) on the sources of tests/fleet/conftest.py."""
    under_test = build_fleet(sources=fleet_sources)
    yield under_test
    under_test.stop()


@pytest.fixture(scope="module")
def first_run(fut: FleetUnderTest) -> PlaybookResult:
    """The fleet's first converge of site.yml (models included)."""
    return fut.converge()


def _model_files(fut: FleetUnderTest, host: str) -> list[Path]:
    """The model files ComfyUI sees (not wanprov's own bookkeeping under models/.wanprov/)."""
    models = fut.models_dir(host)
    return sorted(
        path
        for path in models.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(models).parts)
    )


def test_ready_hosts_converge_and_bad_host_fails_its_torch_verdict_with_reason(fut, first_run):
    result = first_run
    assert set(result.recap) == {*READY_HOSTS, BAD_HOST, "localhost"}, result.describe()  # + the report play
    for host in READY_HOSTS:
        counts = result.recap[host]
        assert counts.failed == 0 and counts.unreachable == 0, result.describe()
        assert counts.changed > 0, result.describe()
    assert result.recap[BAD_HOST].failed == 1, result.describe()
    assert result.rc != 0  # a failed host makes the run fail, as it should for CI gating
    # zero warnings under the installed ansible-core (a duplicate YAML key, a loop variable clash, a
    # dependency's Python warning over SSH ...)
    warnings = warning_lines(result.stdout + result.stderr)
    assert not warnings, warnings
    # The reason is in the output: the doctor's FAIL finding for the host, with its fix.
    bad_lines = [line for line in result.stdout.splitlines() if BAD_HOST in line or "fix:" in line]
    failure = "\n".join(bad_lines)
    assert "does not work on this host" in result.stdout, result.describe()
    assert "torch_arch_coverage" in failure, result.describe()
    assert "fix:" in failure and "cu128" in result.stdout, result.describe()
    # The bad host got no further than its torch: no models.
    assert not _model_files(fut, BAD_HOST)
    for host in READY_HOSTS:
        names = {path.name for path in _model_files(fut, host)}
        assert any(name.endswith(".gguf") for name in names), (host, names)
        # RIFE VFI's checkpoint sits where the pack looks, so its first run downloads nothing
        pack = (
            Path(str(fut.host_vars[host]["comfyui_install_dir"]))
            / "custom_nodes"
            / "ComfyUI-Frame-Interpolation"
        )
        assert (pack / "ckpts" / "rife" / "rife49.pth").is_file(), host


def _ssh(fut: FleetUnderTest, host: str, command: str) -> subprocess.CompletedProcess[str]:
    """`command` on `host` in its own session environment (what Ansible's tasks see), over SSH."""
    argv = [*fut.fleet.hosts[host].ssh_args(fut.fleet.client_key), command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


TORCH_REPORT = (
    "import json, torch; print(json.dumps({'version': torch.__version__, 'cuda': torch.version.cuda,"
    " 'devices': [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}))"
)


@pytest.mark.parametrize("host", [*READY_HOSTS, BAD_HOST])
def test_torch_exists_only_in_the_comfyui_venv(fut, first_run, host):
    """No torch on wanprov's own interpreter (its venv, which preflight runs): a real host has none there.
    The ComfyUI venv's is the pinned wheel pip installed, and it finds the host's GPUs through the driver."""
    variables = fut.host_vars[host]
    own = _ssh(fut, host, f"{variables['wanprov_cli_venv']}/bin/python -c 'import torch'")
    assert own.returncode == 1 and "No module named 'torch'" in own.stderr, (own.stdout, own.stderr)
    venv = _ssh(fut, host, f'{variables["comfyui_venv_dir"]}/bin/python -c "{TORCH_REPORT}"')
    assert venv.returncode == 0, venv.stderr
    report = json.loads(venv.stdout)
    assert report["version"] == variables["comfyui_torch_version"]  # BAD_HOST_TORCH's on the bad host
    gpus = json.loads((fut.base / "gpu" / host / "host.json").read_text())["gpus"]
    assert report["devices"] == [gpu["name"] for gpu in gpus]  # CUDA's order: fastest first (equal here)


@dataclass(frozen=True)
class ReRun:
    """The first re-run, and the fleet report and health results it wrote (kept: later tests converge again,
    in check mode too, and rewrite both files)."""

    result: PlaybookResult
    report: dict
    health: list


@pytest.fixture(scope="module")
def second_run(fut: FleetUnderTest, first_run) -> ReRun:
    result = fut.converge()  # preflight now judges the torch the bad host's first run installed: refused
    health = fut.report_path.parent / "instance-health.json"
    return ReRun(result, json.loads(fut.report_path.read_text()), json.loads(health.read_text()))


def test_second_run_changes_nothing(second_run):
    result = second_run.result
    for host in READY_HOSTS:
        assert result.recap[host].changed == 0, result.describe()
        assert result.recap[host].failed == 0, result.describe()
    assert result.recap[BAD_HOST].failed == 1, result.describe()


def test_check_reports_a_deleted_model_then_a_run_restores_it(fut, first_run):
    host, other = READY_HOSTS
    victim = next(path for path in _model_files(fut, host) if path.suffix == ".gguf")
    digest = hashlib.sha256(victim.read_bytes()).hexdigest()
    victim.unlink()

    check = fut.converge(check=True, diff=True)
    assert check.recap[host].changed >= 1, check.describe()
    assert check.recap[host].failed == 0, check.describe()
    assert check.recap[other].changed == 0, check.describe()
    assert victim.name in check.stdout, check.describe()  # the drift names the file
    assert not victim.exists(), "check mode must not restore anything"

    run = fut.converge()
    assert run.recap[host].changed >= 1 and run.recap[host].failed == 0, run.describe()
    assert hashlib.sha256(victim.read_bytes()).hexdigest() == digest


@pytest.mark.parametrize("host", READY_HOSTS)
def test_testinfra_verifies_each_ready_host(fut, first_run, host):
    import testinfra

    node = fut.fleet.hosts[host]
    remote = testinfra.get_host(
        f"ssh://root@127.0.0.1:{node.port}",
        ssh_identity_file=str(fut.fleet.client_key),
        ssh_extra_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
    )
    variables = fut.host_vars[host]
    workflows = fut.instance_dir(host, 0) / "user" / "default" / "workflows"
    editor = remote.file(str(workflows / "wan22-i2v-gguf-lightning.json"))
    api = remote.file(str(workflows / "wan22-i2v-gguf-lightning.api.json"))
    assert editor.is_file and api.is_file
    assert editor.user == variables["comfyui_user"]  # the service user can save edits to it
    assert '"nodes"' in editor.content_string  # editor format
    assert '"class_type"' in api.content_string  # API format
    for path in _model_files(fut, host):
        assert remote.file(str(path)).size > 0
    port = variables["comfyui_port"]
    # Asked on the host itself, over SSH, as an operator would.
    stats = remote.run(
        f"python3 -c 'import urllib.request as u; print(u.urlopen(\"http://127.0.0.1:{port}/system_stats\").read().decode())'"
    )
    assert stats.rc == 0, stats.stderr
    assert json.loads(stats.stdout)["system"]["comfyui_version"]
    assert remote.file(f"{variables['comfyui_install_dir']}/main.py").exists


def test_controller_cache_downloads_once_for_the_fleet(fut, first_run):
    """models_source=controller_cache: two hosts miss the same file; the hub serves it once (to the
    controller), and each host gets it from the controller's copy, verified by `fetch-models --from`."""
    victims = []
    for host in READY_HOSTS:  # a file of the Q5_K_S profile, which both hosts need (rtx4090's GPU 0 too)
        victim = next(path for path in _model_files(fut, host) if path.name.endswith("Q5_K_S.gguf"))
        victims.append((victim, hashlib.sha256(victim.read_bytes()).hexdigest()))
        victim.unlink()
    assert victims[0][0].name == victims[1][0].name  # same profile on both: one download is enough
    fut.hub.requests.clear()

    result = fut.converge(
        args=[
            "--tags",
            "models",
            "--extra-vars",
            json.dumps(
                {
                    "models_source": "controller_cache",
                    "models_controller_python": sys.executable,
                    "models_controller_cache_dir": str(fut.base / "controller-cache"),
                    "models_host_cache_dir": "{{ host_root }}/var/cache/wanprov/models",
                }
            ),
        ]
    )
    for host in READY_HOSTS:
        assert result.recap[host].failed == 0 and result.recap[host].changed >= 1, result.describe()
    for victim, digest in victims:
        assert hashlib.sha256(victim.read_bytes()).hexdigest() == digest
    downloads = [
        request
        for request in fut.hub.requests
        if request["method"] == "GET" and str(request["path"]).endswith("/" + victims[0][0].name)
    ]
    assert len(downloads) == 1, fut.hub.requests


def _p2p_vars(fut: FleetUnderTest, **overrides: object) -> dict[str, object]:
    """models_source=p2p on the test fleet: the controller and each host at their own loopback address."""
    return {
        "models_source": "p2p",
        "models_controller_python": sys.executable,
        "models_controller_cache_dir": str(fut.base / "controller-cache"),
        "models_host_cache_dir": "{{ host_root }}/var/cache/wanprov/models",
        "models_p2p_controller_address": "127.0.0.70",
        "models_p2p_address": "127.0.0.{{ 71 + groups['all'].index(inventory_hostname) }}",
        "models_p2p_tracker_port": 26969,
        "models_p2p_peer_port": 26881,
        "models_p2p_state_dir": str(fut.base / "swarm-state"),
        "models_p2p_linger": 3,
        "models_p2p_timeout": 120,
        **overrides,
    }


def test_p2p_hosts_swarm_the_controllers_copy(fut, first_run):
    """models_source=p2p: two hosts miss the same file; the controller seeds its cache (filled once: by the
    test above, or now), the hosts fetch it through a real swarm (libtorrent, opentracker), and
    wanprov verifies it before placing it. Each host binds its own loopback address, as on a cluster."""
    victims = []
    for host in READY_HOSTS:
        victim = next(path for path in _model_files(fut, host) if path.name.endswith("Q5_K_S.gguf"))
        victims.append((victim, hashlib.sha256(victim.read_bytes()).hexdigest()))
        victim.unlink()
    fut.hub.requests.clear()
    result = fut.converge(
        args=[
            "--tags",
            "models",
            "--extra-vars",
            json.dumps(_p2p_vars(fut)),
        ]
    )
    for host in READY_HOSTS:
        assert result.recap[host].failed == 0 and result.recap[host].changed >= 1, result.describe()
        # the engine ran on the host and left its log; the controller's copy was never needed
        assert (fut.models_dir(host) / ".wanprov-swarm" / ".engine" / "peer.libtorrent.log").is_file()
    assert "Copy the profiles' files from the controller's cache to the host" not in _changed_tasks(result)
    for victim, digest in victims:
        assert hashlib.sha256(victim.read_bytes()).hexdigest() == digest
    # at most the controller's one download (none when the test above filled its cache), never one per host
    name = victims[0][0].name
    gets = [r for r in fut.hub.requests if r["method"] == "GET" and str(r["path"]).endswith("/" + name)]
    assert len(gets) <= 1, fut.hub.requests
    assert not (fut.base / "swarm-state" / "processes.json").exists()  # tracker and seeder stopped


def test_p2p_host_whose_swarm_times_out_falls_back_and_the_report_says_so(fut, first_run):
    """models_source=p2p, one host cut off from the swarm: its cluster address (::1) cannot reach the
    tracker or the peers (IPv4), so its swarm delivers nothing before models_p2p_timeout; the play takes
    the file from the controller's copy and verifies it, the other host swarms as usual, and the fleet
    report (the report play on the controller) names per host what served it."""
    cut_off, swarmed = READY_HOSTS
    victims = []
    for host in READY_HOSTS:
        victim = next(path for path in _model_files(fut, host) if path.name.endswith("Q5_K_S.gguf"))
        victims.append((victim, hashlib.sha256(victim.read_bytes()).hexdigest()))
        victim.unlink()
    # an earlier test's copy may sit in the cut-off host's cache: without it, the copy must move bytes
    for cached in (fut.fleet.hosts[cut_off].root / "var/cache/wanprov/models").rglob(victims[0][0].name):
        cached.unlink()
    fut.hub.requests.clear()
    result = fut.converge(
        args=[
            "--tags",
            "models,report",
            "--extra-vars",
            json.dumps(
                _p2p_vars(
                    fut,
                    models_p2p_address=(
                        f"{{{{ '::1' if inventory_hostname == '{cut_off}' else "
                        "'127.0.0.' ~ (71 + groups['all'].index(inventory_hostname)) }}"
                    ),
                    # the cut-off host's timeout bounds its swarm and then the controller's copy (30 s:
                    # enough for the copy on a loaded machine; 8 s was not, and the hub served it)
                    models_p2p_timeout=f"{{{{ 30 if inventory_hostname == '{cut_off}' else 120 }}}}",
                )
            ),
        ]
    )
    for host in READY_HOSTS:
        assert result.recap[host].failed == 0 and result.recap[host].changed >= 1, result.describe()
    for victim, digest in victims:
        assert hashlib.sha256(victim.read_bytes()).hexdigest() == digest
    # the cut-off host's copy came from the controller: the copy task ran for it, and the hub sent nothing
    copy = _task_output(result, "Copy the profiles' files from the controller's cache to the host")
    assert f"changed: [{cut_off}]" in copy, copy
    assert f"changed: [{swarmed}]" not in copy and f"ok: [{swarmed}]" not in copy, copy
    name = victims[0][0].name
    assert not [r for r in fut.hub.requests if str(r["path"]).endswith("/" + name)], fut.hub.requests
    rows = json.loads(fut.report_path.read_text())["rows"]
    models_from = {row["host"]: row["models_from"] for row in rows if row["host"] in READY_HOSTS}
    assert models_from == {cut_off: "controller (p2p fell back)", swarmed: "p2p"}, rows
    assert not (fut.base / "swarm-state" / "processes.json").exists()  # tracker and seeder stopped


def _task_output(result, name: str) -> str:
    """What the playbook printed under the task `name` (up to the next task)."""
    after = result.stdout.split(f"TASK [models : {name}]", 1)
    assert len(after) == 2, result.describe()
    return after[1].split("TASK [", 1)[0]


def _changed_tasks(result) -> str:
    """The names of the tasks that changed something, from the playbook's output."""
    names, task = [], ""
    for line in result.stdout.splitlines():
        if line.startswith("TASK ["):
            task = line
        elif line.startswith("changed:"):
            names.append(task)
    return "\n".join(names)


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _answers(port: int) -> bool:
    try:
        _get_json(f"http://127.0.0.1:{port}/system_stats")
    except OSError:
        return False
    return True


def test_two_gpu_host_runs_one_instance_per_gpu(fut, first_run):
    """rtx4090 (RTX 4090 + RTX 4070 Ti SUPER): two services, each on its GPU (--cuda-device N with
    CUDA_DEVICE_ORDER=PCI_BUS_ID), its own port and output folder; workflows rendered for each GPU's tier;
    the models folder holds both profiles' files."""
    host = TWO_GPU_HOST
    units = Path(str(fut.host_vars[host]["comfyui_systemd_unit_dir"]))
    assert sorted(path.name for path in units.glob("comfyui*.service")) == [
        "comfyui-gpu0.service",
        "comfyui-gpu1.service",
    ]
    outputs = set()
    for gpu in (0, 1):
        launch = json.loads((fut.instance_dir(host, gpu) / "comfyui-launch.json").read_text())
        argv = launch["argv"]
        assert argv[argv.index("--cuda-device") + 1] == str(gpu)
        assert argv[argv.index("--port") + 1] == str(fut.port(host, gpu))
        assert launch["env"]["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
        output = argv[argv.index("--output-directory") + 1]
        assert output == str(fut.instance_dir(host, gpu) / "output")
        outputs.add(output)
        # The running process is this instance's (the double reports the argv it was started with).
        stats = _get_json(f"http://127.0.0.1:{fut.port(host, gpu)}/system_stats")
        assert stats["system"]["argv"][stats["system"]["argv"].index("--cuda-device") + 1] == str(gpu)
    assert len(outputs) == 2
    unit = (units / "comfyui-gpu1.service").read_text()
    assert "--cuda-device 1" in unit and 'Environment="CUDA_DEVICE_ORDER=PCI_BUS_ID"' in unit
    assert "ProtectSystem=strict" in unit and "NoNewPrivileges=true" in unit

    # Each instance's workflows name its own GPU's profile's files: Q5_K_S on the 4090, Q4_K_M on the 4070 Ti.
    api = [
        (fut.instance_dir(host, gpu) / "user/default/workflows/wan22-i2v-gguf-lightning.api.json").read_text()
        for gpu in (0, 1)
    ]
    assert "Q5_K_S" in api[0] and "Q4_K_M" not in api[0], api[0][:2000]
    assert "Q4_K_M" in api[1] and "Q5_K_S" not in api[1], api[1][:2000]
    names = {path.name for path in _model_files(fut, host)}
    assert any("Q5_K_S" in name for name in names) and any("Q4_K_M" in name for name in names), names


def test_fleet_report_json_has_a_row_per_instance_and_the_refused_host(fut, second_run):
    report = second_run.report
    assert report["schema"] == "wanprov.fleet-report/1"
    rows = {(row["host"], row["gpu"]): row for row in report["rows"]}
    for host, gpu in (("h100", 0), (TWO_GPU_HOST, 0), (TWO_GPU_HOST, 1)):
        row = rows[(host, gpu)]
        assert row["status"] == "healthy", row
        assert row["url"] == f"http://127.0.0.1:{fut.port(host, gpu)}", row
        assert row["workflows_validated"] == row["workflows_total"] == 1, row
    assert rows[(TWO_GPU_HOST, 0)]["profile"] != rows[(TWO_GPU_HOST, 1)]["profile"]
    assert rows[(TWO_GPU_HOST, 1)]["gpu_name"] == "NVIDIA GeForce RTX 4070 Ti SUPER"
    # Kept beside the report: each instance's health, with every file its workflows name, checked against the
    # live server's own lists (required: the models play ran) - all of its GPU's profile, present.
    health = {(result["host"], result["gpu"]): result for result in second_run.health}
    for key in (("h100", 0), (TWO_GPU_HOST, 0), (TWO_GPU_HOST, 1)):
        result = health[key]
        assert result["schema"] == "wanprov.instance-health/2" and result["files_required"] is True, result
        (workflow,) = result["workflows"]
        assert workflow["file"].endswith("/user/default/workflows/wan22-i2v-gguf-lightning.api.json")
        files = workflow["files_checked"]
        expected = {e.name for e in profile_roles(rows[key]["profile"]).values() if not e.node_pack}
        # ... and the templates' input image, which the stack put in the instances' input folder
        assert {f["name"] for f in files if f["required"]} == expected | {"example.png"}, files
        assert all(f["status"] == "present" and f["input"] and f["folders"] for f in files if f["required"])
        # The smoke ran (on by default where the models play ran): a verified video, its seconds, each
        # stage's, and its path on the host, in the instance's own output folder; the report row shows it.
        smoke = result["smoke"]
        assert smoke["schema"] == "wanprov.workflow-smoke/2" and smoke["verified"] is True, smoke
        assert smoke["output"].startswith(str(fut.instance_dir(*key) / "output") + "/"), smoke["output"]
        assert {"sampler_21", "sampler_22", "encode"} <= set(smoke["stages"]), smoke["stages"]
        row_smoke = rows[key]["smoke"]
        assert (row_smoke["status"], row_smoke["verified"], row_smoke["path"]) == (
            "success",
            True,
            smoke["output"],
        )
        assert row_smoke["media"]["codec"] == "h264" and row_smoke["media"]["frames"] == 5, row_smoke
    bad = [row for row in report["rows"] if row["host"] == BAD_HOST]
    assert bad and all(row["status"] == "refused" for row in bad), bad
    assert any("sm_120" in (row["reason"] or "") for row in bad), bad
    assert any("cu128" in (row["fix"] or "") for row in bad), bad
    assert report["ok"] is False


def test_shrinking_comfyui_gpus_removes_the_instance_and_check_reports_it(fut, first_run):
    host = TWO_GPU_HOST
    unit = Path(str(fut.host_vars[host]["comfyui_systemd_unit_dir"])) / "comfyui-gpu1.service"
    launch = fut.instance_dir(host, 1) / "comfyui-launch.json"
    only_gpu0 = ["--tags", "stack", "--extra-vars", json.dumps({"comfyui_gpus": [0]})]

    preview = fut.converge(check=True, diff=True, args=only_gpu0)
    assert preview.recap[host].changed >= 1 and preview.recap[host].failed == 0, preview.describe()
    assert str(unit) in preview.stdout, preview.describe()  # the removal, named
    assert unit.exists() and _answers(fut.port(host, 1)), "check mode must not remove anything"

    shrink = fut.converge(args=only_gpu0)
    assert shrink.recap[host].changed >= 1 and shrink.recap[host].failed == 0, shrink.describe()
    assert shrink.recap["h100"].changed == 0, shrink.describe()  # [0] is all it has
    assert not unit.exists() and not launch.exists()
    assert not _answers(fut.port(host, 1))  # stopped
    assert _answers(fut.port(host, 0))
    assert (fut.instance_dir(host, 1) / "output").is_dir()  # what users made stays

    again = fut.converge(args=only_gpu0)
    assert again.recap[host].changed == 0, again.describe()

    # Back to every usable GPU: check mode reports the removed unit (with its diff), a run restores it.
    check = fut.converge(check=True, diff=True, args=["--tags", "stack"])
    assert check.recap[host].changed >= 1 and check.recap[host].failed == 0, check.describe()
    assert str(unit) in check.stdout and "--cuda-device 1" in check.stdout, check.describe()
    assert not unit.exists()
    restore = fut.converge(args=["--tags", "stack"])
    assert restore.recap[host].failed == 0 and unit.exists(), restore.describe()
    assert _answers(fut.port(host, 1))
