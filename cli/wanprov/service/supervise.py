#!/usr/bin/env python3
"""TEST-ONLY stand-in for systemd (comfyui_service_manager: process), for containers where systemd is not
PID 1. Starts the service's command line from the launch file as the service user, detached, with a pid
file; `status` exits 0 when it runs. It does not restart on failure: real hosts use the systemd unit.

usage: wanprov-supervise.py start|stop|restart|status LAUNCH_JSON
"""

import json
import os
import signal
import subprocess
import sys
import time


def _pid(spec):
    try:
        with open(spec["pidfile"]) as handle:
            pid = int(handle.read().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def start(spec):
    if _pid(spec):
        print("running")
        return 0
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.path.dirname(spec["pidfile"])}
    env.update(spec.get("env", {}))
    with open(spec["logfile"], "ab") as log:
        proc = subprocess.Popen(
            spec["argv"], cwd=spec["cwd"], env=env, user=spec["user"], group=spec["group"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    tmp = spec["pidfile"] + ".tmp"
    with open(tmp, "w") as handle:
        handle.write(f"{proc.pid}\n")
    os.replace(tmp, spec["pidfile"])
    print("started")
    return 0


def stop(spec):
    pid = _pid(spec)
    if pid:
        os.killpg(pid, signal.SIGTERM)
        for _attempt in range(100):  # 10 s for the process group to leave
            if _pid(spec) is None:
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
    if os.path.exists(spec["pidfile"]):
        os.unlink(spec["pidfile"])
    print("stopped")
    return 0


def main(argv):
    if len(argv) != 3 or argv[1] not in ("start", "stop", "restart", "status"):
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[2]) as handle:
        spec = json.load(handle)
    if argv[1] == "status":
        running = _pid(spec) is not None
        print("running" if running else "stopped")
        return 0 if running else 3
    if argv[1] == "restart":
        stop(spec)
    return start(spec) if argv[1] in ("start", "restart") else stop(spec)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
