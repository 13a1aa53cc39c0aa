"""The commands added since the hostile suite was written - `up`, `stack converge`, `swarm` - end in a
documented code with one clear message (never "unexpected error", never a traceback) whatever the files
they read from outside hold: the model catalogs and node-pack manifests of `up` and `stack converge`, the
publication a controller hands `swarm fetch`, the process record `swarm stop` reads back.

Every case runs the real CLI entry in-process (hostile_cli.invoke) on a machine without a GPU: `--cpu`,
`--dry-run`, so nothing is installed and no network is used."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hostile_cli import DOCUMENTED, Result, invoke
from hostile_strategies import VALUES, mutated
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PROFILE = "flux1-schnell-fp8"
ENTRY = {
    "repo": "Comfy-Org/flux1-schnell",
    "revision": "main",
    "path": "flux1-schnell-fp8.safetensors",
    "name": "flux1-schnell-fp8.safetensors",
    "folder": "checkpoints",
    "size": 10,
    "sha256": "a" * 64,
}
CATALOG = {"files": {"mine": ENTRY}, "profiles": {"mine-profile": {"checkpoint": "mine"}}}
PACKS = {"packs": {"ComfyUI-GGUF": {"url": "https://github.com/city96/ComfyUI-GGUF", "commit": "a" * 40,
                                    "source": "s"}}}  # fmt: skip
TORCH = ["--torch-variant", "cpu", "--torch-version", "2.9.1+cpu", "--torchvision-version", "0.24.1+cpu",
         "--torchaudio-version", "2.9.1+cpu"]  # fmt: skip
FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_clean_failure(result: Result, *, json_format: bool = True) -> None:
    """A documented code, exactly one JSON document on stdout (an error document, or the command's own,
    which up and swarm fetch print either way) that says the same code; never a bug's message."""
    assert result.code in DOCUMENTED, result
    assert "Traceback" not in result.out + result.err, result
    assert "unexpected error" not in result.out + result.err, result
    document = result.json()
    assert isinstance(document, dict), result
    if "error" in document and set(document) == {"error", "message", "hint", "exit_code"}:
        assert document["exit_code"] == result.code and document["message"], document
    elif "exit_code" in document:
        assert document["exit_code"] == result.code, document


def host(root: Path) -> list[str]:
    return ["--comfyui-dir", str(root / "c"), "--venv-dir", str(root / "v"), "--data-dir", str(root / "d")]


def written(root: Path, document: Any, raw: str | None = None) -> Path:
    path = root / "input.yaml"
    path.write_text(raw if raw is not None else yaml.safe_dump(document, allow_unicode=True))
    return path


@FEW
@given(data=st.data())
def test_up_with_any_model_catalog(data: st.DataObject) -> None:
    document = mutated(CATALOG, data.draw)
    profile = data.draw(st.sampled_from(["mine-profile", PROFILE]))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = written(root, document)
        result = invoke("up", "--cpu", "--dry-run", "--service", "none", "--profile", profile,
                        "--manifest", str(path), *TORCH, *host(root), "--unit-dir", str(root / "u"),
                        "--format", "json")  # fmt: skip
        assert_clean_failure(result, json_format=True)
        assert sorted(p.name for p in root.iterdir()) == ["input.yaml"]  # a dry run writes nothing


@FEW
@given(text=st.text(max_size=200))
def test_up_with_any_catalog_text(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = written(root, None, raw=text)
        result = invoke("up", "--cpu", "--dry-run", "--service", "none", "--profile", PROFILE,
                        "--manifest", str(path), *TORCH, *host(root), "--unit-dir", str(root / "u"),
                        "--format", "json")  # fmt: skip
        assert_clean_failure(result, json_format=True)


@FEW
@given(data=st.data())
def test_stack_converge_with_any_node_pack_manifest(data: st.DataObject) -> None:
    document = mutated(PACKS, data.draw)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = written(root, document)
        result = invoke("stack", "converge", "--cpu", "--dry-run", "--node-manifest", str(path), *TORCH,
                        *host(root), "--format", "json")  # fmt: skip
        assert_clean_failure(result, json_format=True)
        assert sorted(p.name for p in root.iterdir()) == ["input.yaml"]


ITEM = {"relpath": "checkpoints/x.safetensors", "sha256": "a" * 64, "size": 1, "handle": "h", "meta": "m"}
PUBLICATION = {"schema": "wanprov.publication/1", "engine": "aria2", "tracker": "", "items": [ITEM]}


@FEW
@given(
    document=st.one_of(
        VALUES,
        st.builds(lambda items: {**PUBLICATION, "items": items}, st.lists(VALUES, max_size=3)),
        st.builds(lambda key, value: {**PUBLICATION, "items": [{**ITEM, key: value}]},
                  st.sampled_from(sorted(ITEM)), VALUES),
    )
)  # fmt: skip
def test_swarm_fetch_with_any_publication(document: Any) -> None:
    """Whatever the controller handed over: no item of it matches the profile's files, so no swarm starts
    and nothing falls back (no hub): a documented code either way."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        publication = root / "publication.json"
        publication.write_text(json.dumps(document))
        result = invoke("swarm", "fetch", "--profile", PROFILE, "--models-dir", str(root / "models"),
                        "--publication", str(publication), "--bind", "127.0.0.1", "--deadline", "1",
                        "--no-fallback-hub", "--format", "json")  # fmt: skip
        assert_clean_failure(result, json_format=True)


@pytest.mark.parametrize("raw", [b"\xff\xfe not utf-8", b"[" * 100_000, b"{}", b"null", b'{"schema": 1}'])
def test_swarm_fetch_with_a_publication_that_is_not_one(tmp_path: Path, raw: bytes) -> None:
    publication = tmp_path / "publication.json"
    publication.write_bytes(raw)
    result = invoke("swarm", "fetch", "--profile", PROFILE, "--models-dir", str(tmp_path / "models"),
                    "--publication", str(publication), "--bind", "127.0.0.1", "--no-fallback-hub",
                    "--format", "json")  # fmt: skip
    assert_clean_failure(result, json_format=True)
    assert result.code != 0 and "publication.json" in result.json()["message"]


@FEW
@given(content=st.one_of(st.text(max_size=100), VALUES.map(json.dumps)))
def test_swarm_stop_with_any_process_record(content: str) -> None:
    """The record of what `swarm publish` started, damaged or written by someone else: no process is
    signalled on its word unless it runs the program recorded, and the command ends cleanly."""
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        (state / "processes.json").write_text(content)
        result = invoke("swarm", "stop", "--state-dir", str(state), "--format", "json")
        assert_clean_failure(result, json_format=True)
