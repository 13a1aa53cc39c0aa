"""The ComfyUI double refuses a malformed model file the way the real loaders do: the same checks, the same
messages as the real readers (safetensors, gguf) give for the same bytes, and an execution_error at the
loader node that `workflow smoke` reports as exit 12."""

from __future__ import annotations

import json
import random
import struct
import sys
from pathlib import Path

import gguf
import pytest
from safetensors import SafetensorError, safe_open

from wanprov.workflows.model_folders import load_file_inputs
from workflows.comfyui_double import MINIMAL_FILES, comfyui_double
from workflows.test_smoke import PROFILES, WAN, listed_on, profile_files, smoke

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "doubles" / "comfyui_app"))
from model_files import gguf_error, safetensors_error

_HEADER = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
SAFETENSORS_CASES = {
    "empty": b"",
    "short": b"\x01\x02\x03",
    "random bytes": bytes(range(256)) * 16,
    "length past the end": struct.pack("<Q", 5000) + b"{}",
    "not JSON": struct.pack("<Q", 8) + b"{notjson",
    "not UTF-8": struct.pack("<Q", 8) + b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8",
    "data cut short": struct.pack("<Q", len(_HEADER)) + _HEADER + b"\0" * 8,
    "valid": struct.pack("<Q", len(_HEADER)) + _HEADER + b"\0" * 16,
    "minimal": MINIMAL_FILES[".safetensors"],
}


@pytest.mark.parametrize("case", sorted(SAFETENSORS_CASES))
def test_safetensors_checks_match_the_real_reader(tmp_path: Path, case: str) -> None:
    path = tmp_path / "f.safetensors"
    path.write_bytes(SAFETENSORS_CASES[case])
    try:
        with safe_open(path, "np"):
            real = None
    except SafetensorError as error:
        real = str(error).removeprefix("Error while deserializing header: ")
    double = safetensors_error(path)
    if real is None or double is None:
        assert real == double
    else:  # the reason's first words (serde's detail after the colon differs in wording)
        assert double.split(":")[0] == real.split(":")[0]


# Random bytes from a fixed seed: the same cases (and test ids) in every pytest-xdist worker.
NOISE = random.Random(64).randbytes(64)


@pytest.mark.parametrize("data", [b"", b"GGML" + bytes(20), NOISE, b"GGUF" + struct.pack("<IQQ", 1, 0, 0)])
def test_gguf_checks_match_the_real_reader(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "f.gguf"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=r".") as real:
        gguf.GGUFReader(path)
    assert gguf_error(path) == str(real.value)
    path.write_bytes(MINIMAL_FILES[".gguf"])
    assert gguf.GGUFReader(path) is not None and gguf_error(path) is None


def _with_bad_file(tmp_path, object_info_path, class_type: str, name: str, data: bytes):
    lists = listed_on(tmp_path / "models-host", profile_files(PROFILES[WAN]))
    context = comfyui_double(tmp_path, object_info_path, file_lists=lists)
    url, comfy = context.__enter__()
    folder = load_file_inputs().folders_of(class_type, name)[0]
    file_name = lists[class_type][name][0]
    (comfy / folder / file_name).write_bytes(data)
    return context, url


@pytest.mark.parametrize(
    ("class_type", "name", "data", "exception", "message"),
    [
        pytest.param("UnetLoaderGGUF", "unet_name", b"\x00" * 64, "ValueError", "GGUF magic invalid",
                     id="gguf-bad-magic"),
        pytest.param("VAELoader", "vae_name", bytes(range(256)) * 64,
                     "safetensors._safetensors_rust.SafetensorError",
                     "Error while deserializing header: header too large", id="safetensors-header-too-large"),
    ],
)  # fmt: skip
def test_a_malformed_model_file_fails_its_loader_like_the_real_one(
    tmp_path, object_info_path, class_type, name, data, exception, message
) -> None:
    context, url = _with_bad_file(tmp_path, object_info_path, class_type, name, data)
    try:
        result, report = smoke(url, WAN)
    finally:
        context.__exit__(None, None, None)
    assert result.returncode == 12 and report["status"] == "failed"
    assert report["error"]["node_type"] == class_type
    assert report["error"]["exception_type"] == exception
    assert report["error"]["exception_message"].strip() == message
