"""Scenario processes.

* ``python -m bench.worker SPEC.json RESULT.json`` — one scenario in a fresh interpreter.
* ``python -m bench.worker --zygote`` — a pre-imported parent (Python + Dagster + the code location
  already imported, no thread, no database connection) that ``fork()``s one fresh child per
  scenario. It saves the ~4 s import of every measurement; each child is still a separate process
  with its own memory, environment and peak RSS (``os.wait4`` on exactly that child). Protocol on
  stdin/stdout, one JSON object per line: the runner sends ``{"spec", "out", "log", "env"}``; the
  zygote answers ``{"pid"}`` when the child started and ``{"status", "maxrss_kb"}`` when it ended.

Either way the child writes RESULT.json = ``{"ok": true, "result": {...}}`` or
``{"ok": false, "error", "traceback"}``.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
import warnings
from datetime import date, datetime


def _default(obj):
    if isinstance(obj, (date, datetime)):
        return obj.isoformat()
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    return str(obj)


def run_spec(spec_path: str, out_path: str) -> int:
    with open(spec_path) as fh:
        spec = json.load(fh)
    warnings.filterwarnings("ignore")  # Dagster preview/beta warnings would flood the log
    try:
        from bench.scenarios import KINDS

        payload = {"ok": True, "result": KINDS[spec["kind"]](spec)}
        code = 0
    except BaseException as exc:  # report, never hang the runner
        payload = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-4000:]}
        code = 1
    with open(out_path, "w") as fh:
        json.dump(payload, fh, default=_default)
    return code


def zygote() -> int:
    warnings.filterwarnings("ignore")
    import dagster  # noqa: F401

    import bench.scenarios  # noqa: F401
    import sigmasight_onboarding.cli  # noqa: F401
    import sigmasight_onboarding.definitions  # noqa: F401

    out = sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # child: own session, own environment, output to the log file
            code = 1
            try:
                os.setsid()
                fd = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.close(fd)
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.environ.clear()
                os.environ.update(job["env"])
                code = run_spec(job["spec"], job["out"])
            except BaseException:
                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()
        _pid, status, usage = os.wait4(pid, 0)
        out.write(json.dumps({"status": status, "maxrss_kb": usage.ru_maxrss}) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--zygote"]:
        sys.exit(zygote())
    sys.exit(run_spec(sys.argv[1], sys.argv[2]))
