"""Write and start the instances' services on this host: their folders, unit and launch files (text from
`service.units`), then start (or restart, when their files or the stack changed) and wait for each.

Managers: `system` (root: the hardened system units the comfyui role writes, systemctl), `user` (a
workstation without root: systemd user units, systemctl --user), `none` (folders only; the exact start
command is printed), `process` (TEST-ONLY: the system units are written, the process supervisor runs them,
for machines where systemd is not PID 1).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wanprov.datafiles import write_text_atomic
from wanprov.errors import UsageError, WanprovError
from wanprov.service import units
from wanprov.stack.host_plan import Instance, StackPlan, instance_folder, unit_instances

LAUNCH_FILE = "comfyui-launch.json"  # in each instance's folder (the plan's launch_file)

MANAGERS = ("system", "user", "none", "process")


@dataclass(frozen=True)
class ServiceRequest:
    manager: str  # system | user | none | process
    user: str  # who runs the instances (root: the service user, created when missing)
    group: str
    unit_dir: Path
    service_name: str = "comfyui"
    environment: Mapping[str, str] = field(default_factory=dict)
    secret_environment: Mapping[str, str] = field(default_factory=dict)
    write_paths: Sequence[str] = ()
    create_user: bool = True
    wait_timeout_s: float = 120.0
    wait_interval_s: float = 1.0
    enabled: bool = True  # systemd: start each instance at boot (false: disabled, started now all the same)


@dataclass
class ServiceReport:
    changes: list[str] = field(default_factory=list)  # paths written (dry run: would be), services started
    started: list[str] = field(default_factory=list)
    commands: dict[str, str] = field(default_factory=dict)  # instance -> its start command (--service none)
    stopped: list[str] = field(default_factory=list)  # services stopped (instances no longer wanted)
    # before/after of each file written (Ansible's --diff); files with credentials show no content
    diffs: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"changes": self.changes, "started": self.started, "commands": self.commands}


def env_file_path(request: ServiceRequest) -> Path:
    return request.unit_dir / f"{request.service_name}.service.d" / "secrets.env"


def settings_for(plan: StackPlan, request: ServiceRequest, install_dir: Path, data_dir: Path,
                 comfyui_version: str) -> units.ServiceSettings:  # fmt: skip
    return units.ServiceSettings(
        user=request.user,
        group=request.group,
        install_dir=str(install_dir),
        data_dir=str(data_dir),
        comfyui_version=comfyui_version,
        env_file=str(env_file_path(request)),
        environment=request.environment,
        secret_environment=request.secret_environment,
        write_paths=request.write_paths,
    )


@dataclass(frozen=True)
class InstancesRequest:
    """The instances' service (the comfyui role's service tasks, `wanprov up`'s service stage): their
    folders, the models map, the environment file, each unit and launch file, the instances no longer wanted
    stopped and removed, then each started (restarted when its files or something shared changed)."""

    instances: Sequence[Instance]
    service: ServiceRequest
    settings: units.ServiceSettings
    models_dir: Path | None = None  # None: no models map (a stale one is removed)
    model_folders: Mapping[str, Sequence[str]] = field(default_factory=lambda: dict(units.MODEL_FOLDERS))
    restart_all: bool = False  # something every instance shares changed (ComfyUI, node packs, torch)
    dry_run: bool = False


def converge_service(
    plan: StackPlan,
    request: ServiceRequest,
    settings: units.ServiceSettings,
    *,
    models_dir: Path | None,
    restart_all: bool,
    dry_run: bool,
    log: Callable[[str], None] = lambda _m: None,
) -> ServiceReport:
    """The plan's instances' service (converge_instances)."""
    wanted = InstancesRequest(plan.instances, request, settings, models_dir, restart_all=restart_all,
                              dry_run=dry_run)  # fmt: skip
    return converge_instances(wanted, log)


def converge_instances(
    wanted: InstancesRequest, log: Callable[[str], None] = lambda _m: None
) -> ServiceReport:
    """Folders, files, the stale instances, then start/restart and wait."""
    request, settings, dry_run = wanted.service, wanted.settings, wanted.dry_run
    if request.manager not in MANAGERS:
        raise UsageError(f"service manager {request.manager!r}", hint=f"one of {', '.join(MANAGERS)}")
    report = ServiceReport()
    root = os.geteuid() == 0
    uid, gid = _ids(request, dry_run)
    data = Path(settings.data_dir)
    for folder in [data, data / "input", *(Path(d) for i in wanted.instances for d in [i.dir, *i.dirs])]:
        if _ensure_dir(folder, 0o750, uid, gid, dry_run):
            report.changes.append(str(folder))
    shared_changed = _models_map(wanted, report, gid if root else None)
    changed_instances = set()
    system_files = request.manager in ("system", "process")
    root_owned = (0, 0) if root else (None, None)  # an ordinary user (--service process in tests) owns them
    env_path = Path(settings.env_file)
    if system_files and _ensure_file(env_path, units.env_file(settings), 0o600, *root_owned, dry_run,
                                     parent_mode=0o755, diffs=report.diffs, secret=True):  # fmt: skip
        report.changes.append(str(env_path))
        shared_changed = True
    for instance in wanted.instances:
        spec = instance.to_dict()
        files: list[tuple[Path, str, int, int | None, int | None]] = []
        if system_files:
            files.append((Path(instance.unit), units.system_unit(spec, settings), 0o644, *root_owned))
        elif request.manager == "user":
            unit = request.unit_dir / f"{instance.service}.service"
            files.append((unit, units.user_unit(spec, settings), 0o644, None, None))
        if request.manager != "none":
            files.append((Path(instance.launch_file), units.launch_file(spec, settings), 0o600, *root_owned))
        else:
            report.commands[instance.name] = units.start_command(spec, settings)
        for path, text, mode, file_uid, file_gid in files:
            secret = path.name == Path(instance.launch_file).name  # the whole environment, credentials too
            if _ensure_file(path, text, mode, file_uid, file_gid, dry_run, diffs=report.diffs, secret=secret):
                report.changes.append(str(path))
                changed_instances.add(instance.name)
    if request.manager == "none":
        return report
    removed = _remove_stale(wanted, report, log)
    for instance in wanted.instances:
        restart = instance.name in changed_instances or wanted.restart_all or shared_changed
        if dry_run:
            if restart or not _running(request, instance):
                report.changes.append(f"{instance.service} (start)")
            continue
        if _start(request, instance, restart, bool(changed_instances) or removed, log):
            report.started.append(instance.service)
            report.changes.append(f"{instance.service} (started)")
    if not dry_run:
        _wait(wanted.instances, request)
    return report


def _models_map(wanted: InstancesRequest, report: ServiceReport, gid: int | None) -> bool:
    """The models folder and the map that points ComfyUI at it (--extra-model-paths-config); without a
    models folder, a map left by an earlier run goes. Whether the map changed (every instance restarts)."""
    path = Path(wanted.settings.data_dir) / "extra_model_paths.yaml"
    if wanted.models_dir is None:
        if not path.exists():
            return False
        if not wanted.dry_run:
            path.unlink()
        report.changes.append(f"{path} (removed)")
        return True
    if _ensure_dir(wanted.models_dir, 0o755, None, None, wanted.dry_run):
        report.changes.append(str(wanted.models_dir))
    text = units.extra_model_paths(str(wanted.models_dir), wanted.model_folders)
    owner = (0, gid) if gid is not None else (None, None)
    if _ensure_file(path, text, 0o644, *owner, wanted.dry_run, diffs=report.diffs):
        report.changes.append(str(path))
        return True
    return False


def _remove_stale(wanted: InstancesRequest, report: ServiceReport, log: Callable[[str], None]) -> bool:
    """Stop and disable the instances whose unit is here but not in the plan (comfyui_gpus shrank, or the
    single unit of before instances), and remove their unit and launch file; their output folders stay (they
    hold what users made). Whether a unit was removed."""
    request = wanted.service
    services = {instance.service for instance in wanted.instances}
    stale = {unit: name for unit, name in unit_instances(request.unit_dir, request.service_name).items()
             if unit.name.removesuffix(".service") not in services}  # fmt: skip
    for unit, name in stale.items():
        launch = instance_folder(Path(wanted.settings.data_dir), name) / LAUNCH_FILE
        report.stopped.append(unit.name)
        report.changes.append(f"{unit} (stopped, removed)")
        with contextlib.suppress(OSError, UnicodeDecodeError):  # --diff: the unit goes (no credentials in it)
            before = unit.read_text(encoding="utf-8")
            report.diffs.append({"before_header": str(unit), "after_header": f"{unit} (removed)",
                                 "before": before, "after": ""})  # fmt: skip
        if wanted.dry_run:
            continue
        log(f"{unit.name}: no longer wanted")
        _stop(request, unit.name, launch, disable=True)
        unit.unlink(missing_ok=True)
        launch.unlink(missing_ok=True)
    return bool(stale)


def stop_instances(request: ServiceRequest, data_dir: Path, *, disable: bool = False,
                   dry_run: bool = False) -> list[str]:  # fmt: skip
    """Stop every instance whose unit is in the request's unit folder (its launch file in `data_dir`), e.g.
    before its user's account changes or the stack is removed; `disable`: not started at boot either. The
    services that were running (dry run: would be stopped)."""
    stopped = []
    for unit, name in unit_instances(request.unit_dir, request.service_name).items():
        launch = instance_folder(data_dir, name) / LAUNCH_FILE
        if _stop(request, unit.name, launch, disable=disable, dry_run=dry_run):
            stopped.append(unit.name.removesuffix(".service"))
    return stopped


def _stop(request: ServiceRequest, unit: str, launch: Path, *, disable: bool, dry_run: bool = False) -> bool:
    if request.manager == "process":  # TEST-ONLY: the supervisor's pid file says whether it runs
        running = launch.is_file() and _supervise("status", str(launch)).returncode == 0
        if running and not dry_run:
            _supervise("stop", str(launch))
        return running
    running = _systemctl(request, "is-active", "--quiet", unit).returncode == 0
    enabled = disable and _systemctl(request, "is-enabled", "--quiet", unit).returncode == 0
    if not dry_run and (running or enabled):
        _systemctl(request, "disable" if enabled else "stop", *(["--now"] if enabled else []), unit)
    return running or enabled


def watch_of(request: ServiceRequest, instance: Any) -> Any:
    from wanprov.stack.service_wait import process_watch, systemd_watch

    if request.manager == "process":
        return process_watch(Path(instance.pidfile), Path(instance.logfile))
    return systemd_watch(instance.service, user=request.manager == "user")


def _wait(instances: Sequence[Instance], request: ServiceRequest) -> None:
    from wanprov.stack.service_wait import wait_for_service

    for instance in instances:
        wait_for_service(
            f"{instance.url}/system_stats",
            watch_of(request, instance),
            timeout_s=request.wait_timeout_s,
            interval_s=request.wait_interval_s,
        )


def _systemctl(request: ServiceRequest, *args: str) -> subprocess.CompletedProcess[str]:
    command = ["systemctl", *(["--user"] if request.manager == "user" else []), *args]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise WanprovError(
            "systemctl is not installed: this host does not run systemd",
            hint="use --service none and start each instance with the printed command",
        ) from exc
    return proc


def _running(request: ServiceRequest, instance: Any) -> bool:
    if request.manager == "process":
        return _supervise("status", instance.launch_file).returncode == 0
    return _systemctl(request, "is-active", "--quiet", instance.service).returncode == 0


def _supervise(action: str, launch_file: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "wanprov.service.supervise", action, launch_file]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _start(request: ServiceRequest, instance: Any, restart: bool, reload: bool, log: Callable) -> bool:
    """Start (restart) the instance; whether it was started now."""
    if request.manager == "process":
        proc = _supervise("restart" if restart else "start", instance.launch_file)
        if proc.returncode != 0:
            raise WanprovError(f"could not start {instance.service}: {proc.stderr.strip()[-300:]}")
        return "started" in proc.stdout
    if reload:
        _systemctl(request, "daemon-reload")
    was_running = _running(request, instance)
    action = "restart" if restart or not was_running else None
    verb = "enable" if request.enabled else "disable"
    enable = _systemctl(request, verb, instance.service)
    if enable.returncode != 0:
        raise WanprovError(
            f"systemctl {verb} {instance.service} failed: {enable.stderr.strip()[-300:]}",
            hint="for --service user, a user systemd must run (loginctl enable-linger USER on a server)",
        )
    if action is None:
        return False
    log(f"{instance.service}: {action}")
    proc = _systemctl(request, action, instance.service)
    if proc.returncode != 0:
        raise WanprovError(f"systemctl {action} {instance.service} failed: {proc.stderr.strip()[-300:]}")
    return True


def ensure_account(request: ServiceRequest, home: Path, *, dry_run: bool) -> list[str]:
    """As root with system units: the unprivileged system user and group the role creates (home: the data
    folder, no login shell), before anything is written for them. What was (would be) created."""
    if os.geteuid() != 0 or request.manager == "user" or not request.create_user:
        return []
    created = []
    try:
        grp.getgrnam(request.group)
    except KeyError:
        created.append(f"group {request.group}")
        if not dry_run:
            _run(["groupadd", "--system", request.group])
    try:
        account = pwd.getpwnam(request.user)
    except KeyError:
        created.append(f"user {request.user}")
        if not dry_run:
            _run(["useradd", "--system", "--gid", request.group, "--home-dir", str(home), "--no-create-home",
                  "--shell", "/usr/sbin/nologin", request.user])  # fmt: skip
        return created
    # an account of an earlier run (another data folder) is set as the role sets it (its user task)
    try:
        group = grp.getgrgid(account.pw_gid).gr_name
    except KeyError:
        group = str(account.pw_gid)
    if (group, account.pw_dir, account.pw_shell) != (request.group, str(home), "/usr/sbin/nologin"):
        created.append(f"user {request.user} (group {request.group}, home {home}, no login shell)")
        if not dry_run:
            _run(["usermod", "--gid", request.group, "--home", str(home), "--shell", "/usr/sbin/nologin",
                  request.user])  # fmt: skip
    return created


def ensure_data_folders(request: ServiceRequest, data_dir: Path, *, dry_run: bool) -> list[str]:
    """The data folder and its input/ owned by the service user before the stack writes into them (the
    templates' input image is owned like its folder), as the role makes them before its stack task."""
    uid, gid = _ids(request, dry_run)
    return [str(d) for d in (data_dir, data_dir / "input") if _ensure_dir(d, 0o750, uid, gid, dry_run)]


def _run(command: list[str]) -> None:
    # the account tools live in /usr/sbin, which a root shell's PATH may lack (su without -, cron)
    tool = shutil.which(command[0], path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin") or command[0]
    proc = subprocess.run([tool, *command[1:]], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        # usermod refuses while the user runs a process: the instances of the old data folder
        hint = (
            "stop the instances that run as this user, then run again" if "process" in proc.stderr else None
        )
        raise WanprovError(f"{' '.join(command)} failed: {proc.stderr.strip()[-300:]}", hint=hint)


def _ids(request: ServiceRequest, dry_run: bool) -> tuple[int | None, int | None]:
    if os.geteuid() != 0:
        return None, None  # an ordinary user's folders are their own
    try:
        return pwd.getpwnam(request.user).pw_uid, grp.getgrnam(request.group).gr_gid
    except KeyError:
        if dry_run:
            return None, None
        raise


def _ensure_dir(path: Path, mode: int, uid: int | None, gid: int | None, dry_run: bool) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        if not dry_run:
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(mode)
            if uid is not None:
                os.chown(path, uid, gid if gid is not None else -1)
        return True
    wrong = (st.st_mode & 0o7777) != mode or (uid is not None and (st.st_uid, st.st_gid) != (uid, gid))
    if wrong and not dry_run:
        path.chmod(mode)
        if uid is not None:
            os.chown(path, uid, gid if gid is not None else -1)
    return wrong


def _ensure_file(path: Path, text: str, mode: int, uid: int | None, gid: int | None, dry_run: bool,
                 parent_mode: int | None = None, *, diffs: list[dict[str, str]] | None = None,
                 secret: bool = False) -> bool:  # fmt: skip
    """Write `text` (atomically, mode and owner set before the rename) unless the file already holds it
    with that mode and owner; whether it differed. `diffs` gets the before/after (a `secret` file's content
    never: it holds credentials)."""
    before = ""
    try:
        st = path.stat()
        before = path.read_text(encoding="utf-8")
        same = before == text and (st.st_mode & 0o7777) == mode
        same = same and (uid is None or (st.st_uid, st.st_gid) == (uid, gid))
    except (FileNotFoundError, UnicodeDecodeError):
        same = False
    if not same and diffs is not None:
        hidden = "(not shown: it holds credentials)\n"
        after = hidden if secret else text
        diffs.append({"before_header": str(path), "after_header": str(path),
                      "before": (hidden if secret and before else before), "after": after})  # fmt: skip
    if not same and not dry_run:
        if parent_mode is not None and not path.parent.exists():
            path.parent.mkdir(parents=True)
            path.parent.chmod(parent_mode)
        write_text_atomic(path, text, mode=mode, uid=uid, gid=gid)
    return not same
