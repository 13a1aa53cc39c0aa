"""The stack's command-line options, shared by `wanprov stack converge` and `wanprov up`: each mirrors a
comfyui role variable (comfyui_install_dir -> --comfyui-dir, ...), so one host needs no Ansible. Defaults
follow the role for root, and user-owned folders under ~/.local/share/wanprov for anyone else."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from wanprov.stack.converge import CheckoutRequest, ConvergeRequest, NodesRequest
from wanprov.stack.host_plan import StackRequest, TorchRequest

_DIR = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(dir_okay=False, path_type=Path)


def is_root() -> bool:
    return os.geteuid() == 0


def default_dirs() -> dict[str, Path]:
    """The role's folders for root; an ordinary user's own under XDG_DATA_HOME (no root needed)."""
    if is_root():
        return {"comfyui_dir": Path("/opt/comfyui/ComfyUI"), "venv_dir": Path("/opt/comfyui/venv"),
                "data_dir": Path("/var/lib/comfyui")}  # fmt: skip
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "wanprov"
    return {"comfyui_dir": base / "ComfyUI", "venv_dir": base / "venv", "data_dir": base / "data"}


def default_unit_dir() -> Path:
    """Where systemd reads units: the system's for root, the user's own (`systemctl --user`) otherwise."""
    if is_root():
        return Path("/etc/systemd/system")
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "systemd" / "user"


def _gpus(value: str) -> str | list[int]:
    if value == "all":
        return "all"
    try:
        return [int(part) for part in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"{value!r}: give `all` or GPU indices such as 0,1") from None


STACK_OPTIONS: list[Callable[[Any], Any]] = [
    click.option("--comfyui-dir", type=_DIR, help="The ComfyUI checkout [root: /opt/comfyui/ComfyUI; "
                 "a user: ~/.local/share/wanprov/ComfyUI]."),
    click.option("--venv-dir", type=_DIR, help="ComfyUI's venv [beside the checkout: venv]."),
    click.option("--data-dir", type=_DIR, help="The instances' data (input, output, user) [root: "
                 "/var/lib/comfyui; a user: ~/.local/share/wanprov/data]."),
    click.option("--models-dir", type=_DIR, help="Models outside the checkout (an extra_model_paths map)."),
    click.option("--python", "base_python", default="/usr/bin/python3", show_default=True,
                 help="The interpreter that creates the venv when it is missing."),
    click.option("--gpus", default="all", show_default=True, help="`all` (the doctor's usable GPUs) or 0,1."),
    click.option("--cpu", is_flag=True, help="One instance on the CPU (no GPU needed): adds --cpu."),
    click.option("--port", type=click.IntRange(1, 65535), default=8188, show_default=True,
                 help="GPU N's instance listens on PORT + N."),
    click.option("--listen", default="127.0.0.1", show_default=True, help="The address ComfyUI listens on."),
    click.option("--service-name", default="comfyui", show_default=True, help="Instances are NAME-gpuN."),
    click.option("--comfyui-git-url", help="Where ComfyUI comes from [the shipped pin's URL]."),
    click.option("--comfyui-version", help="The ComfyUI commit (40 hex) [the shipped pin]."),
    click.option("--allow-url-scheme", "url_schemes", multiple=True,
                 type=click.Choice(["file", "ssh", "http"]),
                 help="Accept git URLs of this transport besides https (local mirrors: file)."),
    click.option("--torch-variant", default="", help="cu126 | cu128 | cu130 [the doctor's choice]."),
    click.option("--torch-version", default="", help="With --torch-variant: the torch version."),
    click.option("--torchvision-version", default="", help="With --torch-variant: torchvision's."),
    click.option("--torchaudio-version", default="", help="With --torch-variant: torchaudio's."),
    click.option("--torch-index-url", default="", help="The PyTorch index or a mirror [the variant's]."),
    click.option("--launch-flag", "launch_flags", multiple=True, help="A tier flag [the doctor's per GPU]."),
    click.option("--extra-launch-flag", "extra_launch_flags", multiple=True,
                 help="A flag after the tier flags (repeatable), e.g. --extra-launch-flag=--fast."),
    click.option("--pip-index-url", default="", help="The index for everything but torch."),
    click.option("--pip-extra-args", default="", help="Extra pip arguments, e.g. '--no-index'."),
    click.option("--node-manifest", type=_FILE, help="A node pack manifest [the shipped one]."),
    click.option("--with-optional", "optional", multiple=True, help="Add an optional node pack, or `all`."),
    click.option("--force", is_flag=True, help="Discard local edits to tracked files in the checkouts."),
]  # fmt: skip


def stack_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(STACK_OPTIONS):
        command = option(command)
    return command


def converge_request(
    options: dict[str, Any], *, dry_run: bool, service_manager: str, unit_dir: Path, summary: Any = None
) -> ConvergeRequest:
    """The stack options as the core's typed request (paths absolute, the shipped ComfyUI pin by default)."""
    from wanprov.stack.manifest import load_comfyui

    dirs = default_dirs()
    comfyui_dir = (options["comfyui_dir"] or dirs["comfyui_dir"]).absolute()
    venv_dir = (options["venv_dir"] or (comfyui_dir.parent / "venv" if options["comfyui_dir"]
                                        else dirs["venv_dir"])).absolute()  # fmt: skip
    pin = None if options["comfyui_git_url"] and options["comfyui_version"] else load_comfyui()
    extra = list(options["extra_launch_flags"]) + (["--cpu"] if options["cpu"] else [])
    stack = StackRequest(
        install_dir=comfyui_dir,
        venv_dir=venv_dir,
        data_dir=(options["data_dir"] or dirs["data_dir"]).absolute(),
        models_dir=options["models_dir"].absolute() if options["models_dir"] else None,
        listen=options["listen"],
        port=options["port"],
        gpus=_gpus(options["gpus"]),
        torch=TorchRequest(
            variant=options["torch_variant"],
            torch=options["torch_version"],
            torchvision=options["torchvision_version"],
            torchaudio=options["torchaudio_version"],
            index_url=options["torch_index_url"],
        ),
        launch_flags=list(options["launch_flags"]),
        extra_launch_flags=extra,
        pip_index_url=options["pip_index_url"],
        pip_extra_args=options["pip_extra_args"],
        service_name=options["service_name"],
        unit_dir=unit_dir,
        service_manager=service_manager,
    )
    return ConvergeRequest(
        stack=stack,
        summary=summary,
        checkout=CheckoutRequest(
            url=options["comfyui_git_url"] or (pin.url if pin else ""),
            ref=options["comfyui_version"] or (pin.commit if pin else ""),
        ),
        git_url_schemes=list(options["url_schemes"]),
        create_venv_with=options["base_python"],
        nodes=NodesRequest(manifest=options["node_manifest"], optional=list(options["optional"])),
        force=options["force"],
        dry_run=dry_run,
    )
