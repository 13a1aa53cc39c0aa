"""Property: a hostile model manifest, lock file or node-pack manifest gives a documented exit code and one
clear message (one JSON document under --format json), never a traceback, never a write outside the models
folder. Through the real CLI entry, in-process."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hostile_cli import assert_clean_failure, invoke
from hostile_strategies import NASTY_TEXT, VALUES, mutated
from hypothesis import given
from hypothesis import strategies as st

from wanprov.errors import ManifestError
from wanprov.stack.errors import RefusedError
from wanprov.stack.manifest import load_node_packs, select

CONTENT = b"model bytes\n"
SHA = hashlib.sha256(CONTENT).hexdigest()
ENTRY = {
    "repo": "org/name",
    "revision": "main",
    "path": "split/vae.safetensors",
    "folder": "vae",
    "size": len(CONTENT),
    "source": "hostile test",
}
MANIFEST = {"files": {"f": dict(ENTRY, sha256=SHA)}, "profiles": {"p": {"files": {"vae": "f"}}}}
LOCK = {
    "schema": "wanprov.lock/1",
    "files": {
        "f": {
            "repo": "org/name",
            "path": "split/vae.safetensors",
            "revision": "main",
            "commit": "c" * 40,
            "size": len(CONTENT),
            "sha256": SHA,
        }
    },
}


def files_under(root: Path) -> set[str]:
    return {str(Path(d, f).relative_to(root)) for d, _, names in os.walk(root) for f in names}


def run_fetch(root: Path, manifest: Any, *extra: str, raw: str | None = None):
    path = root / "mine.yaml"
    path.write_text(raw if raw is not None else yaml.safe_dump(manifest, allow_unicode=True))
    return invoke(
        "fetch-models", "--manifest", str(path), "--profile", "p",
        "--models-dir", str(root / "models"), "--format", "json", *extra,
    )  # fmt: skip


@given(data=st.data())
def test_hostile_catalog_manifest(data: st.DataObject) -> None:
    manifest = mutated(MANIFEST, data.draw)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        result = run_fetch(root, manifest, "--dry-run")
        assert_clean_failure(result, json_format=True)
        assert files_under(root) == {"mine.yaml"}  # a dry run writes nothing, anywhere


@given(st.text(max_size=200))
def test_arbitrary_manifest_text(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        assert_clean_failure(run_fetch(root, None, "--dry-run", raw=text), json_format=True)
        assert files_under(root) == {"mine.yaml"}


@given(data=st.data())
def test_hostile_lock_file_never_writes_outside_the_models_folder(data: st.DataObject) -> None:
    """A real fetch from a local mirror: the lock's sha256 names the part file, its commit the revision."""
    lock = mutated(LOCK, data.draw, depth=3)
    manifest = {"files": {"f": dict(ENTRY)}, "profiles": MANIFEST["profiles"]}  # sha256 only from the lock
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        mirror = root / "mirror" / "vae"
        mirror.mkdir(parents=True)
        (mirror / "vae.safetensors").write_bytes(CONTENT)
        (root / "mine.lock.yaml").write_text(yaml.safe_dump(lock, allow_unicode=True))
        result = run_fetch(root, manifest, "--from", str(root / "mirror"))
        assert_clean_failure(result, json_format=True)
        outside = {f for f in files_under(root) if not f.startswith("models/")}
        assert outside == {"mine.yaml", "mine.lock.yaml", "mirror/vae/vae.safetensors"}


@pytest.mark.parametrize("sha", ["../../../../escape", "a" * 64 + "/../../x", "A" * 63 + "\n"])
def test_a_crafted_lock_sha256_is_refused(tmp_path: Path, sha: str) -> None:
    lock = {"files": {"f": dict(LOCK["files"]["f"], sha256=sha)}}
    (tmp_path / "mine.lock.yaml").write_text(yaml.safe_dump(lock))
    manifest = {"files": {"f": dict(ENTRY)}, "profiles": MANIFEST["profiles"]}
    result = run_fetch(tmp_path, manifest, "--dry-run")
    assert result.code == 10 and "sha256" in result.json()["message"]


def test_a_crafted_lock_commit_is_refused(tmp_path: Path) -> None:
    lock = {"files": {"f": dict(LOCK["files"]["f"], commit="main/../../../evil?x=")}}
    (tmp_path / "mine.lock.yaml").write_text(yaml.safe_dump(lock))
    result = run_fetch(tmp_path, {"files": {"f": dict(ENTRY)}, "profiles": MANIFEST["profiles"]}, "--dry-run")
    assert result.code == 10 and "commit" in result.json()["message"]


PACK = {"url": "https://github.com/city96/ComfyUI-GGUF", "commit": "a" * 40, "source": "s"}


@given(data=st.data())
def test_hostile_node_pack_manifest(data: st.DataObject, tmp_path_factory: pytest.TempPathFactory) -> None:
    document = mutated({"packs": {"ComfyUI-GGUF": PACK}}, data.draw)
    path = tmp_path_factory.mktemp("packs") / "packs.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    try:
        packs = select(load_node_packs(path), allow_unpinned=data.draw(st.booleans()))
    except (ManifestError, RefusedError) as exc:
        assert exc.message
        return
    for pack in packs:  # whatever passes is an https URL git cannot read as an option
        assert pack.url.startswith("https://") and not any(c.isspace() for c in pack.url)


@given(url=st.one_of(NASTY_TEXT, st.text(max_size=40), st.from_regex(r"\A-[-\w=]+\Z")))
def test_url_overrides_are_https_only_by_default(url: str) -> None:
    try:
        packs = select(load_node_packs(), urls={"ComfyUI-GGUF": url})
    except ManifestError:
        return
    assert next(p for p in packs if p.name == "ComfyUI-GGUF").url.startswith("https://")


@given(VALUES)
def test_lock_values_of_any_type(value: Any) -> None:
    """Each lock field, given any value at all: refused by the shared validator, or a valid value."""
    for field in ("sha256", "size", "commit", "revision", "repo", "path"):
        lock = {"files": {"f": dict(LOCK["files"]["f"], **{field: value})}}
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "x.lock.yaml"
            path.write_text(yaml.safe_dump(lock, allow_unicode=True))
            from wanprov.models.lock import read_lock

            try:
                entry = read_lock(path)["f"]
            except ManifestError:
                continue
            assert entry.sha256 is None or (len(entry.sha256) == 64 and entry.sha256.isalnum())
            assert entry.commit is None or (len(entry.commit) == 40 and entry.commit.isalnum())
            assert entry.size is None or (isinstance(entry.size, int) and entry.size >= 0)
