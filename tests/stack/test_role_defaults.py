"""The comfyui role's defaults agree with the stack manifests, and every default is documented."""

from __future__ import annotations

import re

import yaml

from wanprov.stack.manifest import load_comfyui


def test_comfyui_pin_matches_manifest(repo_root):
    defaults = yaml.safe_load((repo_root / "roles/comfyui/defaults/main.yml").read_text())
    pin = load_comfyui()
    assert defaults["comfyui_version"] == pin.commit
    assert defaults["comfyui_git_url"] == pin.url
    assert defaults["comfyui_listen"] == "127.0.0.1"


def test_every_default_is_prefixed_and_documented(repo_root):
    for role, prefix in (("comfyui", "comfyui_"), ("wanprov_cli", "wanprov_cli_")):
        defaults = yaml.safe_load((repo_root / f"roles/{role}/defaults/main.yml").read_text())
        readme = (repo_root / f"roles/{role}/README.md").read_text()
        for name in defaults:
            assert name.startswith(prefix), name
            assert re.search(rf"\b{name}\b", readme), f"{name} is not documented in roles/{role}/README.md"
