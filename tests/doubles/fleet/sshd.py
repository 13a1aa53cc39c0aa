"""Start and stop one real sshd per fake host on loopback, with its own config, host key and root folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

SSHD = (
    shutil.which("sshd", path="/usr/sbin:/usr/local/sbin:" + os.environ.get("PATH", "")) or "/usr/sbin/sshd"
)
# The remote side of Ansible: the system python (has venv/ensurepip, as a real Debian host would).
DEFAULT_REMOTE_PYTHON = "/usr/bin/python3"


@dataclass(frozen=True)
class HostSpec:
    """What a test wants of one host: a name, extra session environment, extra inventory vars."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    vars: dict[str, object] = field(default_factory=dict)


@dataclass
class FleetHost:
    name: str
    port: int
    root: Path  # the host's own folder; roles under test install beneath it
    env: dict[str, str]
    vars: dict[str, object]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def ssh_args(self, key: Path) -> list[str]:
        """Argument vector for a plain `ssh` into this host (debugging, testinfra's ssh backend)."""
        return [
            "ssh", "-i", str(key), "-p", str(self.port),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "root@127.0.0.1",
        ]  # fmt: skip


class Fleet:
    """N sshd processes, a shared client key and an Ansible inventory describing them."""

    def __init__(self, base_dir: Path, hosts: list[FleetHost], client_key: Path, inventory: Path) -> None:
        self.base_dir = base_dir
        self.hosts = {host.name: host for host in hosts}
        self.client_key = client_key
        self.inventory = inventory

    # -- lifecycle -------------------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        base_dir: Path,
        specs: list[HostSpec],
        *,
        remote_python: str = DEFAULT_REMOTE_PYTHON,
        group: str = "gpu_hosts",
    ) -> Fleet:
        if len({spec.name for spec in specs}) != len(specs):
            raise ValueError(f"host names must be unique: {[spec.name for spec in specs]}")
        base_dir = Path(base_dir)
        (base_dir / "hosts").mkdir(parents=True, exist_ok=True)
        # sshd refuses to start without its privilege-separation folder; containers often lack it.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        client_key = base_dir / "client_ed25519"
        if not client_key.exists():
            _keygen(client_key)
        authorized = base_dir / "authorized_keys"
        authorized.write_text(client_key.with_suffix(".pub").read_text())
        authorized.chmod(0o600)

        hosts: list[FleetHost] = []
        fleet = cls(base_dir, hosts, client_key, base_dir / "inventory.yml")
        try:
            for spec in specs:
                host = _start_host(base_dir, spec, authorized)
                hosts.append(host)
                fleet.hosts[host.name] = host
            fleet._write_inventory(remote_python, group)
        except BaseException:
            fleet.stop()
            raise
        return fleet

    def stop(self) -> None:
        """Terminate every sshd (and its session children, by process group)."""
        for host in self.hosts.values():
            proc = host.process
            if proc is None or proc.poll() is not None:
                continue
            # Per-connection sshd children call setsid(), so killing the listener's group misses them; they
            # would linger while Ansible's ControlPersist master keeps the connection open.
            for child in _children(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGTERM)
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- inventory -------------------------------------------------------------------------------------
    def _write_inventory(self, remote_python: str, group: str) -> None:
        host_vars: dict[str, dict[str, object]] = {}
        for host in self.hosts.values():
            host_vars[host.name] = {
                "ansible_host": "127.0.0.1",
                "ansible_port": host.port,
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(self.client_key),
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
                "ansible_python_interpreter": remote_python,
                "host_root": str(host.root),
                **host.vars,
            }
        document = {"all": {"children": {group: {"hosts": host_vars}}}}
        tmp = self.inventory.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(document, sort_keys=False))
        tmp.replace(self.inventory)


def kill_sshd(pid: int) -> None:
    """SIGTERM a listening sshd by pid and its per-connection children (not necessarily our children)."""
    for child in _children(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGTERM)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, read from /proc (Linux)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _quote_setenv(name: str, value: str) -> str:
    if any(ch in value for ch in '"\\\n'):
        raise ValueError(f"env {name} holds a quote, backslash or newline, which sshd SetEnv cannot carry")
    return f'"{name}={value}"'


def _sshd_config(state: Path, port: int, host_key: Path, authorized: Path, env: dict[str, str]) -> str:
    lines = [
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {host_key}",
        f"PidFile {state / 'sshd.pid'}",
        f"AuthorizedKeysFile {authorized}",
        "PermitRootLogin yes",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",  # the key files live in a test temp dir with ordinary modes
        "PermitUserEnvironment no",
        "Subsystem sftp internal-sftp",
        "MaxSessions 50",
        "MaxStartups 50:30:100",
        "LogLevel ERROR",
    ]
    if env:
        # SetEnv overrides sshd's default session environment (PATH included): each host sees its own doubles.
        lines.append("SetEnv " + " ".join(_quote_setenv(k, v) for k, v in sorted(env.items())))
    return "\n".join(lines) + "\n"


def _start_host(base_dir: Path, spec: HostSpec, authorized: Path, attempts: int = 5) -> FleetHost:
    root = base_dir / "hosts" / spec.name
    state = base_dir / "sshd" / spec.name
    root.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    host_key = state / "ssh_host_ed25519_key"
    if not host_key.exists():
        _keygen(host_key)
    last_error = ""
    for _ in range(attempts):  # a free port can be taken between probing and binding: retry on another
        port = _free_port()
        config = state / "sshd_config"
        config.write_text(_sshd_config(state, port, host_key, authorized, spec.env))
        log_path = state / "sshd.log"
        proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log_path.open("ab"),
            start_new_session=True,  # own process group: stop() kills sshd and any session it forked
        )
        if _wait_listening(port, proc):
            return FleetHost(spec.name, port, root, dict(spec.env), dict(spec.vars), proc, log_path)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        last_error = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"sshd for host {spec.name} did not start after {attempts} tries: {last_error}")


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                if sock.recv(4).startswith(b"SSH-"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False
