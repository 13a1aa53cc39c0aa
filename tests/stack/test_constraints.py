"""Torch family pins (with or without local labels) and the one-OpenCV rule of the constraints."""

from __future__ import annotations

import pytest

from wanprov.errors import ManifestError
from wanprov.stack.constraints import OPENCV, OPENCV_OTHERS, pin_satisfied, read_pins, render_constraints
from wanprov.stack.opencv import extra_opencv, requirements_for_pip, rewrite_requirements


@pytest.mark.parametrize(
    ("pin", "installed", "ok"),
    [
        ("2.9.1", "2.9.1+cu128", True),  # the PyTorch index's label, pinned without it (PEP 440)
        ("2.9.1", "2.9.1", True),  # a mirror of the ordinary index: no label
        ("2.9.1+cu128", "2.9.1+cu128", True),
        ("2.9.1+cu128", "2.9.1", False),  # a labelled pin wants that exact build
        ("2.9.1+cu128", "2.9.1+cu126", False),
        ("2.9.1", "2.9.10+cu128", False),
        ("2.9", "2.9.0+cpu", True),  # zero padding
        ("2.9.1", None, False),
    ],
)
def test_pin_satisfied_follows_pep440_local_labels(pin, installed, ok):
    assert pin_satisfied(pin, installed) is ok


def test_constraints_pin_the_torch_family_together_and_allow_one_opencv(tmp_path):
    text = render_constraints({"torch": "2.9.1", "torchvision": "0.24.1", "torchaudio": "2.9.1"})
    path = tmp_path / "c.txt"
    path.write_text(text)
    assert read_pins(path) == {"torch": "2.9.1", "torchvision": "0.24.1", "torchaudio": "2.9.1"}
    assert "+" not in text  # never `2.9.1+<variant>`: a label-less index could not match it
    for name in OPENCV_OTHERS:
        assert f"\n{name}<0\n" in text
    assert OPENCV not in [line.split("<")[0] for line in text.splitlines()]


@pytest.mark.parametrize("torchaudio", [None, "", "none"])
def test_constraints_refuse_a_torch_family_without_torchaudio(torchaudio):
    pins = {"torch": "2.9.1", "torchvision": "0.24.1"}
    if torchaudio is not None:
        pins["torchaudio"] = torchaudio
    with pytest.raises(ManifestError, match="torchaudio"):
        render_constraints(pins)


def test_requirements_name_the_allowed_opencv():
    text = (
        "opencv-python\nimageio-ffmpeg\nOpenCV_Contrib_Python>=4.8 ; python_version > '3'\n# opencv-python\n"
    )
    rewritten, replaced = rewrite_requirements(text)
    assert replaced == ["opencv-python", "OpenCV_Contrib_Python"]
    assert rewritten.splitlines() == [
        OPENCV,
        "imageio-ffmpeg",
        f"{OPENCV}>=4.8 ; python_version > '3'",
        "# opencv-python",
    ]


def test_requirements_without_another_opencv_go_to_pip_untouched(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("opencv-python-headless\ngguf\n")
    with requirements_for_pip(req) as asked:
        assert asked == req
    req.write_text("opencv-python\n")
    with requirements_for_pip(req) as asked:
        assert asked != req and asked.read_text().splitlines()[-1] == OPENCV
    assert req.read_text() == "opencv-python\n"  # the pack's checkout stays clean


def test_extra_opencv_names_every_other_distribution():
    assert extra_opencv({OPENCV: "4.12.0.88", "opencv-python": "4.12.0.88"}) == ["opencv-python"]
    assert extra_opencv({OPENCV: "4.12.0.88", "opencv-python": None}) == []
