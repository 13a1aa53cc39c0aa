"""Node pack manifest: the shipped one is valid and cited; branches are refused unless opted in."""

from __future__ import annotations

import pytest
import yaml

from wanprov.errors import ManifestError
from wanprov.stack.errors import RefusedError
from wanprov.stack.manifest import load_comfyui, load_node_packs, parse_assignments, select


def test_shipped_manifest_pins_every_pack_to_a_commit(fixtures_dir):
    packs = load_node_packs()
    sources = (fixtures_dir / "comfyui" / "SOURCES.md").read_text()
    assert {
        "ComfyUI-GGUF",
        "ComfyUI-TeaCache",
        "ComfyUI-VideoHelperSuite",
        "ComfyUI-Frame-Interpolation",
    } <= {name for name, pack in packs.items() if not pack.optional}
    assert {name for name, pack in packs.items() if pack.optional} == {
        "ComfyUI-WanVideoWrapper",
        "ComfyUI-KJNodes",
    }
    for pack in packs.values():
        assert pack.pinned and pack.commit in sources, pack
        assert "Gourieff" not in pack.url
    assert load_comfyui().commit in sources


def test_required_packs_by_default_optional_on_request():
    packs = load_node_packs()
    assert len(select(packs)) == 4
    assert {p.name for p in select(packs, with_optional=["ComfyUI-KJNodes"])} >= {"ComfyUI-KJNodes"}
    assert len(select(packs, with_optional=["all"])) == 6
    assert [p.name for p in select(packs, only=["ComfyUI-GGUF"])] == ["ComfyUI-GGUF"]


def test_branch_is_refused_unless_allowed():
    packs = load_node_packs()
    with pytest.raises(RefusedError) as refused:
        select(packs, commits={"ComfyUI-GGUF": "main"})
    assert "ComfyUI-GGUF" in refused.value.message and "--allow-unpinned" in (refused.value.hint or "")
    chosen = select(packs, commits={"ComfyUI-GGUF": "main"}, allow_unpinned=True)
    assert next(p for p in chosen if p.name == "ComfyUI-GGUF").commit == "main"


def test_overrides_and_unknown_names():
    packs = load_node_packs()
    mirror = parse_assignments(["ComfyUI-GGUF=file:///mirror/gguf"], "url")
    with pytest.raises(ManifestError, match="only https is allowed"):
        select(packs, urls=mirror)  # a local mirror needs the explicit opt-in
    chosen = select(packs, urls=mirror, allow_schemes=["file"])
    assert next(p for p in chosen if p.name == "ComfyUI-GGUF").url == "file:///mirror/gguf"
    with pytest.raises(ManifestError, match="unknown node pack"):
        select(packs, only=["NoSuchPack"])
    with pytest.raises(ManifestError, match="NAME=VALUE"):
        parse_assignments(["novalue"], "url")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"url": "u", "commit": "a" * 40}, "lacks source"),
        ({"url": "u", "commit": "a" * 40, "source": "s", "requirements": "maybe"}, "requirements="),
        ("not a mapping", "must be a mapping"),
    ],
)
def test_invalid_entries_say_what_and_where(tmp_path, entry, message):
    path = tmp_path / "packs.yaml"
    path.write_text(yaml.safe_dump({"packs": {"X": entry}}))
    with pytest.raises(ManifestError, match=message) as error:
        load_node_packs(path)
    assert str(path) in error.value.message and "'X'" in error.value.message


@pytest.mark.parametrize(
    "url",
    [
        "--upload-pack=touch /tmp/pwned",
        "-u touch",
        "ext::sh -c touch% /tmp/pwned",
        "fd::3",
        "relative/path",
        "https://host/repo\n--upload-pack=x",
        "file:///srv/packs/gguf",
        "/srv/packs/gguf",
        "git@github.com:city96/ComfyUI-GGUF.git",
        "http://mirror/gguf",
    ],
)
def test_only_https_urls_pass_by_default(url):
    packs = load_node_packs()
    with pytest.raises(ManifestError) as refused:
        select(packs, urls={"ComfyUI-GGUF": url})
    assert "git URL" in refused.value.message


def test_manifest_opt_in_allows_local_repos_and_nothing_else(tmp_path):
    body = {"url": "file:///srv/gguf", "commit": "a" * 40, "source": "s"}
    path = tmp_path / "packs.yaml"
    path.write_text(yaml.safe_dump({"allow_url_schemes": ["file"], "packs": {"P": body}}))
    assert load_node_packs(path)["P"].url == "file:///srv/gguf"
    path.write_text(yaml.safe_dump({"packs": {"P": body}}))
    with pytest.raises(ManifestError, match="only https is allowed") as refused:
        load_node_packs(path)
    assert "allow_url_schemes: [file]" in (refused.value.hint or "")
    path.write_text(yaml.safe_dump({"allow_url_schemes": ["ext"], "packs": {"P": body}}))
    with pytest.raises(ManifestError, match="allow_url_schemes"):
        load_node_packs(path)
