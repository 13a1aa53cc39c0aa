"""The fleet report: real doctor reports of fake hosts + instance health results -> rows, JSON, table."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from doubles.gpu import TARGET_PYTHON, install_fake_host
from hostile.hostile_strategies import VALUES, mutated
from wanprov.fleet import report
from wanprov.fleet.report import FleetInputError, Health
from workflows.workflow_cli import run_wanprov

ROW_KEYS = {
    "host",
    "status",
    "gpu",
    "gpu_name",
    "pci_bus_id",
    "tier",
    "profile",
    "verdict",
    "url",
    "workflows_validated",
    "workflows_total",
    "reason",
    "fix",
    "smoke",
    "models_from",
}
# The smoke part of a wanprov.workflow-smoke/2 report, as `workflow smoke` wrote it against the ComfyUI
# double (the fields the fleet report reads).
SMOKE = {
    "schema": "wanprov.workflow-smoke/2",
    "status": "success",
    "ok": True,
    "seconds": 41.237,
    "output": "/var/lib/comfyui/gpu0/output/wanprov/smoke/wan22_i2v_00001.mp4",
    "verified": True,
    "media": [
        {
            "node_id": "40",
            "kind": "video",
            "container": "mov,mp4,m4a,3gp,3g2,mj2",
            "codec": "h264",
            "width": 320,
            "height": 192,
            "frames": 5,
            "fps": 16.0,
            "decodable": True,
            "alive": True,
            "ok": True,
            "problems": [],
        }
    ],
    "stages": {"model_load": 3.1, "text_encode": 20.5, "sampler_21": 7.0, "sampler_22": 6.9},
}


wanprov = run_wanprov  # the real CLI in a subprocess, as the workflow tests run it


# host name -> (fake host spec, extra doctor flags)
HOSTS = {
    "node8": ("h100x8", []),
    "ws": ("rtx4090_rtx5090_torch260_cu126", []),
    "ws-gpu0": ("rtx4090_rtx5090_torch260_cu126", ["--gpus", "0"]),
    "cpu": ("no_gpu", []),
}


@pytest.fixture(scope="module")
def doctor_files(tmp_path_factory) -> dict[str, Path]:
    """What each host's preflight would bring back to the controller: `wanprov doctor --format json`."""
    root = tmp_path_factory.mktemp("fleet")
    files = {}
    for host, (spec, flags) in HOSTS.items():
        env = install_fake_host(root / host, spec)
        result = wanprov(
            "doctor", "--python", TARGET_PYTHON, "--no-nvenc", "--format", "json", *flags, env=env
        )
        assert result.returncode in (0, 1), result.stderr
        files[host] = root / f"{host}.json"
        files[host].write_text(result.stdout)
    return files


def health(host: str, gpu: int, ok: bool = True, **extra: object) -> dict[str, object]:
    return {
        "schema": "wanprov.instance-health/1",
        "host": host,
        "gpu": gpu,
        "url": f"http://{host}:{8188 + gpu}",
        "ok": ok,
        "error": None if ok else "connection refused",
        "workflows_validated": 3 if ok else None,
        "workflows_total": 3,
        **extra,
    }


HEALTH = [
    *(health("node8", gpu) for gpu in range(7) if gpu != 3),  # GPU 7: no result
    health("node8", 3, ok=False),
    {**health("ws-gpu0", 0), "schema": "wanprov.instance-health/2", "smoke": SMOKE, "smoke_seconds": 41.237},
]


@pytest.fixture(scope="module")
def document(doctor_files):
    reports = {host: json.loads(path.read_text()) for host, path in doctor_files.items()}
    parsed = [report.parse_health(record, f"test[{i}]") for i, record in enumerate(HEALTH)]
    return report.build(reports, parsed, {"gone": "ssh: connect to host gone port 22: No route to host"})


def rows_of(document, host):
    return {row["gpu"]: row for row in document["rows"] if row["host"] == host}


def test_one_row_per_instance_and_per_refused_gpu(document):
    assert document["schema"] == "wanprov.fleet-report/1"
    assert all(set(row) == ROW_KEYS for row in document["rows"])
    assert [(row["host"], row["gpu"]) for row in document["rows"]] == [
        ("cpu", None),
        ("gone", None),
        *(("node8", gpu) for gpu in range(8)),
        ("ws", 0),
        ("ws", 1),
        ("ws-gpu0", 0),
        ("ws-gpu0", 1),
    ]
    assert document["counts"] == {
        "healthy": 7,
        "unhealthy": 1,
        "missing": 1,
        "refused": 3,
        "excluded": 1,
        "unreachable": 1,
        "invalid": 0,
    }
    assert document["problems"] == []
    assert document["ok"] is False


def test_healthy_instances_carry_gpu_tier_profile_url_and_workflows(document):
    node8 = rows_of(document, "node8")
    row = node8[0]
    assert (row["gpu_name"], row["tier"], row["profile"], row["verdict"], row["status"]) == (
        "NVIDIA H100 80GB HBM3",
        "xlarge",
        "wan22-i2v-a14b-q5-lightning",
        "ready",
        "healthy",
    )
    assert (row["url"], row["workflows_validated"], row["workflows_total"]) == ("http://node8:8188", 3, 3)
    assert row["pci_bus_id"] == "00000000:00:06.0"
    assert (node8[3]["status"], node8[3]["reason"]) == ("unhealthy", "connection refused")
    assert "journalctl" in node8[3]["fix"]
    assert node8[7]["status"] == "missing" and "not deployed" in node8[7]["reason"]


def test_refused_gpu_and_host_say_why_and_how_to_fix(document):
    ws = rows_of(document, "ws")
    assert (ws[1]["status"], ws[1]["verdict"]) == ("refused", "fail")
    assert ws[1]["gpu_name"] == "NVIDIA GeForce RTX 5090"
    assert ws[1]["reason"].startswith("torch_arch_coverage: torch 2.6.0+cu126 has no kernels for sm_120")
    assert "\n" not in ws[1]["reason"]  # the kernel's multi-line error is one line in a row
    assert "--index-url https://download.pytorch.org/whl/cu128" in ws[1]["fix"]
    # the 4090 is fine, but the host's report is not ok: nothing was deployed on it either
    assert (ws[0]["status"], ws[0]["verdict"]) == ("refused", "ready")
    assert ws[0]["reason"] == "the host was refused: GPU 1 failed the doctor"
    assert "wanprov doctor --gpus 0" in ws[0]["fix"]
    chosen = rows_of(document, "ws-gpu0")
    assert (chosen[0]["status"], chosen[1]["status"]) == ("healthy", "excluded")
    [cpu] = rows_of(document, "cpu").values()
    assert cpu["status"] == "refused" and "no usable NVIDIA GPU" in cpu["reason"] and cpu["fix"]
    [gone] = rows_of(document, "gone").values()
    assert gone["status"] == "unreachable" and "No route to host" in gone["reason"]


def test_an_instance_row_shows_its_smoke_seconds_video_and_path_on_the_host(document):
    row = rows_of(document, "ws-gpu0")[0]
    assert row["smoke"] == {
        "status": "success",
        "seconds": 41.237,
        "path": "/var/lib/comfyui/gpu0/output/wanprov/smoke/wan22_i2v_00001.mp4",
        "media": {
            "container": "mov,mp4,m4a,3gp,3g2,mj2",
            "codec": "h264",
            "width": 320,
            "height": 192,
            "frames": 5,
            "fps": 16.0,
        },
        "verified": True,
    }
    assert rows_of(document, "node8")[0]["smoke"] is None  # no smoke ran there
    text = report.render_text(document)
    line = next(line for line in text.splitlines() if line.startswith("ws-gpu0") and " 0 " in line)
    assert line.split("  ")[-2:] == ["ok 41.2 s h264 320x192 5f@16fps", "-"]  # smoke, then models
    assert (
        "ws-gpu0 GPU 0 smoke output: /var/lib/comfyui/gpu0/output/wanprov/smoke/wan22_i2v_00001.mp4" in text
    )


def test_a_smoke_that_did_not_verify_shows_its_status():
    bad = {**SMOKE, "status": "unverified", "ok": False, "verified": False, "output": None}
    smoke = report.smoke_of(bad)
    assert smoke is not None and (smoke.status, smoke.verified, smoke.path) == ("unverified", False, None)
    assert report._smoke_cell(dataclasses.asdict(smoke)) == "unverified 41.2 s"


def test_text_table_and_problems(document):
    text = report.render_text(document)
    header, *lines = text.splitlines()
    assert header.split() == [
        "host",
        "GPU",
        "name",
        "tier",
        "profile",
        "verdict",
        "status",
        "URL",
        "workflows",
        "smoke",
        "models",
    ]
    assert any(line.startswith("node8") and "http://node8:8188" in line and "3/3" in line for line in lines)
    assert "ws GPU 1: refused: " in text and "  fix: install the cu128 wheel" in text
    assert text.endswith(
        "FLEET NOT OK: 7 healthy, 1 unhealthy, 1 missing, 3 refused, 1 excluded, 1 unreachable"
    )


def test_cli_prints_one_json_document_and_writes_it(doctor_files, tmp_path):
    health_file = tmp_path / "health.json"
    health_file.write_text(json.dumps(HEALTH))
    out = tmp_path / "reports" / "fleet.json"
    out.parent.mkdir()
    args = [f"--doctor={host}={path}" for host, path in doctor_files.items()]
    result = wanprov(
        "fleet-report", *args, "--health", str(health_file), "--output", str(out), "--format", "json"
    )
    assert result.returncode == 1  # not every instance is healthy
    assert json.loads(result.stdout) == json.loads(out.read_text())
    assert json.loads(out.read_text())["counts"]["healthy"] == 7


def test_each_hosts_model_sources_are_a_column(doctor_files, tmp_path):
    health_file = tmp_path / "health.json"
    health_file.write_text(json.dumps([health("ws-gpu0", 0)]))
    result = wanprov(
        "fleet-report", f"--doctor=ws-gpu0={doctor_files['ws-gpu0']}", "--health", str(health_file),
        "--models-from=ws-gpu0=hub (p2p fell back)", "--format", "json",
    )  # fmt: skip
    assert {row["models_from"] for row in json.loads(result.stdout)["rows"]} == {"hub (p2p fell back)"}
    text = wanprov(
        "fleet-report", f"--doctor=ws-gpu0={doctor_files['ws-gpu0']}", "--health", str(health_file),
        "--models-from=ws-gpu0=p2p",
    )  # fmt: skip
    assert text.stdout.splitlines()[0].split()[-1] == "models" and text.stdout.splitlines()[
        1
    ].rstrip().endswith("p2p")


def test_cli_exit_0_when_every_instance_is_healthy(doctor_files, tmp_path):
    health_file = tmp_path / "health.json"
    health_file.write_text(json.dumps([health("node8", gpu) for gpu in range(8)] + [health("ws-gpu0", 0)]))
    args = [f"--doctor=node8={doctor_files['node8']}", f"--doctor=ws-gpu0={doctor_files['ws-gpu0']}"]
    result = wanprov("fleet-report", *args, "--health", str(health_file))
    assert result.returncode == 0, result.stdout
    assert result.stdout.rstrip().endswith("FLEET OK: 9 healthy, 1 excluded")


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({**health("node8", 0), "gpu": "0"}, "'gpu' is '0'; expected int"),
        ({**health("node8", 0), "gpu": True}, "'gpu' is True; expected int"),
        ({"host": "node8", "gpu": 0, "ok": True}, "has no 'url'"),
        (health("node8", 9), "health result for GPU 9 of node8, whose doctor report lists GPUs [0, 1, 2"),
        (health("elsewhere", 0), "health results for elsewhere, which has no doctor report"),
        ({**health("node8", 0), "schema": "other/1"}, "expected one of wanprov.instance-health/1, "),
    ],
)
def test_bad_health_results_exit_10_naming_what_and_still_report_every_host(
    doctor_files, tmp_path, record, message
):
    health_file = tmp_path / "health.json"
    health_file.write_text(json.dumps([record, health("node8", 1)]))
    result = wanprov(
        "fleet-report",
        f"--doctor=node8={doctor_files['node8']}",
        "--health",
        str(health_file),
        "--format",
        "json",
    )
    assert result.returncode == 10
    document = json.loads(result.stdout)
    assert document["ok"] is False
    assert any(message in problem for problem in document["problems"]), document["problems"]
    assert [row["gpu"] for row in document["rows"]] == list(range(8))  # every GPU still has its row
    assert document["rows"][1]["status"] == "healthy"


def test_report_of_an_older_doctor_is_refused_with_the_upgrade(tmp_path, doctor_files):
    old = json.loads(doctor_files["node8"].read_text())
    del old["summary"]["gpus"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    result = wanprov("fleet-report", f"--doctor=node8={path}", "--format", "json")
    assert result.returncode == 10
    (row,) = json.loads(result.stdout)["rows"]
    assert row["status"] == "invalid" and "upgrade wanprov on node8" in row["fix"]


def test_usage_and_output_errors(tmp_path, doctor_files):
    assert wanprov("fleet-report").returncode == 2
    assert wanprov("fleet-report", "--doctor", "node8").returncode == 2
    doubled = [f"--doctor=node8={doctor_files['node8']}"] * 2
    assert wanprov("fleet-report", *doubled).returncode == 2
    (tmp_path / "a-file").write_text("")
    blocked = wanprov(
        "fleet-report",
        f"--doctor=node8={doctor_files['node8']}",
        "--output",
        str(tmp_path / "a-file" / "r.json"),
    )
    assert blocked.returncode == 3 and "cannot write fleet report" in blocked.stderr


def test_duplicate_health_results_are_a_problem_named_in_the_report(doctor_files):
    node8 = json.loads(doctor_files["node8"].read_text())
    twice = [Health("node8", 0, "http://a:8188", True), Health("node8", 0, "http://a:8188", False)]
    document = report.build({"node8": node8}, twice)
    assert document["problems"] == ["two health results for GPU 0 of node8: the second left out"]
    assert report.has_bad_input(document)


def test_a_host_both_reported_and_unreachable_is_a_callers_mistake():
    with pytest.raises(FleetInputError, match="host a has a doctor report and is listed as unreachable"):
        report.build({"a": {}}, [], {"a": "down"})


def test_the_health_cores_result_reads_as_does_an_older_roles():
    """What `wanprov health check` / wanprov.gpu.health return (/2) reads, and a /1 record still does."""
    from wanprov.health.instance import InstanceHealth, WorkflowHealth

    result = InstanceHealth("a", 1, "http://a:8189", require_files=True)
    result.workflows = [WorkflowHealth("w.api.json", True), WorkflowHealth("x.api.json", False, ["bad"])]
    result.error = "x.api.json: bad"
    current = report.parse_health(result.to_dict(), "health.json[0]")
    assert current == Health("a", 1, "http://a:8189", False, "x.api.json: bad", 1, 2)
    assert report.parse_health(health("a", 0), "health.json[1]") == Health(
        "a", 0, "http://a:8188", True, None, 3, 3
    )


# ---- hostile inputs: one bad host never takes the report down; host text never forges output


def _with_one_bad_host(doctor_files, bad: object) -> dict[str, object]:
    reports: dict[str, object] = {host: json.loads(path.read_text()) for host, path in doctor_files.items()}
    reports["bad"] = bad
    return reports


@given(data=st.data())
@settings(max_examples=40, deadline=None, derandomize=True, database=None)
def test_a_doctor_report_of_any_shape_is_a_row_never_a_crash(doctor_files, data):
    good = json.loads(doctor_files["node8"].read_text())
    bad = data.draw(st.one_of(VALUES, st.builds(lambda: good).map(lambda d: mutated(d, data.draw))))
    document = report.build(_with_one_bad_host(doctor_files, bad))
    rows = [row for row in document["rows"] if row["host"] == "bad"]
    assert rows, document
    assert {row["host"] for row in document["rows"]} == {*HOSTS, "bad"}  # every other host still reported
    if any(row["status"] == "invalid" for row in rows):
        assert len(rows) == 1 and rows[0]["reason"].startswith("doctor report of bad")
    text = report.render_text(document)
    assert "\x1b" not in text and text.splitlines()[-1].startswith("FLEET NOT OK")


def test_host_text_cannot_forge_a_line_or_send_escapes(doctor_files):
    forged = json.loads(doctor_files["ws"].read_text())
    forged["summary"]["gpus"][0]["name"] = "RTX\n\nFLEET OK: 9 healthy\x1b]0;owned\x07\x1b[2J"
    forged["findings"][0]["message"] = "fine\nFLEET OK: 1 healthy\x1b]52;c;cm0gLXJmIH4=\x07"
    forged["findings"][0]["severity"] = "fail"
    document = report.build({"ws": forged})
    text = report.render_text(document)
    assert "\x1b" not in text and "\x07" not in text
    assert [line for line in text.splitlines() if line.startswith("FLEET")] == [text.splitlines()[-1]]
    assert "RTX\\n\\nFLEET OK" in text


def test_an_unreadable_doctor_file_is_an_invalid_row_and_exit_10(doctor_files, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema": "wanprov.doctor/1", "schema": "x"}')
    result = wanprov(
        "fleet-report", f"--doctor=node8={doctor_files['node8']}", f"--doctor=broken={broken}",
        f"--doctor=gone={tmp_path / 'missing.json'}", "--format", "json",
    )  # fmt: skip
    assert result.returncode == 10, result.stderr
    rows = json.loads(result.stdout)["rows"]
    invalid = {row["host"]: row["reason"] for row in rows if row["status"] == "invalid"}
    assert "duplicate key 'schema'" in invalid["broken"] and "cannot be read" in invalid["gone"]
    assert len([row for row in rows if row["host"] == "node8"]) == 8


def test_gpus_left_out_by_comfyui_gpus_are_excluded_not_missing(doctor_files):
    reports = {"node8": json.loads(doctor_files["node8"].read_text())}
    results = [report.parse_health(health("node8", gpu), "t") for gpu in (0, 1)]
    document = report.build(reports, results, instances={"node8": [0, 1]})
    statuses = [row["status"] for row in document["rows"]]
    assert statuses == ["healthy", "healthy"] + ["excluded"] * 6
    assert "comfyui_gpus" in document["rows"][2]["reason"] and document["ok"] is True


def test_output_obeys_the_writer_rules(doctor_files, tmp_path):
    args = ("fleet-report", f"--doctor=node8={doctor_files['node8']}", "--format", "json", "--output")
    target = tmp_path / "elsewhere.json"
    target.write_text("keep\n")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    for path in (link, fifo):
        result = wanprov(*args, str(path))
        assert result.returncode == 2, result.stdout
    assert target.read_text() == "keep\n" and link.is_symlink()
    missing = tmp_path / "no" / "such" / "report.json"
    assert wanprov(*args, str(missing)).returncode == 3
    assert not (tmp_path / "no").exists()


def test_a_host_name_with_control_characters_is_a_usage_error(doctor_files):
    result = wanprov("fleet-report", f"--doctor=x\x1b[2J={doctor_files['node8']}")
    assert result.returncode == 2 and "\x1b" not in result.stderr


def test_a_cpu_instance_gets_its_own_row(doctor_files):
    """A host without a GPU that runs ComfyUI on the CPU (comfyui_cpu; --instances HOST=cpu): its instance's
    health result (gpu null) is its row, not a stray result of GPU 0."""
    doctor = json.loads(doctor_files["cpu"].read_text())
    doctor = {**doctor, "ok": True, "findings": [f for f in doctor["findings"] if f["severity"] != "fail"]}
    result = report.parse_health({**health("cpu", 0), "gpu": None}, "test")
    document = report.build({"cpu": doctor}, [result], instances={"cpu": [None]})
    assert document["problems"] == [] and document["ok"] is True, document
    (row,) = document["rows"]
    assert (row["gpu"], row["status"], row["gpu_name"], row["url"]) == (
        None,
        "healthy",
        "CPU (--cpu)",
        result.url,
    )
    without = report.build({"cpu": doctor}, [result])  # no instance planned: the result is a stray
    assert without["problems"] and without["rows"][0]["status"] == "refused"
    unhealthy = report.parse_health({**health("cpu", 0, ok=False), "gpu": None}, "test")
    (row,) = report.build({"cpu": doctor}, [unhealthy], instances={"cpu": [None]})["rows"]
    assert row["status"] == "unhealthy" and "comfyui-cpu" in row["fix"]


def test_cli_reads_a_cpu_instance(doctor_files, tmp_path):
    """`--instances HOST=cpu` (the fleet report role's word for a comfyui_cpu host's instance)."""
    doctor = json.loads(doctor_files["cpu"].read_text())
    doctor = {**doctor, "ok": True, "findings": [f for f in doctor["findings"] if f["severity"] != "fail"]}
    (tmp_path / "cpu.json").write_text(json.dumps(doctor))
    (tmp_path / "health.json").write_text(json.dumps([{**health("cpu", 0), "gpu": None}]))
    args = [f"--doctor=cpu={tmp_path / 'cpu.json'}", "--health", str(tmp_path / "health.json")]
    result = wanprov("fleet-report", *args, "--instances=cpu=cpu", "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [(row["gpu"], row["status"]) for row in json.loads(result.stdout)["rows"]] == [(None, "healthy")]
    refused = wanprov("fleet-report", *args, "--format", "json")  # no instance named: a stray result
    assert refused.returncode == 10, refused.stdout
