"""wanprov.health.instance against the ComfyUI double (a real process that lists what its folders hold, as
ComfyUI 0.3.64 does): the wait, the live validation with every file listed, file lists required, the smoke,
and `wanprov health check`'s exit codes and single JSON document."""

from __future__ import annotations

import http.server
import json
import shutil
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from wanprov.commands.health import check_command
from wanprov.exit_codes import ExitCode
from wanprov.health.instance import MISSING, PRESENT, SCHEMA, HealthRequest, SmokeRequest, check_instance
from wanprov.models.catalog import profile_roles
from wanprov.stack.service_wait import Watch
from wanprov.workflows.install import RenderRequest, install, render_set
from wanprov.workflows.model_folders import load_file_inputs
from wanprov.workflows.schema import load_object_info
from workflows.comfyui_double import MINIMAL_FILES, comfyui_double

TEMPLATE = "wan22-i2v-gguf-lightning"
PROFILE = "wan22-i2v-a14b-q5-lightning"


def _running(log: str = "") -> Watch:
    """A service that keeps running (the double's process outlives each test)."""
    return Watch("test service", lambda: "4242", lambda lines: log)


@pytest.fixture(scope="module")
def double(tmp_path_factory: pytest.TempPathFactory, object_info_path: Path) -> Iterator[tuple[str, Path]]:
    with comfyui_double(tmp_path_factory.mktemp("double"), object_info_path) as (url, comfy):
        yield url, comfy


@pytest.fixture(scope="module")
def workflows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The instance's rendered workflows, as the workflows role installs them (both formats)."""
    files, _ = render_set([TEMPLATE], RenderRequest(profile=PROFILE, tier="large"), load_object_info())
    dest = tmp_path_factory.mktemp("user") / "default" / "workflows"
    install(files, dest)
    return dest


def _profile_files() -> list[tuple[str, str]]:
    """(models folder, file name) of every file the profile's loaders list from ComfyUI's model folders (a
    node pack's own checkpoint, RIFE's, is a fixed choice the pack lists whether or not it is there)."""
    return [(e.folder, e.name) for e in profile_roles(PROFILE).values() if not e.node_pack]


@pytest.fixture
def models_in_place(double: tuple[str, Path]) -> Iterator[None]:
    """The profile's files in the double's models folders (as the models play leaves them); removed after."""
    _, comfy = double
    for folder, name in _profile_files():
        (comfy / "models" / folder).mkdir(parents=True, exist_ok=True)
        (comfy / "models" / folder / name).write_bytes(MINIMAL_FILES.get(Path(name).suffix, b""))
    yield
    shutil.rmtree(comfy / "models")


def _request(url: str, workflows: Path, **fields: object) -> HealthRequest:
    return HealthRequest(
        **{"url": url, "workflows_dir": workflows, "watch": _running(), "host": "h", "gpu": 0, **fields}
    )


def test_every_file_each_workflow_names_is_listed_with_its_status(double, workflows):
    url, _ = double
    result = check_instance(_request(url, workflows)).to_dict()
    assert result["schema"] == SCHEMA
    assert result["ok"] is True and result["exit_code"] == 0, result["error"]
    assert result["comfyui_version"]  # read from /system_stats
    assert result["files_required"] is False
    (workflow,) = result["workflows"]
    assert workflow["file"] == str(workflows / f"{TEMPLATE}.api.json")
    checked = workflow["files_checked"]
    # every model file of the profile and the input image, each named with its loader input and folders;
    # no model listed yet, the image (the checkout's input/example.png) is
    names = {name for _, name in _profile_files()} | {"example.png"}
    assert {file["name"] for file in checked if file["required"]} == names
    assert {f["status"] for f in checked if f["class_type"] != "LoadImage"} == {MISSING}
    assert [f["status"] for f in checked if f["class_type"] == "LoadImage"] == [PRESENT]
    rules = load_file_inputs()
    for file in checked:
        assert tuple(file["folders"]) == rules.folders_of(file["class_type"], file["input"])
        assert file["node_id"] and file["input"]
    assert (result["workflows_validated"], result["workflows_total"]) == (1, 1)


def test_file_lists_required_make_each_missing_model_an_error(double, workflows):
    url, _ = double
    result = check_instance(_request(url, workflows, require_files=True)).to_dict()
    assert result["ok"] is False and result["exit_code"] == ExitCode.CHECK_FAILED
    (workflow,) = result["workflows"]
    missing = [f for f in workflow["files_checked"] if f["status"] == MISSING]
    assert len(workflow["problems"]) == len(missing)
    for file in missing:
        where = f"node {file['node_id']} ({file['class_type']}) {file['input']}"
        line = f"file not on the server: {where}: {file['name']}"
        assert line in workflow["problems"]
        assert line in result["error"]
    assert not any("LoadImage" in problem for problem in workflow["problems"])  # the image is there
    assert (result["workflows_validated"], result["workflows_total"]) == (0, 1)


def test_files_in_place_are_present_and_required_lists_pass(double, workflows, models_in_place):
    url, _ = double
    result = check_instance(_request(url, workflows, require_files=True)).to_dict()
    assert result["ok"] is True, result["error"]
    (workflow,) = result["workflows"]
    assert {f["status"] for f in workflow["files_checked"] if f["required"]} == {PRESENT}


def test_the_smoke_runs_only_on_a_gpu_instance_with_a_tier(double, workflows, models_in_place):
    url, _ = double
    smoke = SmokeRequest(TEMPLATE, PROFILE, timeout_s=60)
    ran = check_instance(_request(url, workflows, tier="large", smoke=smoke)).to_dict()
    assert ran["ok"] is True, ran["error"]
    assert ran["smoke"]["ok"] is True and isinstance(ran["smoke_seconds"], float)
    for fields in ({"tier": "none"}, {"tier": None}, {"tier": "large", "gpu": None}):
        skipped = check_instance(_request(url, workflows, smoke=smoke, **fields)).to_dict()
        assert skipped["ok"] is True, (fields, skipped["error"])
        assert skipped["smoke"] is None and skipped["smoke_seconds"] is None


def test_no_workflows_is_an_error_naming_the_folder(double, tmp_path):
    url, _ = double
    result = check_instance(_request(url, tmp_path / "none")).to_dict()
    assert result["ok"] is False and result["exit_code"] == ExitCode.CHECK_FAILED
    assert str(tmp_path / "none") in result["error"] and "run the workflows stage" in result["error"]


def test_an_unreadable_workflow_fails_alone_with_its_reason(double, workflows, tmp_path):
    url, _ = double
    folder = tmp_path / "workflows"
    shutil.copytree(workflows, folder)
    (folder / "broken.api.json").write_text("{not json")
    result = check_instance(_request(url, folder)).to_dict()
    assert (result["workflows_validated"], result["workflows_total"]) == (1, 2)
    assert "broken.api.json" in result["error"] and "not readable JSON" in result["error"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_service_that_died_ends_the_wait_at_once_with_its_log(workflows):
    why = "RuntimeError: wanprov test: ComfyUI died at start"
    gone = Watch("test service", lambda: None, lambda lines: f"Traceback ...\n{why}")
    url = f"http://127.0.0.1:{_closed_port()}"
    request = HealthRequest(url=url, workflows_dir=workflows, watch=gone, wait_timeout_s=600)
    result = check_instance(request).to_dict()
    assert result["ok"] is False and result["exit_code"] == ExitCode.SERVICE_DOWN == 11
    assert (
        result["error"].startswith("does not answer: ComfyUI exited before answering")
        and why in result["error"]
    )
    assert result["workflows"] == [] and result["workflows_total"] == 0


def test_cli_prints_one_json_document_and_exits_with_the_result(double, workflows, tmp_path):
    url, _ = double
    pidfile, log = tmp_path / "comfyui.pid", tmp_path / "comfyui.log"
    pidfile.write_text("1\n")  # a running process (init) stands for the service
    log.write_text("")
    args = ["--url", url, "--workflows-dir", str(workflows), "--pidfile", str(pidfile), "--log", str(log)]
    ok = CliRunner().invoke(check_command, [*args, "--gpu", "0", "--format", "json"], standalone_mode=False)
    assert ok.exception is None and ok.return_value == 0, ok.output
    assert json.loads(ok.output)["workflows"][0]["files_checked"]
    bad = CliRunner().invoke(
        check_command, [*args, "--require-files", "--format", "json"], standalone_mode=False
    )
    assert bad.return_value == ExitCode.CHECK_FAILED
    document = json.loads(bad.output)  # exactly one JSON document
    assert document["ok"] is False and "file not on the server" in document["error"]
    assert document["gpu"] is None  # no --gpu: a --cpu instance, not GPU 0's
    text = CliRunner().invoke(check_command, [*args, "--require-files"], standalone_mode=False)
    assert "missing" in text.output and "UnetLoaderGGUF" in text.output


def test_cli_needs_one_way_to_watch_the_service(workflows):
    result = CliRunner().invoke(
        check_command,
        ["--url", "http://127.0.0.1:1", "--workflows-dir", str(workflows)],
        standalone_mode=False,
    )
    assert result.exception is not None and result.exception.exit_code == ExitCode.USAGE


class _StopsAnsweringOnPost(http.server.BaseHTTPRequestHandler):
    """In front of the double: GETs go through (the instance answers and its schemas validate); the first
    POST (the smoke's upload or queueing) finds the server gone - the connection closes without an answer."""

    upstream = ""

    def do_GET(self) -> None:
        with urllib.request.urlopen(self.upstream + self.path, timeout=30) as answer:
            body = answer.read()
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_POST(self) -> None:
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_that_stops_answering_during_the_smoke_makes_the_instance_unhealthy(
    double, workflows, models_in_place
):
    url, _ = double
    handler = type("Handler", (_StopsAnsweringOnPost,), {"upstream": url})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        front = f"http://127.0.0.1:{server.server_address[1]}"
        smoke = SmokeRequest(TEMPLATE, PROFILE, timeout_s=60)
        result = check_instance(_request(front, workflows, tier="large", smoke=smoke)).to_dict()
    finally:
        server.shutdown()
        server.server_close()
    assert result["ok"] is False and result["exit_code"] == ExitCode.NETWORK == 5, result
    assert result["error"].startswith(f"wanprov workflow smoke {TEMPLATE}: "), result["error"]
    assert result["workflows_validated"] == result["workflows_total"] == 1  # the schemas did validate


def test_a_smoke_whose_video_is_black_makes_the_instance_unhealthy_with_14(
    tmp_path, object_info_path, workflows
):
    """History says "success", the file is there - and every frame is black (NaN upstream): not healthy."""
    with comfyui_double(tmp_path, object_info_path, env={"COMFYUI_DOUBLE_OUTPUT": "black"}) as (url, comfy):
        for folder, name in _profile_files():
            (comfy / "models" / folder).mkdir(parents=True, exist_ok=True)
            (comfy / "models" / folder / name).write_bytes(MINIMAL_FILES.get(Path(name).suffix, b""))
        smoke = SmokeRequest(TEMPLATE, PROFILE, timeout_s=60)
        result = check_instance(_request(url, workflows, tier="large", smoke=smoke)).to_dict()
    assert result["ok"] is False and result["exit_code"] == ExitCode.OUTPUT_UNVERIFIED, result["error"]
    assert result["smoke"]["status"] == "unverified" and result["smoke_seconds"] is None
    assert "not alive" in result["error"]


# ---- the input image: health refuses what POST /prompt refuses ------------------------------------------


def test_an_input_folder_without_the_templates_image_is_unhealthy_as_post_prompt_refuses(
    tmp_path, object_info_path, workflows
):
    """A provisioned instance's input folder is the data folder's (--input-directory), not the checkout's:
    without the image the templates name, POST /prompt refuses the installed workflow as installed, and
    health says so; once the stack core copied the checkout's example.png there, both accept it."""
    from doubles.comfyui_app import example_png
    from wanprov.stack.input_images import apply_input_images, plan_input_images

    data_input = tmp_path / "data" / "input"
    data_input.mkdir(parents=True)
    with comfyui_double(tmp_path, object_info_path, args=("--input-directory", str(data_input))) as (
        url,
        comfy,
    ):
        installed = json.loads((workflows / f"{TEMPLATE}.api.json").read_text())
        status, reply = _post(url, {"prompt": installed})
        result = check_instance(_request(url, workflows)).to_dict()
        assert status == 400 and "1" in reply["node_errors"]  # LoadImage: value_not_in_list
        assert result["ok"] is False and result["exit_code"] == ExitCode.CHECK_FAILED
        assert "(LoadImage) image: example.png" in result["error"]

        plan = plan_input_images(comfy, data_input)
        assert [(i.name, i.action) for i in plan] == [("example.png", "copy")]
        assert [i.name for i in apply_input_images(plan)] == ["example.png"]
        assert (data_input / "example.png").read_bytes() == example_png()
        assert [i.action for i in plan_input_images(comfy, data_input)] == ["present"]  # idempotent

        status, reply = _post(url, {"prompt": installed})
        result = check_instance(_request(url, workflows)).to_dict()
    assert result["ok"] is True, result["error"]
    # accepted as installed: the models are missing here, so only the loaders' lists refuse
    assert "1" not in reply.get("node_errors", {}), reply


def test_a_users_image_of_the_same_name_is_never_replaced(tmp_path):
    from wanprov.stack.input_images import apply_input_images, plan_input_images

    checkout, data_input = tmp_path / "ComfyUI", tmp_path / "input"
    (checkout / "input").mkdir(parents=True)
    (checkout / "input" / "example.png").write_bytes(b"shipped")
    data_input.mkdir()
    (data_input / "example.png").write_bytes(b"the user's")
    plan = plan_input_images(checkout, data_input)
    assert [i.action for i in plan] == ["present"] and apply_input_images(plan) == []
    assert (data_input / "example.png").read_bytes() == b"the user's"


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url + "/prompt", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
