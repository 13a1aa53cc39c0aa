"""The wheel-index double's torch (what pip installs into a fleet host's ComfyUI venv) answers the doctor's
torch probe exactly as the GPU double's torch does for the same host and build - per device name,
capability, arch list, kernel test, availability and its reason, CUDA_DEVICE_ORDER / CUDA_VISIBLE_DEVICES -
while it learns the GPUs only from the host's "driver" (WANPROV_FAKE_GPU_HOST), never from a module on a path.
"""

from __future__ import annotations

import zipfile

import pytest

from doubles.gpu import SPECS, TARGET_PYTHON, install_fake_host
from doubles.wheels import build_wheel
from wanprov.facts import torch_probe

# Hosts whose torch build the wheel double serves the same way: working, a missing sm_120, sm_61 below the
# build's oldest arch, a driver too old for the build, two GPU classes with one failing, no GPU at all.
HOSTS = (
    "h100",
    "rtx5090_torch251_cu124",
    "gtx1080_cu128",
    "rtx4090_driver535_cu130",
    "rtx4090_rtx5090_torch260_cu126",
    "no_gpu",
)
# What says where the probe ran and which other packages that interpreter has, not what torch answered.
INTERPRETER = ("python", "python_version", "modules", "xformers_requires")


def _probe(monkeypatch: pytest.MonkeyPatch, python: str, env: dict[str, str]) -> dict[str, object]:
    with monkeypatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        facts = torch_probe.probe(python)
    return {key: value for key, value in facts.items() if key not in INTERPRETER}


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("order", [{}, {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}, {"CUDA_VISIBLE_DEVICES": "1"}])
def test_the_wheel_torch_answers_as_the_gpu_doubles_torch(tmp_path, monkeypatch, host, order):
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    env = {**install_fake_host(tmp_path / "host", host), **order}
    venv = tmp_path / "venv-site"  # the ComfyUI venv's site-packages, as pip unpacks the wheel
    with zipfile.ZipFile(build_wheel(tmp_path / "wheels", "torch", str(SPECS[host].torch_version))) as wheel:
        wheel.extractall(venv)
    gpu_double = _probe(monkeypatch, TARGET_PYTHON, env)
    wheel_env = {k: v for k, v in env.items() if k != "WANPROV_FAKE_TARGET_SITE"}
    from_wheel = _probe(monkeypatch, "/usr/bin/python3", {**wheel_env, "PYTHONPATH": str(venv)})
    assert from_wheel == gpu_double
    assert gpu_double["version"] == SPECS[host].torch_version  # the probe really imported a torch


def test_without_a_driver_the_wheel_torch_has_no_cuda_device(tmp_path, monkeypatch):
    venv = tmp_path / "venv-site"
    with zipfile.ZipFile(build_wheel(tmp_path / "wheels", "torch", "2.9.1+cu128")) as wheel:
        wheel.extractall(venv)
    monkeypatch.delenv("WANPROV_FAKE_GPU_HOST", raising=False)
    facts = _probe(monkeypatch, "/usr/bin/python3", {"PYTHONPATH": str(venv)})
    assert facts["version"] == "2.9.1+cu128" and facts["cuda_available"] is False
    assert "Found no NVIDIA driver" in str(facts)
