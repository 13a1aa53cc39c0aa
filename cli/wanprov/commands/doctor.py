"""`wanprov doctor`: is this host ready? Thin: parse flags, collect or load facts, evaluate, print."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from wanprov.commands.models import MANIFEST_OPTION
from wanprov.commands.output import FORMAT_OPTION, emit_json
from wanprov.exit_codes import ExitCode


def parse_gpus(value: str | None) -> list[int] | None:
    """'0,2' -> [0, 2]; a bad list is a usage error (exit 2) that shows what was given."""
    if value is None:
        return None
    tokens = [token.strip() for token in value.split(",")]
    if not tokens or not all(token.isdigit() for token in tokens):
        raise click.BadParameter(f"{value!r}: expected GPU indices such as 0 or 0,2 (see nvidia-smi -L)")
    return [int(token) for token in tokens]


@click.command("doctor")
@click.option(
    "--comfyui-dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="ComfyUI checkout: its venv's python is probed, its version, nodes and launch flags read.",
)
@click.option(
    "--models-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where models go (free disk is measured there). Default: COMFYUI_DIR/models.",
)
@click.option(
    "--python",
    "python",
    type=click.Path(dir_okay=False),
    default=None,
    help="Target interpreter whose torch is probed. Default: the ComfyUI venv's, else this one.",
)
@click.option(
    "--profile",
    default=None,
    help="Model profile to check against the GPU's VRAM tier and to size the disk for. "
    "Default: each GPU's recommended one.",
)
@MANIFEST_OPTION
@click.option(
    "--gpus",
    "gpu_selection",
    default=None,
    metavar="0,2",
    callback=lambda _ctx, _param, value: parse_gpus(value),
    help="Judge only these GPUs (nvidia-smi indices); the others are reported as excluded. Default: all.",
)
@click.option("--no-torch", is_flag=True, help="Skip the torch probe (fast: no `import torch`).")
@click.option("--no-nvenc", is_flag=True, help="Skip the one-frame NVENC encodes.")
@click.option(
    "--facts",
    "facts_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Judge a recorded facts file (from --save-facts) instead of probing this host.",
)
@click.option(
    "--save-facts",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the probed facts (JSON, schema wanprov.facts/1) to this file.",
)
@click.option("--strict", is_flag=True, help="WARN findings fail the check too (exit 1).")
@FORMAT_OPTION
def doctor(
    comfyui_dir: str | None,
    models_dir: str | None,
    python: str | None,
    profile: str | None,
    manifests: tuple[Path, ...],
    gpu_selection: list[int] | None,
    no_torch: bool,
    no_nvenc: bool,
    facts_file: str | None,
    save_facts: str | None,
    strict: bool,
    output_format: str,
) -> int:
    """Check that this host is ready for ComfyUI + Wan 2.2: a verdict per check, with the fix.

    Every GPU is judged (or those --gpus names); a GPU that cannot run is a FAIL naming it.

    Exit codes: 0 no FAIL, 1 FAIL (or WARN with --strict), 2 usage, 3 could not run, 10 bad facts file.
    """
    from wanprov.doctor import evaluate
    from wanprov.facts import snapshot

    if facts_file:
        if any((comfyui_dir, models_dir, python, no_torch, no_nvenc)):
            raise click.UsageError("--facts judges a recorded host: probe options cannot be combined with it")
        facts = snapshot.load(facts_file)
    else:
        import threading

        from wanprov.compat import tables
        from wanprov.facts import ProbeOptions, collect

        if output_format == "text":
            click.echo("probing host...", err=True)
        # The rules' YAML tables load while the probes wait on nvidia-smi, ffmpeg and torch.
        warm = threading.Thread(target=tables.preload, daemon=True)
        warm.start()
        options = ProbeOptions(
            comfyui_dir=comfyui_dir,
            models_dir=models_dir,
            python=python,
            torch=not no_torch,
            nvenc=not no_nvenc,
        )
        facts = collect(options)
        warm.join()
    if save_facts:
        snapshot.save(facts, save_facts)
    report = evaluate(facts, strict=strict, profile=profile, gpus=gpu_selection, manifests=manifests)
    if output_format == "json":
        emit_json(report.to_dict())
    else:
        from wanprov.doctor.render import render_text

        click.echo(render_text(report, colour=sys.stdout.isatty()))
    return ExitCode.OK if report.ok else ExitCode.CHECK_FAILED
