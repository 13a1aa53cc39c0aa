"""A network lab of real namespaces: a switch namespace holding a bridge, one namespace per node, veth links
with tc rate caps. Nothing is added to the machine's own network namespace; every address is one the lab
creates inside its namespaces. Needs root, `ip` and `tc` (iproute2).

    with NetLab("wp1") as lab:
        hub = lab.node("hub", rate_mbit=200)
        lab.run(hub, ["python3", "-m", "http.server"], background=True)
        lab.tx_bytes(hub)

Cleanup (namespaces and every process in them, killed by pid) runs on exit, also after a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUBNET = "10.77.0"
MTU = 9000  # cluster networks run jumbo frames; keeps header bytes small in the egress counts


def available() -> str | None:
    """Why the lab cannot run here (None: it can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for program in ("ip", "tc"):
        if shutil.which(program) is None:
            return f"needs {program} (iproute2)"
    probe = f"wplabprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.decode().strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


@dataclass
class Node:
    name: str
    netns: str
    address: str


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class NetLab:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.switch = f"{prefix}-sw"
        self.nodes: dict[str, Node] = {}
        self.processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> NetLab:
        self.cleanup()  # a lab of the same name left by a killed run
        _ip("netns", "add", self.switch)
        self._in(self.switch, "ip", "link", "add", "br0", "type", "bridge")
        self._in(self.switch, "ip", "link", "set", "br0", "up")
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def _in(self, netns: str, *argv: str) -> None:
        subprocess.run(["ip", "netns", "exec", netns, *argv], check=True, capture_output=True)

    def node(self, name: str, rate_mbit: float | None = None) -> Node:
        """A namespace on the bridge with address 10.77.0.N/24 and, if given, an egress cap."""
        number = len(self.nodes) + 2
        netns, address = f"{self.prefix}-{name}", f"{SUBNET}.{number}"
        port = f"v{self.prefix[-6:]}{number}"
        _ip("netns", "add", netns)
        link = ("link", "add", port, "mtu", str(MTU), "type", "veth")
        _ip("-n", self.switch, *link, "peer", "name", "eth0", "mtu", str(MTU), "netns", netns)
        self._in(self.switch, "ip", "link", "set", port, "master", "br0", "up")
        self._in(netns, "ip", "addr", "add", f"{address}/24", "dev", "eth0")
        self._in(netns, "ip", "link", "set", "eth0", "up")
        self._in(netns, "ip", "link", "set", "lo", "up")
        if rate_mbit:
            self.cap(Node(name, netns, address), rate_mbit)
        node = Node(name, netns, address)
        self.nodes[name] = node
        return node

    def cap(self, node: Node, rate_mbit: float) -> None:
        """(Re)cap the node's egress; a token bucket with a small queue, like a shaped uplink."""
        subprocess.run(
            ["ip", "netns", "exec", node.netns, "tc", "qdisc", "del", "dev", "eth0", "root"],
            capture_output=True,
            check=False,
        )
        burst = max(64_000, int(rate_mbit * 1e6 / 8 / 100))
        self._in(
            node.netns,
            *("tc", "qdisc", "add", "dev", "eth0", "root", "tbf"),
            *("rate", f"{rate_mbit}mbit", "burst", str(burst), "latency", "50ms"),
        )

    def run(
        self,
        node: Node,
        argv: list[str],
        *,
        background: bool = False,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        timeout: float = 120,
    ) -> subprocess.Popen[bytes] | subprocess.CompletedProcess[bytes]:
        command = ["ip", "netns", "exec", node.netns, *argv]
        full_env = {**os.environ, **(env or {})}
        if background:
            out = log.open("ab") if log else subprocess.DEVNULL
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=full_env)
            self.processes.append(process)
            return process
        return subprocess.run(command, capture_output=True, env=full_env, timeout=timeout, check=False)

    def pids(self, node: Node) -> list[int]:
        listed = subprocess.run(
            ["ip", "netns", "pids", node.netns], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in listed.stdout.split()]

    def tx_bytes(self, node: Node) -> int:
        shown = subprocess.run(
            ["ip", "-n", node.netns, "-s", "-j", "link", "show", "eth0"],
            capture_output=True,
            text=True,
            check=True,
        )
        document: list[dict[str, Any]] = json.loads(shown.stdout)
        return int(document[0]["stats64"]["tx"]["bytes"])

    def cleanup(self) -> None:
        """Kill every process in the lab's namespaces (by pid), then delete the namespaces."""
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
        mine = [line.split()[0] for line in listed.stdout.splitlines() if line.startswith(f"{self.prefix}-")]
        for _ in range(2):
            pids = [pid for netns in mine for pid in self.pids(Node("", netns, ""))]
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if pids:
                time.sleep(0.2)
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        self.processes.clear()
        for netns in mine:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)
        self.nodes.clear()
