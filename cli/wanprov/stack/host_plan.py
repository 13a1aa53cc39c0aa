"""The one plan for a host's ComfyUI stack: which torch (pins and index), the pip arguments, the torch
protection files (constraints and pip.conf, text included) and the ComfyUI instances (one per GPU: its port,
device, tier flags, folders, command line, service and local URL).

Pure: it reads the doctor's summary (or explicit settings) and returns data. The `wanprov.gpu.stack` Ansible
module and any later caller take every decision from here, so no template or Jinja re-derives it; the
constraints and pip.conf text come from `stack.constraints`, the one writer of those files.
"""

from __future__ import annotations

import glob
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from wanprov.errors import UsageError
from wanprov.stack.constraints import CONSTRAINTS_NAME, PROTECTED, protection_files
from wanprov.stack.errors import RefusedError

SCHEMA = "wanprov.stack/2"  # /2: instances[] (one per GPU) replace the one argv, url and flags
TORCH_INDEX_BASE = "https://download.pytorch.org/whl/"
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
    models_dir: Path | None = None
    listen: str = "127.0.0.1"
    port: int = 8188  # GPU N's instance listens on port + N unless `ports` maps N
    ports: Mapping[int | str, int] = field(default_factory=dict)
    gpus: str | Sequence[int] = "all"  # all = the doctor's usable GPUs
    torch: TorchRequest = field(default_factory=TorchRequest)
    launch_flags: Sequence[str] = ()
    launch_flags_auto: bool = True
    extra_launch_flags: Sequence[str] = ()
    pip_index_url: str = ""
    pip_extra_args: str = ""
    service_name: str = "comfyui"  # each instance's service is <service_name>-gpuN (-cpu without a GPU)
    unit_dir: Path = Path("/etc/systemd/system")
    service_manager: str = "systemd"  # or `process` (the test-only supervisor): how a waiter watches it
    cpu: bool = False  # one instance on the CPU, no GPU needed (adds --cpu to the shared flags)


@dataclass(frozen=True)
class Instance:
    """One ComfyUI service: one GPU (or the CPU), its port, its folders, its command line."""

    name: str  # gpuN, or cpu
    gpu: int | None
    gpu_name: str | None
    pci_bus_id: str | None
    tier: str | None
    profile: str | None
    port: int
    url: str  # where the host itself reaches it
    flags: list[str]  # tier + extra + shared paths + its own port, folders, database, device
    argv: list[str]
    env: dict[str, str]  # besides the caller's own environment
    service: str
    unit: str
    dir: str  # <data>/<name>: its output, temp and user folders, launch file, pid and log
    dirs: list[str]
    user_dir: str
    workflows_dir: str  # <user_dir>/default/workflows: ComfyUI's workflow browser
    launch_file: str
    pidfile: str
    logfile: str
    watch_args: list[str]  # how `wanprov stack wait` sees the process and its log
    # its GPU's own h264_nvenc encode (summary.gpus[].nvenc): the video format of its workflows; None: unknown
    nvenc: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Instance:
        """An instance as the plan's document lists it (to_dict); a record missing a field is a UsageError."""
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in record and name != "nvenc"]
        if missing:
            raise UsageError(
                f"instance record {record.get('name', '?')!r} has no {', '.join(missing)}",
                hint="pass the stack plan's instances as wanprov.gpu.stack returns them",
            )
        return cls(**{name: record[name] for name in names if name in record})


@dataclass(frozen=True)
class StackPlan:
    # variant, torch, torchvision, torchaudio, index_url, source (explicit | doctor | cpu)
    torch: dict[str, str]
    torch_pins: dict[str, str]  # torch, torchvision, torchaudio -> version as given (label or none)
    pip_args: list[str]  # every install but torch's
    torch_pip_args: list[str]  # the torch install: its index first
    python: str  # the venv's interpreter
    files: dict[str, str]  # path -> text: the torch protection files
    instances: list[Instance]  # one per GPU of `gpus`, or one on the CPU (--cpu)
    exposed: bool  # listens beyond loopback (ComfyUI has no authentication: the role warns)

    @property
    def constraints(self) -> str:
        return next(path for path in self.files if path.endswith(CONSTRAINTS_NAME))

    @property
    def cpu_only(self) -> bool:
        return any(instance.gpu is None for instance in self.instances)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "torch": self.torch,
            "torch_pins": self.torch_pins,
            "pip_args": self.pip_args,
            "torch_pip_args": self.torch_pip_args,
            "python": self.python,
            "constraints": self.constraints,
            "files": self.files,
            "instances": [instance.to_dict() for instance in self.instances],
            "cpu_only": self.cpu_only,
            "exposed": self.exposed,
        }


def cpu_torch() -> dict[str, str]:
    """The CPU wheels (PyTorch's whl/cpu index) of the same release as the GPU hosts get: a host that runs on
    the CPU and has no NVIDIA driver gives the doctor nothing to choose a CUDA variant by."""
    from wanprov.compat import tables

    row = tables.load("torch-recommended")["cu130"]
    return {"variant": "cpu", "torch": str(row["torch"]), "torchvision": str(row["torchvision"]),
            "torchaudio": str(row["torchaudio"]), "index_url": TORCH_INDEX_BASE + "cpu"}  # fmt: skip


def settle_torch(
    request: TorchRequest, doctor_torch: Mapping[str, Any] | None, *, cpu: bool = False
) -> dict[str, str]:
    """Explicit settings win (variant and the three versions together); else the doctor's choice; a --cpu
    host the doctor has no choice for (no driver) gets the CPU wheels."""
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
    if not doctor_torch and cpu:
        return {**cpu_torch(), "index_url": request.index_url or TORCH_INDEX_BASE + "cpu", "source": "cpu"}
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


def shared_flags(request: StackRequest) -> list[str]:
    """Network and path flags every instance gets: one listen address, one input folder (what users upload),
    one models map. Each instance adds its own port and folders (instance_flags)."""
    flags = ["--listen", request.listen, "--input-directory", str(request.data_dir / "input"),
             "--disable-auto-launch"]  # fmt: skip
    if request.models_dir:
        flags += ["--extra-model-paths-config", str(request.data_dir / "extra_model_paths.yaml")]
    return flags


def instance_flags(folder: Path, port: int, gpu: int | None) -> list[str]:
    """One instance's own flags. Every folder ComfyUI writes is under the data folder: its database too
    (default <checkout>/user/comfyui.db, which the service user cannot write)."""
    flags = [
        "--port", str(port), "--output-directory", str(folder / "output"),
        "--temp-directory", str(folder / "temp"), "--user-directory", str(folder / "user"),
        "--database-url", f"sqlite:///{folder}/user/comfyui.db",
    ]  # fmt: skip
    # ComfyUI turns --cuda-device N into CUDA_VISIBLE_DEVICES=N; with CUDA_DEVICE_ORDER=PCI_BUS_ID (the
    # instance's env) N is nvidia-smi's index N, not CUDA's fastest-first order.
    return flags if gpu is None else [*flags, "--cuda-device", str(gpu)]


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


def select_gpus(request: StackRequest, summary: Mapping[str, Any], cpu: bool) -> list[int | None]:
    """The GPUs that get an instance: `all` = the doctor's usable GPUs, or a list of distinct indices the
    doctor knows and did not fail; a --cpu host runs one instance without a GPU."""
    if cpu:
        return [None]
    gpus = request.gpus
    known = {int(gpu["index"]): gpu for gpu in summary.get("gpus") or []}
    if gpus == "all":
        usable = [int(index) for index in summary.get("usable_gpus") or []]
        if not usable:
            raise RefusedError(
                "gpus=all but the doctor found no usable GPU on this host: no ComfyUI instance to run",
                hint="run `wanprov doctor` on the host for its findings, or run on the CPU (flag --cpu)",
            )
        return list(usable)
    if isinstance(gpus, (str, bytes)) or not isinstance(gpus, Sequence) or not gpus:
        raise UsageError(
            f"gpus={gpus!r}: give `all` (the doctor's usable GPUs) or a non-empty list of GPU indices",
            hint="e.g. comfyui_gpus: all, or comfyui_gpus: [0, 1]",
        )
    if any(isinstance(gpu, bool) or not isinstance(gpu, int) for gpu in gpus) or len(set(gpus)) != len(gpus):
        raise UsageError(
            f"gpus={list(gpus)!r}: GPU indices must be distinct integers (nvidia-smi's index)",
            hint="e.g. comfyui_gpus: [0, 1]",
        )
    unknown = [gpu for gpu in gpus if known and gpu not in known]
    failed = [gpu for gpu in gpus if gpu in known and known[gpu].get("verdict") == "fail"]
    if unknown or failed:
        problems = ([f"not on this host: {unknown}"] if unknown else []) + (
            [f"failed by the doctor: {failed} (leave them out or fix them)"] if failed else []
        )
        raise RefusedError(
            f"gpus={list(gpus)!r}: {'; '.join(problems)}",
            hint=f"the doctor's usable GPUs here: {summary.get('usable_gpus')}",
        )
    return list(gpus)


def instance_port(request: StackRequest, gpu: int | None) -> int:
    """GPU N listens on `ports[N]` (keys as integers or, from JSON extra vars, strings), else port + N."""
    index = gpu or 0
    for key in (index, str(index)):
        if key in request.ports:
            return int(request.ports[key])
    return int(request.port) + index


def _h264_nvenc(gpu: Mapping[str, Any]) -> bool | None:
    verdict = (gpu.get("nvenc") or {}).get("h264_nvenc")
    return verdict if isinstance(verdict, bool) else None


def instance_name(gpu: int | None) -> str:
    """The plan's name of an instance: gpuN, or cpu without a GPU. Its service is <service_name>-<name>."""
    return "cpu" if gpu is None else f"gpu{gpu}"


def instance_folder(data_dir: Path, name: str) -> Path:
    """An instance's own folder (launch file, pid, log, output...); the data folder itself for the single
    unit of before instances (name '')."""
    return data_dir / name if name else data_dir


def unit_instances(unit_dir: Path, service_name: str) -> dict[Path, str]:
    """The instance units in `unit_dir`, by the plan's naming, each with its instance's name:
    <service_name>-gpuN / -cpu, and '' for the single <service_name>.service of before instances."""
    found = {}
    for path in sorted(unit_dir.glob(f"{glob.escape(service_name)}*.service")):
        suffix = path.name.removesuffix(".service").removeprefix(service_name)
        if suffix == "" or re.fullmatch(r"-(gpu[0-9]+|cpu)", suffix):
            found[path] = suffix[1:]
    return found


def plan_instances(request: StackRequest, summary: Mapping[str, Any], python: Path) -> list[Instance]:
    """One instance per selected GPU, each with its GPU's tier flags (the doctor's summary.gpus[] when the
    flags are automatic), its own port, device, folders and service."""
    host_flags = tier_flags(request, summary.get("launch_flags"))
    cpu = request.cpu or "--cpu" in host_flags + list(request.extra_launch_flags)
    per_gpu = {int(gpu["index"]): gpu for gpu in summary.get("gpus") or []}
    automatic = request.launch_flags_auto and not request.launch_flags
    given = host_flags + list(request.extra_launch_flags)
    shared = list(request.extra_launch_flags) + (["--cpu"] if cpu and "--cpu" not in given else [])
    shared += shared_flags(request)
    instances = []
    for gpu in select_gpus(request, summary, cpu):
        name = instance_name(gpu)
        folder = instance_folder(request.data_dir, name)
        port = instance_port(request, gpu)
        found = per_gpu.get(gpu, {}) if gpu is not None else {}
        tier = list(found["launch_flags"]) if automatic and "launch_flags" in found else host_flags
        flags = tier + shared + instance_flags(folder, port, gpu)
        service = f"{request.service_name}-{name}"
        pidfile, logfile = str(folder / "comfyui.pid"), str(folder / "comfyui.log")
        instances.append(
            Instance(
                name=name, gpu=gpu, gpu_name=found.get("name"), pci_bus_id=found.get("pci_bus_id"),
                tier=found.get("vram_tier"), profile=found.get("recommended_profile"), port=port,
                url=local_url(request.listen, port), flags=flags,
                argv=[str(python), str(request.install_dir / "main.py"), *flags],
                env={} if gpu is None else {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"},
                service=service, unit=str(request.unit_dir / f"{service}.service"), dir=str(folder),
                dirs=[str(folder / sub) for sub in ("output", "temp", "user")], user_dir=str(folder / "user"),
                workflows_dir=str(folder / "user" / "default" / "workflows"),
                launch_file=str(folder / "comfyui-launch.json"), pidfile=pidfile, logfile=logfile,
                watch_args=["--unit", service] if request.service_manager == "systemd"
                else ["--pidfile", pidfile, "--log", logfile],
                nvenc=_h264_nvenc(found),
            )
        )  # fmt: skip
    ports = [instance.port for instance in instances]
    if len(set(ports)) != len(ports):
        raise UsageError(
            f"instance ports {ports} must differ",
            hint="GPU N listens on comfyui_port + N unless comfyui_ports maps N to a port",
        )
    return instances


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
    flags = [*tier_flags(request, summary.get("launch_flags")), *request.extra_launch_flags]
    torch = settle_torch(request.torch, summary.get("torch"), cpu=request.cpu or "--cpu" in flags)
    pins = torch_pins(torch)
    extra = shlex.split(request.pip_extra_args)
    python = request.venv_dir / "bin" / "python"
    return StackPlan(
        torch=torch,
        torch_pins=pins,
        pip_args=(["--index-url", request.pip_index_url] if request.pip_index_url else []) + extra,
        torch_pip_args=["--index-url", torch["index_url"], *extra],
        python=str(python),
        files=protection_files(request.venv_dir, pins),
        instances=plan_instances(request, summary, python),
        exposed=beyond_loopback(request.listen),
    )
