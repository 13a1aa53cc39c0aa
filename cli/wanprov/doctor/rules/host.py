"""Rules about the rest of the host: NVENC, RAM, disk, ffmpeg, the ComfyUI install and its flags."""

from __future__ import annotations

from typing import Any

from wanprov.compat import gpus, tables
from wanprov.doctor.findings import Finding, fail, info, passed, warn
from wanprov.doctor.rules.context import Context
from wanprov.doctor.rules.per_gpu import each_gpu
from wanprov.doctor.summary import gpu_nvenc, per_gpu_nvenc

GIB = 1024**3
PINNED_COMFYUI = "0.3.64"


NVENC_HOW_TO_TEST = (
    "install ffmpeg (apt-get install ffmpeg) to test NVENC with the binary VideoHelperSuite encodes with, "
    "or run doctor with --python of the ComfyUI venv to test through its PyAV"
)


def _tested_by(facts: dict[str, Any]) -> str:
    """Which tool decided: VHS encodes through the ffmpeg binary, ComfyUI core through PyAV."""
    if facts.get("tool") == "pyav":
        return f"PyAV {facts.get('av_version')} in {facts.get('python')}"
    return f"ffmpeg {facts.get('binary') or ''}".rstrip()


def nvenc(ctx: Context) -> list[Finding]:
    """Rule 7: decided by a real one-frame encode, never by NVML's encoder capacity; per GPU where each
    GPU had its own encodes (an H100 beside an RTX 4090 has none, the 4090 has)."""
    facts = ctx.facts.get("nvenc") or {}
    if facts.get("status") == "skipped":
        return [info("nvenc", "NVENC not tested (--no-nvenc)")]
    if per_gpu_nvenc(ctx.facts) and ctx.devices:
        return each_gpu(ctx, _gpu_nvenc_verdict)
    return _nvenc_verdict(facts, ctx.device)


def _gpu_nvenc_verdict(ctx: Context, device: dict[str, Any]) -> list[Finding]:
    return _nvenc_verdict(gpu_nvenc(ctx.facts, device.get("index")), device)


def _nvenc_verdict(facts: dict[str, Any], device: dict[str, Any] | None) -> list[Finding]:
    """The verdict of one NVENC section: the host's, or one GPU's."""
    encoders = facts.get("encoders") or {}
    if facts.get("status") != "ok" or not encoders:
        return [info("nvenc", f"NVENC unknown: {facts.get('reason')}", NVENC_HOW_TO_TEST)]
    pyav = facts.get("tool") == "pyav"
    by = f" (tested with {_tested_by(facts)})"
    working = [codec for codec, result in encoders.items() if result.get("ok")]
    if working:
        missing = [codec for codec in encoders if codec not in working]
        tail = f"; not {', '.join(missing)}" if missing else ""
        message = f"one-frame encode works with {', '.join(working)}{tail}{by}"
        if pyav:  # ComfyUI core's video nodes can use it; VHS's nvenc formats run an ffmpeg binary
            message += (
                "; VideoHelperSuite's nvenc formats also need an ffmpeg binary with nvenc (none was "
                "tested): libx264 stays the safe VHS choice"
            )
        return [passed("nvenc", message)]
    # h264 first, whatever the order (a saved facts file has its keys sorted)
    first_error = (encoders.get("h264_nvenc") or next(iter(encoders.values()))).get("error")
    name = (device or {}).get("name")
    known = f" ({name} has no NVENC hardware)" if gpus.known_without_nvenc(name) else ""
    control = " while the libx264 control worked" if pyav else ""
    return [
        info(
            "nvenc",
            f"no NVENC: a one-frame encode failed with every codec{control}{known}{by}: {first_error}",
            "videos are encoded on the CPU (libx264); choose an h264/libx264 output format in workflows",
        )
    ]


def ffmpeg_present(ctx: Context) -> list[Finding]:
    ffmpeg = ctx.facts.get("ffmpeg") or {}
    if ffmpeg.get("status") == "ok":
        version = f" {ffmpeg['version']}" if ffmpeg.get("version") else ""
        return [passed("ffmpeg_present", f"ffmpeg{version} at {ffmpeg.get('path')}")]
    return [
        warn(
            "ffmpeg_present",
            f"ffmpeg not usable: {ffmpeg.get('reason')}",
            "apt-get install ffmpeg (VideoHelperSuite writes videos through the ffmpeg binary)",
        )
    ]


def memory(ctx: Context) -> list[Finding]:
    facts = ctx.facts.get("memory") or {}
    if facts.get("status") != "ok" or facts.get("total_bytes") is None:  # a facts file may leave it out
        return [info("memory", f"RAM unknown: {facts.get('reason') or 'not reported'}")]
    limits = tables.load("host-minimums")
    total = facts["total_bytes"] / GIB
    if total < limits["ram_fail_gib"]:
        return [
            fail(
                "memory",
                f"{total:.1f} GiB RAM: Wan 2.2 A14B needs >= {limits['ram_fail_gib']} GiB to "
                "swap its two experts",
                f"use a host with >= {limits['ram_warn_gib']} GiB RAM",
            )
        ]
    if total < limits["ram_warn_gib"]:
        return [
            warn(
                "memory",
                f"{total:.1f} GiB RAM: offloading both experts and the text encoder may swap",
                f"use >= {limits['ram_warn_gib']} GiB RAM, or the Q3 profile",
            )
        ]
    return [passed("memory", f"{total:.1f} GiB RAM")]


# Room beyond the bytes still to fetch: fetch-models' own margin (logs, the record) plus a share of the
# download for outputs and caches. A profile's files land by rename: no second copy is needed.
DISK_MARGIN_BYTES = 256 << 20
DISK_HEADROOM_SHARE = 0.05


def profile_need(ctx: Context) -> tuple[int, list[str]]:
    """The bytes the chosen profiles still have to fetch into the models folder: every distinct file of
    theirs (catalog and lock, --manifest included) less those already there and verified (facts
    disk.verified: same path, same sha256). A file whose size neither catalog nor lock knows counts as the
    largest known file of its profiles. Also the ids of those estimated files."""
    verified = (ctx.facts.get("disk") or {}).get("verified")
    verified = verified if isinstance(verified, dict) else {}
    entries = {entry.id: entry for name in ctx.profiles for entry in ctx.catalog.profile(name)}
    largest = max((entry.size or 0 for entry in entries.values()), default=0)
    need, estimated = 0, []
    for entry in entries.values():
        there = verified.get(entry.relpath)
        if isinstance(there, dict) and there.get("sha256") == (entry.sha256 or there.get("sha256")):
            continue
        if entry.size is None:
            estimated.append(entry.id)
        need += entry.size if entry.size is not None else largest
    return need, estimated


def disk_space(ctx: Context) -> list[Finding]:
    """The free disk where models go against what the chosen profile still has to fetch (none
    chosen or recommended: nothing to size), plus headroom - as fetch-models' own preflight sizes it."""
    facts = ctx.facts.get("disk") or {}
    if facts.get("status") != "ok" or facts.get("free_bytes") is None:
        return [info("disk_space", f"free disk unknown: {facts.get('reason') or 'not reported'}")]
    free = facts["free_bytes"]
    where = facts.get("path")
    profiles = ctx.profiles
    if not profiles:
        return [
            info("disk_space", f"{free / GIB:.1f} GiB free at {where}; no model profile to size (--profile)")
        ]
    need, estimated = profile_need(ctx)
    headroom = DISK_MARGIN_BYTES + int(need * DISK_HEADROOM_SHARE) if need else 0
    names = ", ".join(profiles)
    guess = f" ({len(estimated)} file(s) of unknown size counted as the largest)" if estimated else ""
    sized = f"profile {names} still needs {need / GIB:.1f} GiB{guess} + {headroom / GIB:.1f} GiB headroom"
    if free < need + headroom:
        fix = (
            f"free space at {where} or point --models-dir at a larger disk; `wanprov fetch-models --profile "
            f"{profiles[0]} --models-dir {where} --dry-run` lists the files still to fetch"
        )
        return [fail("disk_space", f"{free / GIB:.1f} GiB free at {where}: {sized}", fix)]
    return [passed("disk_space", f"{free / GIB:.1f} GiB free at {where}: {sized}")]


def comfyui_install(ctx: Context) -> list[Finding]:
    facts = ctx.facts.get("comfyui") or {}
    status = facts.get("status")
    if status == "skipped":
        return []
    if status != "ok":
        return [
            fail(
                "comfyui_install",
                f"ComfyUI not found: {facts.get('reason')}",
                "give --comfyui-dir the folder that holds ComfyUI's main.py; without ComfyUI, install "
                "the stack on this host: ansible-playbook site.yml -i localhost, -c local "
                "(README: one workstation)",
            )
        ]
    packs = facts.get("custom_nodes") or []
    names = ", ".join(pack["name"] for pack in packs) or "none"
    ident = facts.get("version") or "unknown version"
    commit = (facts.get("commit") or "")[:12] or "not a git checkout"
    return [info("comfyui_install", f"ComfyUI {ident} ({commit}) at {facts.get('dir')}; node packs: {names}")]


def comfyui_launch_flags(ctx: Context) -> list[Finding]:
    """Rule 9: the flags doctor recommends (for any judged GPU's tier) must exist in the installed (else the
    pinned) ComfyUI."""
    judged = {device.get("index") for device in ctx.devices}
    per_gpu = [entry["launch_flags"] for entry in ctx.summary.get("gpus") or [] if entry["index"] in judged]
    every = [*(ctx.summary.get("launch_flags") or []), *(flag for flags in per_gpu for flag in flags)]
    flags = [flag for flag in dict.fromkeys(every) if flag.startswith("--")]
    comfyui = ctx.facts.get("comfyui") or {}
    accepted = comfyui.get("launch_flags") if comfyui.get("status") == "ok" else None
    where = f"the ComfyUI at {comfyui.get('dir')}"
    if accepted is None:
        accepted = tables.load("comfyui-launch-flags").get(PINNED_COMFYUI, [])
        where = f"ComfyUI {PINNED_COMFYUI} (the pinned version)"
    unknown = [flag for flag in flags if flag not in accepted]
    if unknown:
        return [
            fail(
                "comfyui_launch_flags",
                f"{where} does not accept {', '.join(unknown)}",
                f"install the pinned ComfyUI {PINNED_COMFYUI}, or launch without {', '.join(unknown)}",
            )
        ]
    shown = " ".join(flags) or "(none: ComfyUI's defaults)"
    return [passed("comfyui_launch_flags", f"launch flags {shown} accepted by {where}")]


def _entry(ctx: Context, device: dict[str, Any]) -> dict[str, Any]:
    """The GPU's summary.gpus[] entry (its tier, profile, flags)."""
    return ctx.summary_gpus[device.get("index")]


def vram_tier(ctx: Context) -> list[Finding]:
    return each_gpu(ctx, _vram_tier)


def _vram_tier(ctx: Context, device: dict[str, Any]) -> list[Finding]:
    gpu = _entry(ctx, device)
    return [
        info(
            "vram_tier",
            f"VRAM tier {gpu['vram_tier']}: profile {gpu['recommended_profile']} "
            f"({gpu['recommended_quant']}), launch flags {' '.join(gpu['launch_flags']) or 'none'}",
        )
    ]


def _profile_rank(profile: str | None) -> int | None:
    """Position from the smallest tier's profile up (None for profiles without VRAM guidance)."""
    order = [row["profile"] for row in reversed(tables.load("vram-tiers")) if row["profile"]]
    return order.index(profile) if profile in order else None


def profile_fit(ctx: Context) -> list[Finding]:
    if not ctx.profile:
        return []
    if ctx.device is None:
        if _profile_rank(ctx.profile) is None:
            return [info("profile_fit", f"profile {ctx.profile}: no VRAM guidance for it")]
        return [fail("profile_fit", f"profile {ctx.profile} needs an NVIDIA GPU", "run it on a GPU host")]
    return each_gpu(ctx, _profile_fit)


def _profile_fit(ctx: Context, device: dict[str, Any]) -> list[Finding]:
    gpu = _entry(ctx, device)
    wanted, recommended = _profile_rank(ctx.profile), _profile_rank(gpu["recommended_profile"])
    if wanted is None:
        return [info("profile_fit", f"profile {ctx.profile}: no VRAM guidance for it")]
    if recommended is None:
        return [fail("profile_fit", f"profile {ctx.profile} needs an NVIDIA GPU", "run it on a GPU host")]
    if wanted > recommended:
        return [
            warn(
                "profile_fit",
                f"profile {ctx.profile} is heavier than the {gpu['vram_tier']} "
                f"VRAM tier suggests: expect offloading and slow runs",
                f"use --profile {gpu['recommended_profile']}",
            )
        ]
    return [passed("profile_fit", f"profile {ctx.profile} fits the {gpu['vram_tier']} VRAM tier")]
