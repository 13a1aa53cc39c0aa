"""The text of each instance's service files, as the comfyui role's templates write them (a test renders
both and compares): the hardened systemd system unit, the launch file (the same command line, for the
test-only process supervisor), a systemd user unit for a workstation, and the exact start command.

Every value in a unit is written for systemd's own parser, not a shell's: `%` starts a specifier (`%%` is a
literal %), in ExecStart= `$` expands a variable (`$$` is a literal $), and a value with anything but plain
characters is double-quoted with C escapes, so no value can end its line and add a directive.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

HEADER = "# Written by wanprov (the comfyui role or `wanprov up`); a later run replaces edits."
# Environment names that look like credentials: kept out of the 0644 unit, in the 0600 environment file.
SECRET_NAME = re.compile(r"(?i)(token|secret|passw(or)?d|pass$|key|credential|auth)")
_PLAIN = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")


@dataclass(frozen=True)
class ServiceSettings:
    """What the units add to the stack plan's instance: who runs it, where, with which environment."""

    user: str
    group: str
    install_dir: str
    data_dir: str
    comfyui_version: str
    env_file: str  # the root-only file with the credentials (system units)
    environment: Mapping[str, str] = field(default_factory=dict)
    secret_environment: Mapping[str, str] = field(default_factory=dict)
    write_paths: Sequence[str] = ()

    @property
    def public_env(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.environment.items() if not SECRET_NAME.search(k)}

    @property
    def secret_env(self) -> dict[str, str]:
        secret = {k: str(v) for k, v in self.environment.items() if SECRET_NAME.search(k)}
        return {**secret, **{k: str(v) for k, v in self.secret_environment.items()}}


def unit_quote(value: object, *, exec_line: bool = False) -> str:
    text = str(value).replace("%", "%%").replace("$", "$$" if exec_line else "$")
    if _PLAIN.match(text):
        return text
    return '"' + _escape(text) + '"'


def _escape(text: str) -> str:
    for old, new in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        text = text.replace(old, new)
    return text


def _describe(instance: Mapping[str, Any], settings: ServiceSettings) -> str:
    where = "the CPU" if instance["gpu"] is None else f"GPU {instance['gpu']}"
    return f"ComfyUI {settings.comfyui_version[:12].replace('%', '%%')} on {where} (wanprov)"


def _environment_lines(instance: Mapping[str, Any], settings: ServiceSettings) -> list[str]:
    env = {**instance["env"], **settings.public_env}
    lines = ["Environment=PYTHONUNBUFFERED=1"]
    for name, value in sorted(env.items()):
        lines.append('Environment="' + _escape(f"{name}={value}".replace("%", "%%")) + '"')
    return lines


def _exec_start(instance: Mapping[str, Any]) -> str:
    return "ExecStart=" + " ".join(unit_quote(arg, exec_line=True) for arg in instance["argv"])


def system_unit(instance: Mapping[str, Any], settings: ServiceSettings) -> str:
    """The hardened system unit (root): the comfyui role's comfyui.service.j2, line for line."""
    port_caps = (
        ["CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "AmbientCapabilities=CAP_NET_BIND_SERVICE"]
        if int(instance["port"]) < 1024
        else ["CapabilityBoundingSet="]
    )
    write_paths = " ".join(unit_quote(path) for path in [settings.data_dir, *settings.write_paths])
    lines = [
        HEADER,
        "[Unit]",
        f"Description={_describe(instance, settings)}",
        "Documentation=https://github.com/Comfy-Org/ComfyUI",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"User={settings.user}",
        f"Group={settings.group}",
        f"WorkingDirectory={settings.install_dir.replace('%', '%%')}",
        *_environment_lines(instance, settings),
        "# Credentials (comfyui_service_secret_environment, and any *TOKEN*/*SECRET*/*PASSWORD*/*KEY* name) "
        "live in a",
        "# root-only 0600 file that systemd reads before dropping privileges; this unit is world-readable.",
        f"EnvironmentFile=-{settings.env_file.replace('%', '%%')}",
        _exec_start(instance),
        "Restart=on-failure",
        "RestartSec=5",
        "TimeoutStopSec=30",
        "",
        *HARDENING_COMMENT,
        "NoNewPrivileges=true",
        *port_caps,
        "ProtectSystem=strict",
        f"ReadWritePaths={write_paths}",
        *HARDENING,
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"


def user_unit(instance: Mapping[str, Any], settings: ServiceSettings) -> str:
    """A systemd user unit (`systemctl --user`) for a workstation: the same command line and environment,
    run as the user who owns the folders; the system unit's hardening needs root, so it is not here."""
    env = [f"Environment={line.split('=', 1)[1]}" for line in _environment_lines(instance, settings)]
    secrets = [
        'Environment="' + _escape(f"{k}={v}".replace("%", "%%")) + '"'
        for k, v in sorted(settings.secret_env.items())
    ]
    lines = [
        HEADER,
        "[Unit]",
        f"Description={_describe(instance, settings)}",
        "Documentation=https://github.com/Comfy-Org/ComfyUI",
        "",
        "[Service]",
        "Type=simple",
        f"WorkingDirectory={settings.install_dir.replace('%', '%%')}",
        *env,
        *secrets,
        _exec_start(instance),
        "Restart=on-failure",
        "RestartSec=5",
        "TimeoutStopSec=30",
        "UMask=0027",
        "",
        "[Install]",
        "WantedBy=default.target",
    ]
    return "\n".join(lines) + "\n"


def env_file(settings: ServiceSettings) -> str:
    """The root-only environment file systemd reads for every instance (the role's comfyui.env.j2)."""
    lines = [HEADER, "# Read by systemd (as root) for the instances' units. Root-only: it holds credentials."]
    for name, value in sorted(settings.secret_env.items()):
        quoted = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`")
        lines.append(f'{name}="{quoted}"')
    return "\n".join(lines) + "\n"


def launch_file(instance: Mapping[str, Any], settings: ServiceSettings) -> str:
    """The instance's whole command line and environment (credentials too: root-only 0600), which the
    test-only process supervisor starts; the role's comfyui-launch.json.j2."""
    document = {
        "argv": instance["argv"],
        "cwd": settings.install_dir,
        "user": settings.user,
        "group": settings.group,
        "env": {"PYTHONUNBUFFERED": "1", **instance["env"], **settings.environment,
                **settings.secret_environment},
        "pidfile": instance["pidfile"],
        "logfile": instance["logfile"],
    }  # fmt: skip
    return json.dumps(document, indent=4, sort_keys=True, separators=(",", ": ")) + "\n"


def start_command(instance: Mapping[str, Any], settings: ServiceSettings) -> str:
    """The exact shell command that starts the instance by hand (`--service none`)."""
    env = {"PYTHONUNBUFFERED": "1", **instance["env"], **settings.public_env}
    assignments = " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items())
    return f"cd {shlex.quote(settings.install_dir)} && env {assignments} {shlex.join(instance['argv'])}"


# The role's comment on what the hardening leaves out, and why.
HARDENING_COMMENT = [
    "# Hardening, each checked against what ComfyUI and the NVIDIA driver need. Left out on purpose:",
    "#  PrivateDevices=, DevicePolicy=, DeviceAllow=: would hide /dev/nvidia*, /dev/nvidiactl, "
    "/dev/nvidia-uvm.",
    "#  ProtectClock=: implies DeviceAllow=char-rtc, which turns the device policy into an allow-list and so",
    "#    hides the GPU too; the clock is protected anyway (no CAP_SYS_TIME, @clock is not in the filter "
    "below).",
    "#  MemoryDenyWriteExecute=: torch.compile / triton and the CUDA driver's PTX JIT need W+X memory.",
    "#  PrivateUsers=, ProtectProc=invisible: the driver's /proc/driver/nvidia and device ownership checks.",
]
HARDENING = [
    "ProtectHome=true",
    "PrivateTmp=true",
    "ProtectKernelTunables=true",
    "ProtectKernelModules=true",
    "ProtectKernelLogs=true",
    "ProtectControlGroups=true",
    "ProtectHostname=true",
    "RestrictSUIDSGID=true",
    "RestrictRealtime=true",
    "RestrictNamespaces=true",
    "LockPersonality=true",
    "# AF_NETLINK: some libraries enumerate interfaces (getifaddrs) at import.",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
    "SystemCallArchitectures=native",
    "# @system-service holds what a Python service, torch and the CUDA driver call (ioctl, mmap, mbind,",
    "# sched_setaffinity, memfd_create ...); anything else fails with EPERM instead of killing the process.",
    "SystemCallFilter=@system-service",
    "SystemCallErrorNumber=EPERM",
    "# Outputs readable by the service's group, not by every user.",
    "UMask=0027",
]


# ComfyUI's model folders -> the subfolders of the models folder they list (the role's comfyui_model_folders).
MODEL_FOLDERS: dict[str, list[str]] = {
    "checkpoints": ["checkpoints"],
    "clip": ["clip", "text_encoders"],
    "clip_vision": ["clip_vision"],
    "configs": ["configs"],
    "controlnet": ["controlnet"],
    "diffusion_models": ["diffusion_models", "unet"],
    "embeddings": ["embeddings"],
    "loras": ["loras"],
    "text_encoders": ["text_encoders", "clip"],
    "upscale_models": ["upscale_models"],
    "vae": ["vae"],
}


def extra_model_paths(models_dir: str, folders: Mapping[str, Sequence[str]] = MODEL_FOLDERS) -> str:
    """The models map for --extra-model-paths-config (the role's extra_model_paths.yaml.j2)."""
    lines = [
        HEADER,
        f"# Models live outside the ComfyUI tree, in {models_dir} (loaded with --extra-model-paths-config).",
        "wanprov:",
        f"  base_path: {models_dir}",
        "  is_default: true",
    ]
    for folder, subfolders in folders.items():
        lines.append(f"  {folder}: |")
        lines += [f"    {sub}" for sub in subfolders]
    return "\n".join(lines) + "\n"
