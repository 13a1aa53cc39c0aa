"""One host, one call: doctor, stack, models, workflows, service, health and smoke, in that order, each
over its core use case (the same ones the Ansible modules adapt), for `wanprov up`.

A refused host stops at the doctor with its blocking findings, nothing written. A dry run runs the doctor
(read-only), plans every later stage that can be planned and starts nothing. Each stage reports its status,
whether it changed (or would change) the host, and its seconds; the caller draws them (`Observer`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from wanprov.errors import WanprovError
from wanprov.exit_codes import ExitCode
from wanprov.service.install import ServiceRequest
from wanprov.stack.converge import ConvergeRequest

SCHEMA = "wanprov.up/1"
STAGES = ("doctor", "stack", "models", "workflows", "service", "health", "smoke")


@dataclass(frozen=True)
class UpRequest:
    converge: ConvergeRequest  # the stack (its dry_run is the whole run's)
    service: ServiceRequest
    profile: str | None = None  # None: each instance's GPU's profile, else the doctor's recommendation
    models_dir: Path | None = None  # None: the checkout's models/
    manifests: Sequence[Path] = ()  # the user's own model catalogs
    templates: Sequence[str] = ("wan22-i2v-gguf-lightning",)
    nvenc_probe: bool = True
    smoke: bool = True
    smoke_template: str = "wan22-i2v-gguf-lightning"
    smoke_timeout_s: float = 900.0
    health_timeout_s: float = 120.0

    @property
    def dry_run(self) -> bool:
        return self.converge.dry_run

    @property
    def cpu(self) -> bool:
        stack = self.converge.stack
        return "--cpu" in [*stack.launch_flags, *stack.extra_launch_flags]


@dataclass
class Stage:
    name: str
    status: str = "pending"  # ok | changed | would_change | skipped | failed | refused
    changed: bool = False  # changed the host (dry run: would)
    seconds: float = 0.0
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "changed": self.changed,
                "seconds": round(self.seconds, 3), "detail": self.detail, **self.data}  # fmt: skip


@dataclass
class InstanceRow:
    name: str
    url: str
    gpu: int | None
    gpu_name: str | None
    profile: str | None
    files_verified: int | None = None
    healthy: bool | None = None
    smoke: str | None = None  # ok, the failure, or why it did not run
    start_command: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class UpReport:
    dry_run: bool
    stages: list[Stage] = field(default_factory=list)
    instances: list[InstanceRow] = field(default_factory=list)
    blocking: list[dict[str, str]] = field(default_factory=list)  # the doctor's, when it refused the host
    exit_code: int = int(ExitCode.OK)
    error: dict[str, Any] | None = None

    @property
    def changed(self) -> bool:
        return any(stage.changed for stage in self.stages)

    @property
    def ok(self) -> bool:
        return self.exit_code in (ExitCode.OK, ExitCode.PENDING)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "ok": self.ok, "dry_run": self.dry_run, "changed": self.changed,
                "exit_code": self.exit_code, "stages": [s.to_dict() for s in self.stages],
                "instances": [i.to_dict() for i in self.instances], "blocking": self.blocking,
                "error": self.error}  # fmt: skip


class Observer(Protocol):
    def stage_started(self, stage: Stage) -> None: ...
    def stage_done(self, stage: Stage) -> None: ...
    def log(self, message: str) -> None: ...


class QuietObserver:
    def stage_started(self, stage: Stage) -> None:
        return

    def stage_done(self, stage: Stage) -> None:
        return

    def log(self, message: str) -> None:
        return


def run_up(
    request: UpRequest, observer: Observer | None = None, progress: Callable[[int], Any] | None = None
) -> UpReport:
    """Every stage in order; the first that fails stops the run (its error in the report, its exit code)."""
    observer = observer or QuietObserver()
    report = UpReport(dry_run=request.dry_run)
    state: dict[str, Any] = {}
    steps = [("doctor", _doctor), ("stack", _stack), ("models", _models), ("workflows", _workflows),
             ("service", _service), ("health", _health), ("smoke", _smoke)]  # fmt: skip
    for name, step in steps:
        stage = Stage(name)
        report.stages.append(stage)
        observer.stage_started(stage)
        started = time.monotonic()
        try:
            step(request, report, stage, state, observer, progress)
        except WanprovError as error:
            stage.status = "failed"
            stage.detail = error.message
            partial = getattr(error, "report", None)
            stage.changed = bool(partial is not None and partial.changed and not request.dry_run)
            report.error = error.to_dict()
            report.exit_code = int(error.exit_code)
        finally:
            stage.seconds = time.monotonic() - started
            if stage.status == "pending":
                stage.status = ("would_change" if request.dry_run else "changed") if stage.changed else "ok"
            observer.stage_done(stage)
        if stage.status in ("failed", "refused"):
            break
    if report.ok and request.dry_run and report.changed:
        report.exit_code = int(ExitCode.PENDING)
    return report


def _doctor(request, report, stage, state, observer, progress) -> None:
    from wanprov.doctor import evaluate
    from wanprov.facts import ProbeOptions, collect

    stack = request.converge.stack
    python = stack.venv_dir / "bin" / "python"
    judge_torch = python.exists() and not request.cpu  # a bare host's torch is planned, then judged
    facts = collect(
        ProbeOptions(
            comfyui_dir=str(stack.install_dir) if (stack.install_dir / "main.py").is_file() else None,
            models_dir=str(_models_dir(request)),  # free disk and verified files where the models go
            python=str(python) if judge_torch else None,
            torch=judge_torch,
            nvenc=request.nvenc_probe and not request.cpu,
        )
    )
    # the disk is sized for the profile the models stage fetches, from the same catalogs; --cpu: the GPU
    # checks inform
    doctor = evaluate(facts, profile=request.profile, manifests=request.manifests, cpu=request.cpu)
    blocking = doctor.blocking
    state["summary"] = doctor.summary
    summary = doctor.summary
    stage.detail = (
        f"{(summary.get('gpu') or {}).get('name') or 'no GPU'}, tier {summary.get('vram_tier')}, "
        f"torch {(summary.get('torch') or {}).get('variant') or 'none'}"
    )
    if blocking:
        stage.status = "refused"
        stage.detail = f"{len(blocking)} blocking finding(s): the host is not ready"
        report.blocking = [{"check": f.check, "message": f.message, "fix": f.fix or "", "line": f.line()}
                           for f in blocking]  # fmt: skip
        report.exit_code = int(ExitCode.CHECK_FAILED)


def _stack(request, report, stage, state, observer, progress) -> None:
    from wanprov.service.install import ensure_account, ensure_data_folders
    from wanprov.stack.converge import converge

    # the service user and its data folders first (as the role's system tasks do): what is written for it
    # is owned by it
    data_dir = request.converge.stack.data_dir
    accounts = ensure_account(request.service, data_dir, dry_run=request.dry_run)
    accounts += ensure_data_folders(request.service, data_dir, dry_run=request.dry_run)
    converged = converge(replace(request.converge, summary=state["summary"]), log=observer.log)
    state["plan"] = converged.plan
    state["stack_changed"] = converged.changed
    stage.changed = converged.changed or bool(accounts)
    stage.data["changes"] = accounts + [change.what for change in converged.changes]
    torch = converged.plan.torch
    stage.detail = f"torch {torch['torch']} ({torch['variant']}), {len(converged.plan.instances)} instance(s)"
    report.instances = [
        InstanceRow(i.name, i.url, i.gpu, i.gpu_name, _profile(request, state, i.profile))
        for i in converged.plan.instances
    ]


def _profile(request: UpRequest, state: dict[str, Any], instance_profile: str | None) -> str | None:
    return request.profile or instance_profile or state["summary"].get("recommended_profile")


def _models_dir(request: UpRequest) -> Path:
    return request.models_dir or request.converge.stack.install_dir / "models"


def _models(request, report, stage, state, observer, progress) -> None:
    from wanprov.models.profile import FetchProfileRequest, fetch_profile

    profiles = list(dict.fromkeys(row.profile for row in report.instances if row.profile))
    if not profiles:
        stage.status, stage.detail = "skipped", "no model profile for this host: give --profile"
        return
    verified: dict[str, int] = {}
    for profile in profiles:
        fetched = fetch_profile(
            FetchProfileRequest(
                profile=profile,
                models_dir=_models_dir(request),
                custom_nodes_dir=request.converge.stack.install_dir / "custom_nodes",
                manifests=request.manifests,
                dry_run=request.dry_run,
            ),
            progress,
        )
        if fetched.plan.errors:
            raise max(fetched.plan.errors, key=lambda e: int(e.exit_code))
        stage.changed = stage.changed or fetched.changed
        verified[profile] = sum(1 for s in fetched.plan.files if s.status != "pending")
    state["models_ran"] = True
    for row in report.instances:
        row.files_verified = verified.get(row.profile or "")
    stage.detail = ", ".join(f"{p}: {n} file(s)" for p, n in verified.items())


def _workflows(request, report, stage, state, observer, progress) -> None:
    from wanprov.workflows.install import InstallWorkflowsRequest, RenderRequest, install_workflows

    summary = state["summary"]
    owner = request.service.user if _root() and request.service.manager != "user" else None
    if owner is not None and request.dry_run and not _account_exists(owner):
        owner = None  # a dry run on a bare host: the stack stage creates the account
    rows = {row.name: row for row in report.instances}
    for instance in state["plan"].instances:
        tier = instance.tier or summary.get("vram_tier")
        # its own GPU's NVENC (an H100 beside a 4090 has none): unknown renders software x264
        render = RenderRequest(profile=rows[instance.name].profile, tier=tier, nvenc=instance.nvenc)
        wanted = InstallWorkflowsRequest(dest=Path(instance.workflows_dir), templates=request.templates,
                                         render=render, owner=owner, dry_run=request.dry_run)  # fmt: skip
        installed = install_workflows(wanted)
        stage.changed = stage.changed or installed.result.changed
    stage.detail = f"{', '.join(request.templates)} for {len(state['plan'].instances)} instance(s)"


def _service(request, report, stage, state, observer, progress) -> None:
    from wanprov.service.install import converge_service, settings_for

    stack = request.converge.stack
    checkout = request.converge.checkout
    settings = settings_for(state["plan"], request.service, stack.install_dir, stack.data_dir,
                            checkout.ref if checkout else "")  # fmt: skip
    service = converge_service(
        state["plan"], request.service, settings, models_dir=stack.models_dir,
        restart_all=state.get("stack_changed", False), dry_run=request.dry_run, log=observer.log,
    )  # fmt: skip
    stage.changed = bool(service.changes)
    stage.data.update(service.to_dict())
    for row in report.instances:
        row.start_command = service.commands.get(row.name)
    stage.detail = (
        f"not started (--service none): {len(service.commands)} start command(s)"
        if request.service.manager == "none"
        else f"{request.service.manager}: {len(service.started)} started of {len(state['plan'].instances)}"
    )


def _skip_checks(request: UpRequest, stage: Stage) -> bool:
    if request.dry_run:
        stage.status, stage.detail = "skipped", "dry run: nothing was started"
        return True
    if request.service.manager == "none":
        stage.status, stage.detail = (
            "skipped",
            "--service none: start the instances, then `wanprov health check`",
        )
        return True
    return False


def _check(request, state, instance, row, smoke):
    from wanprov.health.instance import HealthRequest, SmokeRequest, check_instance
    from wanprov.service.install import watch_of

    wanted = SmokeRequest(request.smoke_template, row.profile, request.smoke_timeout_s) if smoke else None
    # The files on disk are checked once the models stage put them there (as the health role does: no
    # local look-up unless asked); before it (no profile) a model file is absent by design.
    models_ran = bool(state.get("models_ran"))
    health = HealthRequest(
        url=instance.url, workflows_dir=Path(instance.workflows_dir),
        watch=watch_of(request.service, instance), gpu=instance.gpu,
        tier=instance.tier or state["summary"].get("vram_tier"),
        require_files=models_ran, comfyui_dir=request.converge.stack.install_dir if models_ran else None,
        extra_model_paths=_model_path_configs(instance.flags), wait_timeout_s=request.health_timeout_s,
        smoke=wanted, timeout_option="up --health-timeout", smoke_timeout_option="up --smoke-timeout",
    )  # fmt: skip
    return check_instance(health)


def _model_path_configs(flags: Sequence[str]) -> tuple[Path, ...]:
    """The models maps the instance starts with (--models-dir): its files are looked up there too."""
    return tuple(
        Path(flags[i + 1]) for i, flag in enumerate(flags[:-1]) if flag == "--extra-model-paths-config"
    )


def _health(request, report, stage, state, observer, progress) -> None:
    if _skip_checks(request, stage):
        return
    rows = {row.name: row for row in report.instances}
    failures = []
    for instance in state["plan"].instances:
        health = _check(request, state, instance, rows[instance.name], smoke=False)
        rows[instance.name].healthy = health.ok
        if not health.ok:
            failures.append(health)
    stage.detail = f"{len(rows) - len(failures)}/{len(rows)} instance(s) answer and their workflows validate"
    if failures:
        raise _unhealthy(failures)


def _smoke(request, report, stage, state, observer, progress) -> None:
    if _skip_checks(request, stage):
        return
    if not request.smoke:
        stage.status, stage.detail = "skipped", "--no-smoke"
        return
    rows = {row.name: row for row in report.instances}
    ran, failures = 0, []
    for instance in state["plan"].instances:
        row = rows[instance.name]
        tier = instance.tier or state["summary"].get("vram_tier")
        if instance.gpu is None or tier in (None, "none"):
            row.smoke = "not run: a --cpu instance" if instance.gpu is None else "not run: no VRAM tier"
            continue
        health = _check(request, state, instance, row, smoke=True)
        ran += 1
        row.smoke = "ok" if health.ok else (health.error or "failed")
        if not health.ok:
            failures.append(health)
    stage.detail = f"{ran - len(failures)}/{ran} smoke run(s) wrote their video" if ran else "no GPU instance"
    if not ran:
        stage.status = "skipped"
    if failures:
        raise _unhealthy(failures)


def _unhealthy(failures: list[Any]) -> WanprovError:
    worst = max(failures, key=lambda h: h.exit_code)
    message = "; ".join(f"{h.url}: {h.error}" for h in failures)[:3000]
    error = WanprovError(message, hint="see the instance's log (the message names it) and `wanprov doctor`")
    error.exit_code = ExitCode(worst.exit_code)  # type: ignore[misc]
    return error


def _account_exists(user: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def _root() -> bool:
    import os

    return os.geteuid() == 0
