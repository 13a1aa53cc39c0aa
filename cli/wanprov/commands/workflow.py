"""`wanprov workflow list | render | install | check | optimize | smoke`: thin click adapters over the core"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from wanprov.commands.output import FORMAT_OPTION, emit_json
from wanprov.datafiles import write_json_output
from wanprov.errors import UsageError, WanprovError
from wanprov.exit_codes import ExitCode
from wanprov.redact import shown

OBJECT_INFO_OPTION = click.option(
    "--object-info",
    "object_info",
    metavar="URL|FILE",
    help="node schemas: a ComfyUI base URL (fetches URL/object_info) or a saved reply; "
    "default: the vendored recording of the pinned stack",
)


@click.group("workflow")
def workflow() -> None:
    """Render tuned workflows, check any workflow against the node schemas and the Wan 2.2 tuning
    checklist, optimize an existing Wan 2.2 workflow."""


@workflow.command("list")
@FORMAT_OPTION
def list_cmd(output_format: str) -> int:
    """The shipped templates and their defaults."""
    from wanprov.workflows.render import list_templates

    templates = list_templates()
    if output_format == "json":
        emit_json(
            {
                "templates": [
                    {
                        "name": t.name,
                        "description": t.description,
                        "family": t.family,
                        "defaults": t.defaults,
                        "tiers": t.tiers,
                    }
                    for t in templates
                ]
            }
        )
        return ExitCode.OK
    for t in templates:
        click.echo(shown(f"{t.name:32} {t.description}"))
    return ExitCode.OK


def render_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options `render` and `install` share: how a template is tuned for a host."""
    options = [
        click.option("--preset", type=click.Choice(["480p", "720p", "1mp"]), help="resolution preset"),
        click.option("--profile", help="model profile (file names come from the catalog); default: per tier"),
        click.option(
            "--facts",
            "facts_file",
            type=click.Path(path_type=Path),
            help="facts saved by `wanprov doctor --save-facts`: VRAM tier, NVENC, profile",
        ),
        click.option(
            "--tier",
            type=click.Choice(["none", "small", "medium", "large", "xlarge"]),
            help="VRAM tier (overrides --facts)",
        ),
        click.option("--nvenc/--no-nvenc", default=None, help="NVENC works on the host (overrides --facts)"),
        click.option(
            "--gpu",
            type=click.IntRange(min=0),
            help="the GPU (nvidia-smi index) of --facts whose tier and NVENC apply; default: the first",
        ),
        click.option(
            "--set", "sets", multiple=True, metavar="KEY=VALUE", help="override a parameter (repeatable)"
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@workflow.command("render")
@click.argument("name")
@render_options
@click.option("-o", "--output", type=click.Path(path_type=Path), help="API-format JSON (default: stdout)")
@click.option(
    "--editor-out", type=click.Path(path_type=Path), help="also write a file the ComfyUI editor opens"
)
@OBJECT_INFO_OPTION
@FORMAT_OPTION
def render_cmd(
    name: str,
    preset: str | None,
    profile: str | None,
    facts_file: Path | None,
    tier: str | None,
    nvenc: bool | None,
    gpu: int | None,
    sets: tuple[str, ...],
    output: Path | None,
    editor_out: Path | None,
    object_info: str | None,
    output_format: str,
) -> int:
    """Render template NAME into API-format JSON (what POST /prompt takes), validated before it is written.

    Without -o the workflow itself is printed; --format json prints a wanprov.workflow-render/1 document
    instead (template, profile, tier, parameters, files written, notes, and the workflow as `prompt`)."""
    from wanprov.workflows.editor import from_api
    from wanprov.workflows.host import settings
    from wanprov.workflows.params import load_defaults, parse_set
    from wanprov.workflows.render import render
    from wanprov.workflows.schema import load_object_info

    overrides = parse_set(sets)
    template = load_defaults()[1].get(name)
    # the tier carries the profile (manifests/workflows/defaults.yaml tiers = the doctor's vram-tiers)
    host = settings(
        facts_file,
        tier=tier,
        nvenc=nvenc,
        uses_nvenc=template is None or "nvenc" in template.params,
        gpu=gpu,
    )
    schemas = load_object_info(object_info)
    result = render(
        name,
        preset=preset,
        profile=profile,
        tier=host.tier,
        nvenc=host.nvenc,
        overrides=overrides,
        schemas=schemas,
    )
    text = output_format == "text"
    notes = [*host.notes, *result.notes]
    for note in notes if text else []:
        click.echo(f"note: {note}", err=True)
    if output is None and text:
        emit_json(result.prompt)
    elif output is not None:
        write_json_output(output, result.prompt, what="--output")
        if text:
            click.echo(
                f"wrote {output} ({name}, profile {result.profile}, {result.params['width']}x"
                f"{result.params['height']})",
                err=True,
            )
    if editor_out is not None:
        write_json_output(editor_out, from_api(result.prompt, schemas), what="--editor-out")
        if text:
            click.echo(f"wrote {editor_out} (opens in the ComfyUI editor)", err=True)
    if not text:
        emit_json(
            {
                "schema": "wanprov.workflow-render/1",
                "template": name,
                "profile": result.profile,
                "tier": host.tier,
                "params": result.params,
                "output": str(output) if output is not None else None,
                "editor_out": str(editor_out) if editor_out is not None else None,
                "notes": notes,
                "prompt": result.prompt,
            }
        )
    return ExitCode.OK


@workflow.command("install")
@click.option(
    "--dest",
    type=click.Path(path_type=Path),
    required=True,
    help="the folder to install into (ComfyUI: <user dir>/default/workflows); created 0755 if missing",
)
@click.option(
    "--template",
    "templates",
    multiple=True,
    metavar="NAME",
    help="a template to install (repeatable); default: every shipped template",
)
@render_options
@click.option("--owner", metavar="USER", help="owner of the folder and files (default: left as is)")
@click.option("--mode", "mode_text", default="0644", show_default=True, help="file mode (octal)")
@click.option(
    "--dry-run", is_flag=True, help="report what would change, write nothing (exit 4 if anything would)"
)
@OBJECT_INFO_OPTION
@FORMAT_OPTION
def install_cmd(
    dest: Path,
    templates: tuple[str, ...],
    preset: str | None,
    profile: str | None,
    facts_file: Path | None,
    tier: str | None,
    nvenc: bool | None,
    gpu: int | None,
    sets: tuple[str, ...],
    owner: str | None,
    mode_text: str,
    dry_run: bool,
    object_info: str | None,
    output_format: str,
) -> int:
    """Render templates (both formats: NAME.api.json and the editor's NAME.json) into DEST, writing only
    files whose content, mode or owner differ.

    Exit 0: nothing changed, or the changes were applied; 4: --dry-run with pending changes."""
    from wanprov.workflows.install import InstallWorkflowsRequest, RenderRequest, install_workflows
    from wanprov.workflows.params import parse_set

    render = RenderRequest(
        preset=preset,
        profile=profile,
        tier=tier,
        nvenc=nvenc,
        overrides=parse_set(sets),
        facts_file=facts_file,
        gpu=gpu,
    )
    report = install_workflows(
        InstallWorkflowsRequest(
            dest=dest,
            templates=templates,
            render=render,
            mode=mode_text,
            owner=owner,
            object_info=object_info,
            dry_run=dry_run,
        )
    )
    result, notes = report.result, report.notes
    if output_format == "json":
        emit_json(result.to_dict())
    else:
        for note in notes:
            click.echo(f"note: {note}", err=True)
        verb = "would write" if dry_run else "wrote"
        for f in result.files:
            if f.status != "unchanged":
                click.echo(f"{verb} {dest / f.name}")
        if result.dir_status != "unchanged":
            click.echo(
                f"{'would set up' if dry_run else 'set up'} the folder {dest} (created, or mode/owner set)"
            )
        if not result.changed:
            click.echo(f"{dest}: {len(result.files)} file(s) up to date")
    return ExitCode.PENDING if dry_run and result.changed else ExitCode.OK


@workflow.command("check")
@click.argument("file", type=click.Path(path_type=Path))
@OBJECT_INFO_OPTION
@click.option(
    "--comfyui-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="a ComfyUI folder: also check that ComfyUI lists every file the workflow names (its folders, "
    "extra_model_paths.yaml and each loader's file types)",
)
@click.option(
    "--extra-model-paths-config",
    "extra_model_paths",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="with --comfyui-dir: a config the service is started with (ComfyUI's flag of the same name; "
    "DIR/extra_model_paths.yaml is always read)",
)
@FORMAT_OPTION
def check_cmd(
    file: Path,
    object_info: str | None,
    comfyui_dir: Path | None,
    extra_model_paths: tuple[Path, ...],
    output_format: str,
) -> int:
    """Validate FILE (API or editor format) against node schemas and the Wan 2.2 tuning checklist.

    Exit 0: valid and no checklist item fails; 1: errors or failed items; 10: FILE unreadable."""
    from wanprov.workflows.check import check_prompt, read_workflow
    from wanprov.workflows.schema import load_object_info

    if extra_model_paths and comfyui_dir is None:
        raise UsageError(
            "--extra-model-paths-config needs --comfyui-dir (the install whose folders it extends)",
            hint="add --comfyui-dir DIR",
        )
    schemas = load_object_info(object_info)
    prompt, input_format = read_workflow(file, schemas)
    report = check_prompt(
        prompt,
        schemas,
        source=str(file),
        input_format=input_format,
        comfyui_dir=comfyui_dir,
        extra_model_paths=extra_model_paths,
    )
    if output_format == "json":
        emit_json(report.to_dict())
    else:
        _print_report(report)
    return ExitCode.OK if report.ok else ExitCode.CHECK_FAILED


@workflow.command("optimize")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), required=True, help="where to write the result"
)
@click.option(
    "--profile",
    help="model profile; default: the VRAM tier's (from --facts/--tier), else wan22-i2v-a14b-q5-lightning",
)
@click.option(
    "--facts",
    "facts_file",
    type=click.Path(path_type=Path),
    help="facts saved by `wanprov doctor --save-facts`: VRAM tier (-> profile) and NVENC",
)
@click.option(
    "--tier",
    type=click.Choice(["none", "small", "medium", "large", "xlarge"]),
    help="VRAM tier (overrides --facts)",
)
@click.option(
    "--nvenc/--no-nvenc",
    default=None,
    help="NVENC works on the host (overrides --facts); unset without facts: the video format is kept",
)
@click.option(
    "--max-length", type=click.IntRange(1, 10_000), default=41, show_default=True, help="clamp frames (4n+1)"
)
@OBJECT_INFO_OPTION
@FORMAT_OPTION
def optimize_cmd(
    file: Path,
    output: Path,
    profile: str | None,
    facts_file: Path | None,
    tier: str | None,
    nvenc: bool | None,
    max_length: int,
    object_info: str | None,
    output_format: str,
) -> int:
    """Rewrite a Wan 2.2 I2V workflow by the checklist: GGUF experts, Lightning pair, 4-step split, sizes,
    NVENC only where it works."""
    from wanprov.workflows.check import check_prompt, read_workflow
    from wanprov.workflows.host import settings
    from wanprov.workflows.names import names_for_profile
    from wanprov.workflows.optimize import Limits, optimize, profile_for_tier
    from wanprov.workflows.params import nearest_4n1
    from wanprov.workflows.schema import load_object_info

    host = settings(facts_file, tier=tier, nvenc=nvenc)
    profile = profile or profile_for_tier(host.tier)
    schemas = load_object_info(object_info)
    prompt, _ = read_workflow(file, schemas)
    result = optimize(
        prompt,
        names_for_profile(profile),
        schemas,
        Limits(max_length=nearest_4n1(max_length)),
        nvenc=host.nvenc,
    )
    report = check_prompt(result.prompt, schemas, source=str(output))
    if not report.ok:
        problems = [f"{i.where()}: {i.message}" for i in report.validation.errors]
        problems += [f"{i.id}: {i.reason}" for i in report.checklist if i.status == "fail"]
        raise WanprovError(
            f"the optimized workflow still fails check, nothing written: {'; '.join(problems[:5])}",
            hint="fix the listed items by hand, or render a tuned template instead",
        )
    write_json_output(output, result.prompt, what="--output")
    if output_format == "json":
        emit_json(
            {
                "file": str(file),
                "output": str(output),
                "profile": profile,
                "tier": host.tier,
                "nvenc": host.nvenc,
                "notes": host.notes,
                "changes": result.changes,
                "check": report.to_dict(),
            }
        )
    else:
        for note in host.notes:
            click.echo(f"note: {note}", err=True)
        for change in result.changes:
            click.echo(f"  {change}")
        click.echo(f"wrote {output}: {len(result.changes)} change(s); it passes `wanprov workflow check`")
    return ExitCode.OK


@workflow.command("smoke")
@click.argument("name")
@click.option(
    "--url",
    default="http://127.0.0.1:8188",
    show_default=True,
    help="the running ComfyUI's base URL",
)
@render_options
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=600,
    show_default=True,
    help="seconds to wait for the result (the first run loads every model)",
)
@click.option(
    "--poll", type=click.FloatRange(min=0.05), default=1.0, show_default=True, help="seconds between polls"
)
@click.option(
    "--size",
    type=click.Choice(["smoke", "full"]),
    default="smoke",
    show_default=True,
    help="smoke: the run scaled down (a few frames, a fraction of the size: a CPU proves it in minutes); "
    "full: the tier/preset's own size, frames and steps (the seconds-per-video figure of a GPU host)",
)
@FORMAT_OPTION
def smoke_cmd(
    name: str,
    url: str,
    preset: str | None,
    profile: str | None,
    facts_file: Path | None,
    tier: str | None,
    nvenc: bool | None,
    gpu: int | None,
    sets: tuple[str, ...],
    timeout: float,
    poll: float,
    size: str,
    output_format: str,
) -> int:
    """Run template NAME at its smoke size on the ComfyUI at --url and report the seconds and the output file.

    Exit 0: every output was written and verifies (read back through the server's /view: container, codec,
    frames, size, fps, every frame decoded, pixels alive); 1: refused; 12: a node failed while running;
    13: timed out; 14: an output is missing or does not verify; 5: server unreachable."""
    from wanprov.workflows.media import media_line
    from wanprov.workflows.smoke import FAILED, REFUSED, TIMED_OUT, UNVERIFIED, smoke_template

    report, notes = smoke_template(
        url,
        name,
        preset=preset,
        profile=profile,
        facts_file=facts_file,
        tier=tier,
        nvenc=nvenc,
        gpu=gpu,
        sets=sets,
        timeout=timeout,
        poll=poll,
        size=size,
    )
    code = {
        REFUSED: ExitCode.CHECK_FAILED,
        FAILED: ExitCode.EXECUTION_FAILED,
        TIMED_OUT: ExitCode.TIMED_OUT,
        UNVERIFIED: ExitCode.OUTPUT_UNVERIFIED,
    }
    if output_format == "json":
        emit_json(report.to_dict())
        return code.get(report.status, ExitCode.OK)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    size = f"{report.params['width']}x{report.params['height']}"
    if report.status == "success":
        click.echo(
            f"{name}: ok in {report.seconds:.1f} s ({size}, profile {report.params['profile']}): "
            f"{report.output or report.outputs[0]['relative']}"
        )
        for media in report.media:
            click.echo(f"  verified: {media_line(media)}")
        stages = (report.timeline or {}).get("stages") or {}
        if stages:
            click.echo("  stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()))
        if report.events_error:
            click.echo(f"note: {report.events_error}", err=True)
    else:
        error = report.error or {}
        where = f" at node {error['node_id']} ({error.get('node_type')})" if error.get("node_id") else ""
        message = str(error.get("exception_message") or error.get("message") or "").strip()
        click.secho(shown(f"{name}: {report.status}{where}: {message}"), fg="red", err=True)
        for media in report.media:
            for problem in media.get("problems") or []:
                click.secho(shown(f"  node {media['node_id']}: {problem}"), fg="red", err=True)
        for node_id, node in report.node_errors.items():
            for err in node.get("errors", []):
                click.secho(
                    shown(
                        f"  node {node_id} ({node.get('class_type')}): {err.get('message')}: "
                        f"{err.get('details')}"
                    ),
                    fg="red",
                    err=True,
                )
    return code.get(report.status, ExitCode.OK)


_MARK = {
    "pass": ("PASS", "green"),
    "fail": ("FAIL", "red"),
    "warn": ("WARN", "yellow"),
    "n/a": ("n/a ", None),
}


def _print_report(report: Any) -> None:
    click.echo(
        f"{report.source} ({report.input_format} format, {report.family}) against {report.schema_source}"
    )
    issues = report.validation.issues
    for issue in [i for i in issues if i.severity == "error"]:
        click.secho(shown(f"  ERROR  [{issue.kind}] {issue.where()}: {issue.message}"), fg="red")
    for issue in [i for i in issues if i.kind == "silent_noop_input"]:
        click.secho(shown(f"  NO-OP  {issue.where()}: {issue.message}"), fg="yellow")
    notes = [i for i in issues if i.severity == "note"]
    if notes:
        click.echo(
            f"  note: {len(notes)} file name(s) not in the schema's lists, accepted because those lists "
            "are empty or recorded elsewhere (e.g. " + notes[0].where() + "); use --comfyui-dir to check"
        )
    if report.validation.failed_outputs:
        click.secho(f"  outputs that would not run: {', '.join(report.validation.failed_outputs)}", fg="red")
    click.echo("  tuning checklist:")
    for item in report.checklist:
        label, colour = _MARK[item.status]
        click.secho(shown(f"    {label}  {item.title}: {item.reason}"), fg=colour)
    for f in report.files:
        if f.found:
            click.echo(shown(f"  file ok    {f.name} ({f.found})"))
        else:
            click.secho(
                shown(
                    f"  file MISSING  {f.name} (node {f.node_id} {f.class_type}.{f.input_name}; "
                    "not listed from "
                    f"{', '.join(f.looked_in) or 'no folder'})"
                ),
                fg="red",
            )
    click.secho("  verdict: OK" if report.ok else "  verdict: FAILED", fg="green" if report.ok else "red")
