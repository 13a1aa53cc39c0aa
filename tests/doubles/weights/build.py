"""Generate a weights double for catalog entries: each file where the Hub double serves it
(`<hub root>/<repo>/<path>`), plus its own manifest (`weights-double.yaml`: the shipped entries with the
generated size and sha256 and the Hub double's commit, and the shipped profiles) and lock
(`weights-double.lock.yaml`), so `wanprov fetch-models --manifest` verifies it as it verifies real files.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import fixed_models, flux, wan
from .gguf_file import write_gguf
from .safetensors_file import write_safetensors
from .torch_zip import write_torch_state_dict

REPO_ROOT = Path(__file__).resolve().parents[3]
CATALOG = REPO_ROOT / "manifests/models/catalog.yaml"
PROFILES = REPO_ROOT / "manifests/models/profiles.yaml"
MANIFEST_NAME = "weights-double.yaml"
# Full-size files (the loaders fix their configuration): CI checks only their headers (sparse files).
LARGE = frozenset({"umt5-xxl-fp8-e4m3fn-scaled", "flux-t5xxl-fp8-e4m3fn", "flux1-schnell-fp8-checkpoint"})


@dataclass(frozen=True)
class Options:
    spiece_model: bytes = b""  # ComfyUI's comfy/text_encoders/t5_pile_tokenizer/tokenizer.model
    sparse: bool = False  # headers only, data a hole (for tests of the big files)


Writer = Callable[[Path, Options, int], int]


def _wan_quant(path: str) -> str:
    match = re.search(r"(Q\d_K_[SM])\.gguf$", path)
    if not match:
        raise ValueError(f"no quantisation type in {path}")
    return match[1]


def writer_for(entry_id: str, entry: dict) -> Writer:
    """How the file of catalog entry `entry_id` is written (keyed by id: each is a different loader)."""
    path = entry["path"]
    if entry_id.startswith("wan22-i2v-a14b-"):
        quant = _wan_quant(path)
        return lambda out, opts, seed: write_gguf(out, "wan", wan.wan_expert(quant), seed=seed)
    if entry_id.startswith("wan22-lightning-"):
        return lambda out, opts, seed: write_safetensors(
            out, wan.wan_lora("up_down"), seed=str(seed), sparse=opts.sparse
        )
    if entry_id.startswith("wan22-lightx2v-"):
        return lambda out, opts, seed: write_safetensors(
            out, wan.wan_lora("a_b"), seed=str(seed), sparse=opts.sparse
        )
    simple: dict[str, Callable[[Options], list]] = {
        "umt5-xxl-fp8-e4m3fn-scaled": lambda opts: fixed_models.umt5_scaled_fp8(_spiece(opts)),
        "wan21-vae": lambda opts: fixed_models.wan21_vae(),
        "flux1-schnell": lambda opts: flux.flux_safetensors("BF16"),
        "flux1-ae": lambda opts: fixed_models.flux_ae(),
        "flux1-schnell-fp8-checkpoint": lambda opts: flux.flux_checkpoint(),
        "flux-clip-l": lambda opts: fixed_models.clip_l(),
        "flux-t5xxl-fp8-e4m3fn": lambda opts: fixed_models.t5xxl_fp8(),
    }
    if entry_id in simple:
        make = simple[entry_id]
        return lambda out, opts, seed: write_safetensors(out, make(opts), seed=str(seed), sparse=opts.sparse)
    if entry_id == "rife49":
        return lambda out, opts, seed: write_torch_state_dict(out, fixed_models.rife47(), seed=seed)
    if entry_id == "flux1-schnell-q4ks-gguf":
        return lambda out, opts, seed: write_gguf(out, "flux", flux.flux_gguf(), seed=seed)
    raise KeyError(f"the weights double has no writer for catalog entry {entry_id!r}")


def _spiece(options: Options) -> bytes:
    if not options.spiece_model and not options.sparse:
        raise ValueError(
            "the umt5 text encoder carries its SentencePiece model (comfy/sd.py:1020): pass "
            "--spiece-model <ComfyUI>/comfy/text_encoders/t5_pile_tokenizer/tokenizer.model"
        )
    return options.spiece_model or b"\0" * 16


def shipped() -> tuple[dict, dict]:
    return yaml.safe_load(CATALOG.read_text())["files"], yaml.safe_load(PROFILES.read_text())["profiles"]


def shipped_profiles(names: Iterable[str]) -> dict[str, dict]:
    """The shipped profiles `names` (profiles.yaml), as generate() takes them."""
    profiles = shipped()[1]
    return {name: profiles[name] for name in names}


def profile_entries(profiles: Mapping[str, dict]) -> list[str]:
    ids: list[str] = []
    for profile in profiles.values():
        for entry_id in profile["files"].values():
            if entry_id not in ids:
                ids.append(entry_id)
    return ids


def hub_commit(repo: str) -> str:
    """The commit the Hub double answers for `repo` (tests/doubles/hub/server.py HubServer.commit)."""
    return hashlib.sha1(repo.encode()).hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def generate(
    hub_root: Path,
    manifest_dir: Path,
    profiles: Mapping[str, dict],
    options: Options = Options(),
    *,
    log: Callable[[str], None] = lambda line: None,
) -> Path:
    """Write every file of `profiles` (name -> {files: {role: catalog id}}) under `hub_root` and the manifest
    + lock under `manifest_dir`; returns the manifest's path. A file already there with the recorded size
    is kept (re-runs are quick)."""
    files = shipped()[0]
    manifest_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = manifest_dir / MANIFEST_NAME
    lock_path = manifest_dir / "weights-double.lock.yaml"
    old_lock = (yaml.safe_load(lock_path.read_text()) or {}).get("files", {}) if lock_path.is_file() else {}
    entries, locks = {}, {}
    for seed, entry_id in enumerate(profile_entries(profiles)):
        entry = dict(files[entry_id])
        target = hub_root / entry["repo"] / entry["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        known = old_lock.get(entry_id)
        if known and target.is_file() and target.stat().st_size == known["size"]:
            size, digest = known["size"], known["sha256"]
            log(f"{entry_id}: kept {target} ({size} B)")
        else:
            start = time.perf_counter()
            size = writer_for(entry_id, entry)(target, options, 1000 + seed)
            digest = sha256_of(target)
            log(f"{entry_id}: wrote {target} ({size} B) in {time.perf_counter() - start:.1f} s")
        commit = hub_commit(entry["repo"])
        entry.update(
            revision=commit,
            size=size,
            sha256=digest,
            gated=False,
            source="weights double (tests/doubles/weights): real format, fake values",
        )
        entries[entry_id] = entry
        locks[entry_id] = {
            "repo": entry["repo"],
            "path": entry["path"],
            "revision": commit,
            "commit": commit,
            "size": size,
            "sha256": digest,
        }
    document = {"schema": "wanprov.catalog/1", "files": entries, "profiles": dict(profiles)}
    manifest_path.write_text(
        "# Generated by python -m tests.doubles.weights: the weights double of the profiles below.\n"
        + yaml.safe_dump(document, sort_keys=False)
    )
    lock_path.write_text(yaml.safe_dump({"schema": "wanprov.lock/1", "files": locks}, sort_keys=False))
    return manifest_path
