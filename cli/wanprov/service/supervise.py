"""TEST-ONLY stand-in for systemd (comfyui_service_manager: process, `wanprov up --service process`), for
containers where systemd is not PID 1. Starts the service's command line from the launch file as the service
user, detached, with a pid file; `status` exits 0 when it runs. It does not restart on failure: real hosts use
the systemd unit. One place: the comfyui role and `wanprov up` both run it from the wanprov package.

usage: python -m wanprov.service.supervise start|stop|restart|status LAUNCH_JSON
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _pid(spec: dict) -> int | None:
    try:
        pid = int(Path(spec["pidfile"]).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def start(spec: dict) -> int:
    if _pid(spec):
        print("running")
        return 0
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(Path(spec["pidfile"]).parent)}
    env.update(spec.get("env", {}))
    with Path(spec["logfile"]).open("ab") as log:
        proc = subprocess.Popen(
            spec["argv"], cwd=spec["cwd"], env=env, user=spec["user"], group=spec["group"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    tmp = Path(spec["pidfile"] + ".tmp")
    tmp.write_text(f"{proc.pid}\n")
    tmp.replace(spec["pidfile"])
    print("started")
    return 0


def stop(spec: dict) -> int:
    pid = _pid(spec)
    if pid:
        os.killpg(pid, signal.SIGTERM)
        for _attempt in range(100):  # 10 s for the process group to leave
            if _pid(spec) is None:
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
    Path(spec["pidfile"]).unlink(missing_ok=True)
    print("stopped")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("start", "stop", "restart", "status"):
        print(__doc__, file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[2]).read_text())
    if argv[1] == "status":
        running = _pid(spec) is not None
        print("running" if running else "stopped")
        return 0 if running else 3
    if argv[1] == "restart":
        stop(spec)
    return start(spec) if argv[1] in ("start", "restart") else stop(spec)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
