"""The one plan for a host's ComfyUI stack: which torch (pins and index), the pip arguments, the torch
protection files (constraints and pip.conf, text included) and the service's launch flags.

Pure: it reads the doctor's summary (or explicit settings) and returns data. The `wanprov.gpu.stack` Ansible
module and any later caller take every decision from here, so no template or Jinja re-derives it; the
constraints and pip.conf text come from `stack.constraints`, the one writer of those files.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wanprov.errors import UsageError
from wanprov.stack.constraints import PROTECTED, render_constraints, render_pip_conf
from wanprov.stack.errors import RefusedError

SCHEMA = "wanprov.stack/1"
TORCH_INDEX_BASE = "https://download.pytorch.org/whl/"
CONSTRAINTS_NAME = "wanprov-constraints.txt"  # in the venv, beside pip.conf (what install-nodes defaults to)
# A service listening on every address is reached from the host itself on loopback.
ANY_ADDRESS = frozenset({"", "0.0.0.0", "::"})
_LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|::1|localhost)$")


@dataclass(frozen=True)
class TorchRequest:
    """Explicit torch settings; all empty leaves the choice to the doctor's summary.torch."""

    variant: str = ""
    torch: str = ""
    torchvision: str = ""
    torchaudio: str = ""
    index_url: str = ""

    @property
    def explicit(self) -> bool:
        return bool(self.variant)


@dataclass(frozen=True)
class StackRequest:
    """What the caller asks for (the comfyui role's settings), paths absolute."""

    install_dir: Path
    venv_dir: Path
    data_dir: Path
    user_dir: Path
    models_dir: Path | None = None
    listen: str = "127.0.0.1"
    port: int = 8188
    torch: TorchRequest = field(default_factory=TorchRequest)
    launch_flags: Sequence[str] = ()
    launch_flags_auto: bool = True
    extra_launch_flags: Sequence[str] = ()
    pip_index_url: str = ""
    pip_extra_args: str = ""


@dataclass(frozen=True)
class StackPlan:
    torch: dict[str, str]  # variant, torch, torchvision, torchaudio, index_url, source (explicit | doctor)
    torch_pins: dict[str, str]  # torch, torchvision, torchaudio -> version as given (label or none)
    pip_args: list[str]  # every install but torch's
    torch_pip_args: list[str]  # the torch install: its index first
    launch_flags: list[str]  # tier + extra + paths, in that order
    argv: list[str]  # the service's command line
    files: dict[str, str]  # path -> text: the torch protection files
    url: str  # where the host itself reaches the service (health checks, `wanprov stack wait`)
    exposed: bool  # listens beyond loopback (ComfyUI has no authentication: the role warns)

    @property
    def python(self) -> str:
        return self.argv[0]

    @property
    def constraints(self) -> str:
        return next(path for path in self.files if path.endswith(CONSTRAINTS_NAME))

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "torch": self.torch,
            "torch_pins": self.torch_pins,
            "pip_args": self.pip_args,
            "torch_pip_args": self.torch_pip_args,
            "launch_flags": self.launch_flags,
            "argv": self.argv,
            "python": self.python,
            "constraints": self.constraints,
            "files": self.files,
            "url": self.url,
            "exposed": self.exposed,
        }


def settle_torch(request: TorchRequest, doctor_torch: Mapping[str, Any] | None) -> dict[str, str]:
    """Explicit settings win (variant and the three versions together); else the doctor's choice."""
    given = [request.variant, request.torch, request.torchvision, request.torchaudio]
    if any(given) and not all(given):
        raise UsageError(
            "torch variant, torch, torchvision and torchaudio versions must be set together "
            f"(got variant={request.variant!r}, torch={request.torch!r}, "
            f"torchvision={request.torchvision!r}, torchaudio={request.torchaudio!r})",
            hint="set all four, or none to use the doctor's choice for this host",
        )
    if request.explicit:
        return {
            "variant": request.variant,
            "torch": request.torch,
            "torchvision": request.torchvision,
            "torchaudio": request.torchaudio,
            "index_url": request.index_url or TORCH_INDEX_BASE + request.variant,
            "source": "explicit",
        }
    if not doctor_torch:
        raise RefusedError(
            "wanprov doctor found no torch wheel for this host (driver or GPU unsupported)",
            hint="run `wanprov doctor` on it for the finding and its fix, "
            "or pin the torch variant and versions explicitly",
        )
    return {
        "variant": str(doctor_torch["variant"]),
        "torch": str(doctor_torch["torch"]),
        "torchvision": str(doctor_torch["torchvision"]),
        "torchaudio": str(doctor_torch.get("torchaudio") or ""),
        "index_url": request.index_url or str(doctor_torch["index_url"]),
        "source": "doctor",
    }


def torch_pins(torch: Mapping[str, str]) -> dict[str, str]:
    """The three wheels pinned together, each version as given: a bare `2.9.1` matches the PyTorch index's
    `2.9.1+cu128` and a label-less mirror's `2.9.1` alike (PEP 440); the index decides the variant."""
    return {name: str(torch.get(name) or "") for name in PROTECTED}


def path_flags(request: StackRequest) -> list[str]:
    """Paths and network flags every service gets (checked against the pinned ComfyUI like the others)."""
    data = request.data_dir
    flags = [
        "--listen", request.listen, "--port", str(request.port),
        "--output-directory", str(data / "output"), "--input-directory", str(data / "input"),
        "--temp-directory", str(data / "temp"), "--user-directory", str(request.user_dir),
        # ComfyUI's database defaults to <checkout>/user/comfyui.db, which the service user cannot write
        "--database-url", f"sqlite:///{request.user_dir}/comfyui.db",
        "--disable-auto-launch",
    ]  # fmt: skip
    if request.models_dir:
        flags += ["--extra-model-paths-config", str(data / "extra_model_paths.yaml")]
    return flags


def listen_addresses(listen: str) -> list[str]:
    """ComfyUI's --listen takes one address or a comma-separated list."""
    return [address.strip() for address in listen.split(",")]


def beyond_loopback(listen: str) -> bool:
    """Whether any address ComfyUI listens on is reachable from other hosts (a wildcard one included)."""
    return any(not _LOOPBACK.match(address) for address in listen_addresses(listen))


def local_url(listen: str, port: int) -> str:
    """The service's URL as seen from its own host (a wildcard address is reached on loopback)."""
    first = listen_addresses(listen)[0]
    host = "127.0.0.1" if first in ANY_ADDRESS else first
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def tier_flags(request: StackRequest, doctor_flags: Sequence[str] | None) -> list[str]:
    """Explicit flags win; with none given and auto on, the doctor's VRAM-tier flags."""
    if request.launch_flags or not request.launch_flags_auto:
        return list(request.launch_flags)
    return list(doctor_flags or [])


def plan_stack(request: StackRequest, summary: Mapping[str, Any] | None = None) -> StackPlan:
    """The stack plan for one host; `summary` is the doctor's summary block (unless all is explicit)."""
    summary = summary or {}
    if not request.torch.explicit and not summary:
        raise UsageError(
            "no doctor summary and no explicit torch: the torch choice needs one of them",
            hint="pass the doctor's summary (or let the module ask the doctor), or pin the torch variant",
        )
    if request.launch_flags_auto and not request.launch_flags and not summary:
        raise UsageError(
            "launch flags are automatic but there is no doctor summary to take them from",
            hint="pass the doctor's summary, give the launch flags, or turn automatic flags off",
        )
    torch = settle_torch(request.torch, summary.get("torch"))
    pins = torch_pins(torch)
    extra = shlex.split(request.pip_extra_args)
    constraints = request.venv_dir / CONSTRAINTS_NAME
    python = request.venv_dir / "bin" / "python"
    flags = tier_flags(request, summary.get("launch_flags")) + list(request.extra_launch_flags)
    flags += path_flags(request)
    return StackPlan(
        torch=torch,
        torch_pins=pins,
        pip_args=(["--index-url", request.pip_index_url] if request.pip_index_url else []) + extra,
        torch_pip_args=["--index-url", torch["index_url"], *extra],
        launch_flags=flags,
        argv=[str(python), str(request.install_dir / "main.py"), *flags],
        files={
            str(constraints): render_constraints(pins),
            str(request.venv_dir / "pip.conf"): render_pip_conf(constraints),
        },
        url=local_url(request.listen, request.port),
        exposed=beyond_loopback(request.listen),
    )
