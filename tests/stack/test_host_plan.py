"""wanprov.stack.host_plan: the one stack plan (torch, pins, pip arguments, protection files, flags)."""

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
SUMMARY = {"torch": DOCTOR_TORCH, "launch_flags": ["--reserve-vram", "2"]}


def request(root: Path, **extra: object) -> StackRequest:
    return StackRequest(
        install_dir=root / "ComfyUI",
        venv_dir=root / "venv",
        data_dir=root / "data",
        user_dir=root / "user",
        **extra,
    )


def test_the_doctor_decides_when_nothing_is_explicit(tmp_path):
    plan = plan_stack(request(tmp_path), SUMMARY)
    assert plan.torch == {
        "variant": "cu128", "torch": "2.9.1", "torchvision": "0.24.1", "torchaudio": "2.9.1",
        "index_url": "https://download.pytorch.org/whl/cu128", "source": "doctor",
    }  # fmt: skip
    assert plan.torch_pins == {"torch": "2.9.1", "torchvision": "0.24.1", "torchaudio": "2.9.1"}
    assert plan.torch_pip_args == ["--index-url", "https://download.pytorch.org/whl/cu128"]
    assert plan.pip_args == []
    assert plan.launch_flags == [
        "--reserve-vram", "2", "--listen", "127.0.0.1", "--port", "8188",
        "--output-directory", f"{tmp_path}/data/output", "--input-directory", f"{tmp_path}/data/input",
        "--temp-directory", f"{tmp_path}/data/temp", "--user-directory", f"{tmp_path}/user",
        "--database-url", f"sqlite:///{tmp_path}/user/comfyui.db", "--disable-auto-launch",
    ]  # fmt: skip
    assert plan.url == "http://127.0.0.1:8188"
    assert plan.argv == [f"{tmp_path}/venv/bin/python", f"{tmp_path}/ComfyUI/main.py", *plan.launch_flags]


def test_protection_files_are_the_constraints_modules_text(tmp_path):
    plan = plan_stack(request(tmp_path), SUMMARY)
    constraints = tmp_path / "venv" / "wanprov-constraints.txt"
    assert plan.constraints == str(constraints)
    constraints.parent.mkdir()
    constraints.write_text(plan.files[str(constraints)])
    assert read_pins(constraints) == plan.torch_pins  # what install-nodes reads back is what was planned
    assert f"constraint = {constraints}\n" in plan.files[str(tmp_path / "venv" / "pip.conf")]
    assert plan.to_dict()["schema"] == "wanprov.stack/1"


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
    assert plan.launch_flags[:4] == ["--lowvram", "--use-sage-attention", "--listen", "0.0.0.0"]
    assert plan.launch_flags[-2:] == ["--extra-model-paths-config", f"{tmp_path}/data/extra_model_paths.yaml"]


def test_explicit_everything_needs_no_doctor(tmp_path):
    torch = TorchRequest(
        variant="cu128",
        torch="2.9.1",
        torchvision="0.24.1",
        torchaudio="2.9.1",
        index_url="https://mirror/whl",
    )
    plan = plan_stack(request(tmp_path, torch=torch, launch_flags_auto=False))
    assert plan.torch["index_url"] == "https://mirror/whl"
    assert plan.launch_flags[0] == "--listen"


def test_auto_flags_off_means_no_tier_flags(tmp_path):
    plan = plan_stack(request(tmp_path, launch_flags_auto=False), SUMMARY)
    assert plan.launch_flags[0] == "--listen"


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
    assert plan_stack(request(tmp_path, listen=listen, port=8288), SUMMARY).url == url


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
