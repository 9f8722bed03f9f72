#!/usr/bin/env python3
"""Start, stop and inspect `dagster dev` (webserver + daemon) for this project — from a terminal,
a script, cron or a service manager.

    python scripts/dagster_dev.py start [--port 3000] [--host 127.0.0.1] [--background]
    python scripts/dagster_dev.py stop [--timeout 60]
    python scripts/dagster_dev.py status

* Instance: DAGSTER_HOME, or `.local/dagster_home` when unset; the project's `dagster.yaml` (run
  queue: 4 concurrent runs, one per client) is installed there when the folder has none, so the
  run queue applies whether or not DAGSTER_HOME was set.
* Signals: `dagster dev` stops cleanly on SIGINT or SIGTERM (it tells the webserver and the daemon
  to shut down and waits for them). A shell that starts a program in the background without job
  control (`cmd &` in a script, nohup, cron) makes it *ignore* SIGINT, and `dagster dev` maps
  SIGTERM onto the SIGINT handler — so it ignored both. This launcher restores the default
  dispositions before it execs `dagster dev`, so SIGINT/SIGTERM stop it however it was started.
* `--background` detaches (new session), logs to `$DAGSTER_HOME/dagster_dev.log` and writes the
  PID to `$DAGSTER_HOME/dagster_dev.pid`; `stop` sends SIGTERM to that PID and waits (SIGKILL to the process
  group only after --timeout).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sigmasight_onboarding.run_launcher import process_alive  # the run monitor's own liveness test

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))



def _home() -> Path:
    from sigmasight_onboarding.instance_config import DEFAULT_DAGSTER_HOME

    return Path(os.environ.get("DAGSTER_HOME") or DEFAULT_DAGSTER_HOME).expanduser().resolve()


def _pid_file() -> Path:
    return _home() / "dagster_dev.pid"


def _log_file() -> Path:
    return _home() / "dagster_dev.log"


def _read_pid() -> int | None:
    try:
        return int(_pid_file().read_text().strip())
    except (OSError, ValueError):
        return None


def _prepare_home() -> Path:
    from sigmasight_onboarding.instance_config import ensure_instance_config

    home = _home()
    os.environ["DAGSTER_HOME"] = str(home)
    print(f"DAGSTER_HOME={home}: {ensure_instance_config(home)}", flush=True)
    return home


def _dagster_command(args) -> list[str]:
    exe = Path(sys.executable).with_name("dagster")
    cmd = [str(exe) if exe.exists() else "dagster", "dev", "--port", str(args.port)]
    if args.host:
        cmd += ["--host", args.host]
    return cmd


def start(args) -> int:
    pid = _read_pid()
    if pid and process_alive(pid):
        print(f"already running (pid {pid}); stop it first", file=sys.stderr)
        return 1
    _prepare_home()
    cmd = _dagster_command(args)
    # default dispositions: an ignored SIGINT (background job of a non-interactive shell) would
    # survive exec and make `dagster dev` deaf to SIGINT and SIGTERM
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.chdir(ROOT)
    if not args.background:
        print("exec " + " ".join(cmd), flush=True)
        os.execv(cmd[0], cmd) if os.path.isabs(cmd[0]) else os.execvp(cmd[0], cmd)
    with open(_log_file(), "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=ROOT)
    _pid_file().write_text(str(proc.pid))
    print(f"started dagster dev (pid {proc.pid}) on port {args.port}; log {_log_file()}; "
          f"stop with: python scripts/dagster_dev.py stop")
    return 0


def stop(args) -> int:
    pid = _read_pid()
    if not pid or not process_alive(pid):
        print("not running")
        _pid_file().unlink(missing_ok=True)
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline and process_alive(pid):
        time.sleep(0.5)
    if process_alive(pid):
        print(f"pid {pid} still running after {args.timeout}s; SIGKILL to its process group", file=sys.stderr)
        os.killpg(pid, signal.SIGKILL)
    _pid_file().unlink(missing_ok=True)
    print(f"stopped dagster dev (pid {pid})")
    return 0


def status(_args) -> int:
    pid = _read_pid()
    if pid and process_alive(pid):
        print(f"running (pid {pid}); log {_log_file()}")
        return 0
    print("not running")
    return 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="start/stop dagster dev for sigmasight-onboarding")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("start")
    p.add_argument("--port", type=int, default=int(os.environ.get("DAGSTER_PORT", "3000")))
    p.add_argument("--host", default=None)
    p.add_argument("--background", action="store_true", help="detach; PID in $DAGSTER_HOME/dagster_dev.pid")
    p.set_defaults(func=start)
    p = sub.add_parser("stop")
    p.add_argument("--timeout", type=float, default=60.0)
    p.set_defaults(func=stop)
    p = sub.add_parser("status")
    p.set_defaults(func=status)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
