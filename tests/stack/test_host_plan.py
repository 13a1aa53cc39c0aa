"""wanprov.stack.host_plan: the one stack plan (torch, pins, pip arguments, protection files, and the
instances: one ComfyUI per GPU with its port, device, tier flags, folders, service and URL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wanprov.errors import ManifestError, UsageError
from wanprov.stack.constraints import read_pins
from wanprov.stack.errors import RefusedError
from wanprov.stack.host_plan import StackRequest, TorchRequest, plan_stack, settle_torch, torch_pins

DOCTOR_TORCH = {
    "variant": "cu128",
    "index_url": "https://download.pytorch.org/whl/cu128",
    "torch": "2.9.1",
    "torchvision": "0.24.1",
    "torchaudio": "2.9.1",
    "pip_install": "pip install ...",
    "reason": "driver 570 runs CUDA 12.8",
}


def _gpu(index: int, name: str, tier: str, profile: str, flags: list[str], verdict: str = "ready") -> dict:
    return {"index": index, "name": name, "pci_bus_id": f"00000000:0{index + 1}:00.0", "vram_tier": tier,
            "recommended_profile": profile, "launch_flags": flags, "verdict": verdict}  # fmt: skip


# A mixed workstation: GPU 0 large (no tier flags), GPU 1 small (--lowvram), GPU 2 failed by the doctor.
SUMMARY = {
    "torch": DOCTOR_TORCH,
    "launch_flags": ["--reserve-vram", "2"],
    "gpus": [
        _gpu(0, "RTX 4090", "large", "q5", []),
        _gpu(1, "RTX 3060", "small", "q3", ["--lowvram"]),
        _gpu(2, "RTX 5090", "large", "q5", [], "fail"),
    ],
    "usable_gpus": [0, 1],
}
ONE_GPU = {**SUMMARY, "gpus": [_gpu(0, "H100", "large", "q8", ["--reserve-vram", "2"])], "usable_gpus": [0]}


def request(root: Path, **extra: object) -> StackRequest:
    return StackRequest(install_dir=root / "ComfyUI", venv_dir=root / "venv", data_dir=root / "data", **extra)


def _flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_the_doctor_decides_when_nothing_is_explicit(tmp_path):
    plan = plan_stack(request(tmp_path), SUMMARY)
    assert plan.torch == {
        "variant": "cu128", "torch": "2.9.1", "torchvision": "0.24.1", "torchaudio": "2.9.1",
        "index_url": "https://download.pytorch.org/whl/cu128", "source": "doctor",
    }  # fmt: skip
    assert plan.torch_pins == {"torch": "2.9.1", "torchvision": "0.24.1", "torchaudio": "2.9.1"}
    assert plan.torch_pip_args == ["--index-url", "https://download.pytorch.org/whl/cu128"]
    assert plan.pip_args == []
    (instance,) = plan_stack(request(tmp_path), ONE_GPU).instances
    gpu0 = f"{tmp_path}/data/gpu0"
    assert instance.flags == [
        "--reserve-vram", "2", "--listen", "127.0.0.1", "--input-directory", f"{tmp_path}/data/input",
        "--disable-auto-launch", "--port", "8188", "--output-directory", f"{gpu0}/output",
        "--temp-directory", f"{gpu0}/temp", "--user-directory", f"{gpu0}/user",
        "--database-url", f"sqlite:///{gpu0}/user/comfyui.db", "--cuda-device", "0",
    ]  # fmt: skip
    assert instance.url == "http://127.0.0.1:8188"
    assert instance.argv == [f"{tmp_path}/venv/bin/python", f"{tmp_path}/ComfyUI/main.py", *instance.flags]


def test_protection_files_are_the_constraints_modules_text(tmp_path):
    plan = plan_stack(request(tmp_path), SUMMARY)
    constraints = tmp_path / "venv" / "wanprov-constraints.txt"
    assert plan.constraints == str(constraints)
    constraints.parent.mkdir()
    constraints.write_text(plan.files[str(constraints)])
    assert read_pins(constraints) == plan.torch_pins  # what install-nodes reads back is what was planned
    assert f"constraint = {constraints}\n" in plan.files[str(tmp_path / "venv" / "pip.conf")]
    assert plan.to_dict()["schema"] == "wanprov.stack/2"


def test_explicit_torch_and_flags_win(tmp_path):
    torch = TorchRequest(variant="cu126", torch="2.8.0", torchvision="0.23.0", torchaudio="2.8.0")
    plan = plan_stack(
        request(
            tmp_path, torch=torch, launch_flags=["--lowvram"], extra_launch_flags=["--use-sage-attention"],
            pip_index_url="https://pypi.example/simple",
            pip_extra_args="--no-index --find-links '/srv/my wheels'",
            models_dir=tmp_path / "models", listen="0.0.0.0", port=8288,
        ),
        SUMMARY,
    )  # fmt: skip
    assert plan.torch["index_url"] == "https://download.pytorch.org/whl/cu126"
    assert plan.torch_pins == {"torch": "2.8.0", "torchvision": "0.23.0", "torchaudio": "2.8.0"}
    assert plan.pip_args == [
        "--index-url",
        "https://pypi.example/simple",
        "--no-index",
        "--find-links",
        "/srv/my wheels",
    ]
    assert plan.torch_pip_args[:2] == ["--index-url", "https://download.pytorch.org/whl/cu126"]
    for instance in plan.instances:  # explicit flags apply to every GPU (no per-GPU --lowvram)
        assert instance.flags[:4] == ["--lowvram", "--use-sage-attention", "--listen", "0.0.0.0"]
        assert (
            _flag(instance.flags, "--extra-model-paths-config") == f"{tmp_path}/data/extra_model_paths.yaml"
        )
    assert [i.port for i in plan.instances] == [8288, 8289]


def test_explicit_everything_needs_no_doctor(tmp_path):
    torch = TorchRequest(
        variant="cu128",
        torch="2.9.1",
        torchvision="0.24.1",
        torchaudio="2.9.1",
        index_url="https://mirror/whl",
    )
    plan = plan_stack(request(tmp_path, torch=torch, launch_flags_auto=False, gpus=[0, 1]))
    assert plan.torch["index_url"] == "https://mirror/whl"
    assert [(i.name, i.flags[0], i.gpu_name) for i in plan.instances] == [
        ("gpu0", "--listen", None),
        ("gpu1", "--listen", None),
    ]


def test_auto_flags_off_means_no_tier_flags(tmp_path):
    plan = plan_stack(request(tmp_path, launch_flags_auto=False), SUMMARY)
    assert all(i.flags[0] == "--listen" for i in plan.instances)


def test_index_override_applies_to_the_doctors_choice():
    torch = settle_torch(TorchRequest(index_url="https://mirror/whl/cu128"), DOCTOR_TORCH)
    assert (torch["index_url"], torch["source"]) == ("https://mirror/whl/cu128", "doctor")


@pytest.mark.parametrize(
    ("torch", "summary", "error", "message"),
    [
        (TorchRequest(variant="cu128"), SUMMARY, UsageError, "must be set together"),
        (TorchRequest(torch="2.9.1"), SUMMARY, UsageError, "must be set together"),
        (TorchRequest(), {"torch": None, "launch_flags": []}, RefusedError, "no torch wheel"),
        (TorchRequest(), None, UsageError, "no doctor summary"),
        (TorchRequest(variant="cu128", torch="2.9.1", torchvision="0.24.1"), SUMMARY, UsageError, "together"),
        (
            TorchRequest(variant="cu128", torch="2.9.1", torchvision="0.24.1", torchaudio="2.9.1"),
            None,
            UsageError,
            "launch flags",
        ),
    ],
)
def test_refusals_say_why(tmp_path, torch, summary, error, message):
    with pytest.raises(error, match=message) as raised:
        plan_stack(request(tmp_path, torch=torch), summary)
    assert raised.value.hint


def test_the_three_wheels_are_pinned_together_as_given():
    torch = {"variant": "cu130", "torch": "2.9.1+cu130", "torchvision": "0.24.1", "torchaudio": "2.9.1"}
    assert torch_pins(torch) == {"torch": "2.9.1+cu130", "torchvision": "0.24.1", "torchaudio": "2.9.1"}


def test_a_doctor_choice_without_torchaudio_is_refused(tmp_path):
    summary = {**SUMMARY, "torch": {**SUMMARY["torch"], "torchaudio": None}}
    with pytest.raises(ManifestError, match="torchaudio"):
        plan_stack(request(tmp_path), summary)


@pytest.mark.parametrize(
    ("listen", "url"),
    [
        ("0.0.0.0", "http://127.0.0.1:8288"),
        ("::", "http://127.0.0.1:8288"),
        ("", "http://127.0.0.1:8288"),
        ("10.0.0.7", "http://10.0.0.7:8288"),
        ("::1", "http://[::1]:8288"),
        ("127.0.0.1,::1", "http://127.0.0.1:8288"),
    ],
)
def test_the_local_url_reaches_a_wildcard_listener_on_loopback(tmp_path, listen, url):
    assert plan_stack(request(tmp_path, listen=listen, port=8288), ONE_GPU).instances[0].url == url


@pytest.mark.parametrize(
    ("listen", "exposed"),
    [
        ("127.0.0.1", False),
        ("127.0.0.53", False),
        ("::1", False),
        ("127.0.0.1,::1", False),
        ("localhost", False),
        ("0.0.0.0", True),
        ("", True),
        ("10.0.0.5", True),
        ("127.0.0.1,0.0.0.0", True),
        ("127.0.0.1.evil.example", True),
    ],
)
def test_listening_beyond_loopback_is_flagged(tmp_path, listen, exposed):
    assert plan_stack(request(tmp_path, listen=listen), SUMMARY).exposed is exposed


def test_all_means_the_doctors_usable_gpus_each_with_its_own_port_device_flags_and_folders(tmp_path):
    plan = plan_stack(request(tmp_path), SUMMARY)
    assert [i.name for i in plan.instances] == ["gpu0", "gpu1"] and not plan.cpu_only
    data = tmp_path / "data"
    for index, instance in enumerate(plan.instances):
        assert (instance.gpu, _flag(instance.argv, "--cuda-device")) == (index, str(index))
        assert (instance.port, _flag(instance.argv, "--port")) == (8188 + index, str(8188 + index))
        assert instance.url == f"http://127.0.0.1:{8188 + index}"
        for flag, sub in (("--output-directory", "output"), ("--temp-directory", "temp"),
                          ("--user-directory", "user")):  # fmt: skip
            assert _flag(instance.argv, flag) == f"{data}/gpu{index}/{sub}"
        assert instance.dirs == [f"{data}/gpu{index}/{sub}" for sub in ("output", "temp", "user")]
        assert _flag(instance.argv, "--input-directory") == f"{data}/input"  # shared
        assert _flag(instance.argv, "--database-url") == f"sqlite:///{data}/gpu{index}/user/comfyui.db"
        assert instance.env == {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
        assert instance.service == f"comfyui-gpu{index}"
        assert instance.unit == f"/etc/systemd/system/comfyui-gpu{index}.service"
        assert instance.watch_args == ["--unit", f"comfyui-gpu{index}"]
    # Each GPU's own tier flags (not the host-wide --reserve-vram): the small card gets --lowvram.
    gpu0, gpu1 = (instance.argv for instance in plan.instances)
    assert "--lowvram" not in gpu0 and "--lowvram" in gpu1 and "--reserve-vram" not in gpu0 + gpu1
    assert [(i.tier, i.profile, i.gpu_name) for i in plan.instances] == [
        ("large", "q5", "RTX 4090"),
        ("small", "q3", "RTX 3060"),
    ]


def test_a_list_and_a_port_map(tmp_path):
    plan = plan_stack(request(tmp_path, gpus=[1], ports={1: 9001}), SUMMARY)
    assert [(i.gpu, i.port) for i in plan.instances] == [(1, 9001)]
    # JSON extra vars give the map string keys
    assert plan_stack(request(tmp_path, gpus=[1], ports={"1": 9002}), SUMMARY).instances[0].port == 9002


def test_a_cpu_host_runs_one_instance_without_a_device(tmp_path):
    summary = {**SUMMARY, "gpus": [], "usable_gpus": []}
    plan = plan_stack(request(tmp_path, launch_flags=["--cpu"]), summary)
    (instance,) = plan.instances
    assert (instance.name, instance.gpu, instance.service) == ("cpu", None, "comfyui-cpu")
    assert "--cuda-device" not in instance.argv and instance.env == {} and plan.cpu_only
    assert _flag(instance.argv, "--output-directory") == f"{tmp_path}/data/cpu/output"


def test_the_process_supervisor_is_watched_by_pidfile_and_log(tmp_path):
    plan = plan_stack(request(tmp_path, service_manager="process", service_name="cui"), ONE_GPU)
    (instance,) = plan.instances
    folder = f"{tmp_path}/data/gpu0"
    assert instance.watch_args == ["--pidfile", f"{folder}/comfyui.pid", "--log", f"{folder}/comfyui.log"]
    assert (instance.service, instance.launch_file) == ("cui-gpu0", f"{folder}/comfyui-launch.json")


@pytest.mark.parametrize(
    ("gpus", "error", "message"),
    [
        ([2], RefusedError, "failed by the doctor: \\[2\\]"),
        ([5], RefusedError, "not on this host: \\[5\\]"),
        ([0, 0], UsageError, "distinct"),
        ([], UsageError, "non-empty list"),
        ("0,1", UsageError, "give `all`"),
        ([0, "1"], UsageError, "integers"),
        ([True], UsageError, "integers"),
    ],
)
def test_gpus_are_checked_against_the_doctors_gpus(tmp_path, gpus, error, message):
    with pytest.raises(error, match=message) as raised:
        plan_stack(request(tmp_path, gpus=gpus), SUMMARY)
    assert raised.value.hint


def test_a_host_without_a_usable_gpu_has_no_instance_to_run(tmp_path):
    with pytest.raises(RefusedError, match="no usable GPU"):
        plan_stack(request(tmp_path), {**SUMMARY, "usable_gpus": []})


def test_ports_that_collide_are_refused(tmp_path):
    with pytest.raises(UsageError, match="must differ"):
        plan_stack(request(tmp_path, ports={1: 8188}), SUMMARY)


def test_the_plan_as_data_lists_its_instances(tmp_path):
    data = plan_stack(request(tmp_path), SUMMARY).to_dict()
    assert [i["name"] for i in data["instances"]] == ["gpu0", "gpu1"]
    assert data["instances"][1]["argv"][-2:] == ["--cuda-device", "1"]
    assert (data["cpu_only"], data["exposed"], data["python"]) == (
        False,
        False,
        f"{tmp_path}/venv/bin/python",
    )


def test_each_instance_carries_its_own_gpus_nvenc(tmp_path):
    """An RTX 4090 beside an H100: the 4090's instance encodes with NVENC, the H100's cannot; a GPU whose
    encode was not judged is unknown (its workflows use software x264)."""
    nvenc = {0: {"h264_nvenc": True}, 1: {"h264_nvenc": False}}
    gpus = [{**gpu, "nvenc": nvenc.get(gpu["index"]), "verdict": "ready"} for gpu in SUMMARY["gpus"]]
    plan = plan_stack(request(tmp_path), {**SUMMARY, "gpus": gpus, "usable_gpus": [0, 1, 2]})
    assert [(i.name, i.nvenc) for i in plan.instances] == [("gpu0", True), ("gpu1", False), ("gpu2", None)]
    assert plan.instances[1].to_dict()["nvenc"] is False  # what later plays see


def test_a_cpu_host_without_a_driver_gets_the_cpu_wheels():
    """--cpu and no torch choice from the doctor (no NVIDIA driver): PyTorch's CPU wheels of the release
    installed for GPUs, not a refusal; a GPU host keeps the doctor's choice, explicit pins still win."""
    with pytest.raises(RefusedError):
        settle_torch(TorchRequest(), None)
    torch = settle_torch(TorchRequest(), None, cpu=True)
    assert torch == {"variant": "cpu", "torch": "2.9.1", "torchvision": "0.24.1", "torchaudio": "2.9.1",
                     "index_url": "https://download.pytorch.org/whl/cpu", "source": "cpu"}  # fmt: skip
    assert settle_torch(TorchRequest(), DOCTOR_TORCH, cpu=True)["source"] == "doctor"
    mirror = settle_torch(TorchRequest(index_url="https://mirror/whl/cpu"), None, cpu=True)
    assert mirror["index_url"] == "https://mirror/whl/cpu"
