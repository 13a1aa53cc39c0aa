"""Write and start the instances' services on this host: their folders, unit and launch files (text from
`service.units`), then start (or restart, when their files or the stack changed) and wait for each.

Managers: `system` (root: the hardened system units the comfyui role writes, systemctl), `user` (a
workstation without root: systemd user units, systemctl --user), `none` (folders only; the exact start
command is printed), `process` (TEST-ONLY: the system units are written, the process supervisor runs them,
for machines where systemd is not PID 1).
"""

from __future__ import annotations

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
from wanprov.stack.host_plan import StackPlan

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


@dataclass
class ServiceReport:
    changes: list[str] = field(default_factory=list)  # paths written (dry run: would be), services started
    started: list[str] = field(default_factory=list)
    commands: dict[str, str] = field(default_factory=dict)  # instance -> its start command (--service none)

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
    """Folders, files, then start/restart and wait. `restart_all`: something every instance shares changed
    (ComfyUI, the node packs, torch), so each running instance restarts."""
    if request.manager not in MANAGERS:
        raise UsageError(f"service manager {request.manager!r}", hint=f"one of {', '.join(MANAGERS)}")
    report = ServiceReport()
    root = os.geteuid() == 0
    uid, gid = _ids(request, dry_run)
    data = Path(settings.data_dir)
    for folder in [data, data / "input", *(Path(d) for i in plan.instances for d in [i.dir, *i.dirs])]:
        if _ensure_dir(folder, 0o750, uid, gid, dry_run):
            report.changes.append(str(folder))
    shared_changed = False
    if models_dir is not None:
        text = units.extra_model_paths(str(models_dir))
        owner = (0, gid) if root else (None, None)
        if _ensure_file(data / "extra_model_paths.yaml", text, 0o644, *owner, dry_run):
            report.changes.append(str(data / "extra_model_paths.yaml"))
            shared_changed = True
    changed_instances = set()
    system_files = request.manager in ("system", "process")
    root_owned = (0, 0) if root else (None, None)  # an ordinary user (--service process in tests) owns them
    if system_files and _ensure_file(env_file_path(request), units.env_file(settings), 0o600, *root_owned,
                                     dry_run, parent_mode=0o755):  # fmt: skip
        report.changes.append(str(env_file_path(request)))
    for instance in plan.instances:
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
            if _ensure_file(path, text, mode, file_uid, file_gid, dry_run):
                report.changes.append(str(path))
                changed_instances.add(instance.name)
    if request.manager == "none":
        return report
    for instance in plan.instances:
        restart = instance.name in changed_instances or restart_all or shared_changed
        if dry_run:
            if restart or not _running(request, instance):
                report.changes.append(f"{instance.service} (start)")
            continue
        if _start(request, instance, restart, bool(changed_instances), log):
            report.started.append(instance.service)
            report.changes.append(f"{instance.service} (started)")
    if not dry_run:
        _wait(plan, request)
    return report


def watch_of(request: ServiceRequest, instance: Any) -> Any:
    from wanprov.stack.service_wait import process_watch, systemd_watch

    if request.manager == "process":
        return process_watch(Path(instance.pidfile), Path(instance.logfile))
    return systemd_watch(instance.service, user=request.manager == "user")


def _wait(plan: StackPlan, request: ServiceRequest) -> None:
    from wanprov.stack.service_wait import wait_for_service

    for instance in plan.instances:
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
    enable = _systemctl(request, "enable", instance.service)
    if enable.returncode != 0:
        raise WanprovError(
            f"systemctl enable {instance.service} failed: {enable.stderr.strip()[-300:]}",
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
                 parent_mode: int | None = None) -> bool:  # fmt: skip
    """Write `text` (atomically, mode and owner set before the rename) unless the file already holds it
    with that mode and owner; whether it differed."""
    try:
        st = path.stat()
        same = path.read_text(encoding="utf-8") == text and (st.st_mode & 0o7777) == mode
        same = same and (uid is None or (st.st_uid, st.st_gid) == (uid, gid))
    except (FileNotFoundError, UnicodeDecodeError):
        same = False
    if not same and not dry_run:
        if parent_mode is not None and not path.parent.exists():
            path.parent.mkdir(parents=True)
            path.parent.chmod(parent_mode)
        write_text_atomic(path, text, mode=mode, uid=uid, gid=gid)
    return not same
