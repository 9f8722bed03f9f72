"""A run launcher whose run workers the run-monitoring daemon can health-check.

Dagster's `DefaultRunLauncher` starts each run in a subprocess of the code server but cannot tell
the monitoring daemon whether that process is still alive: a run whose worker was SIGKILLed (OOM
killer, `kill -9`, a crashed container) stays STARTED for ever, and with one run per client at a
time (`dagster/partition` tag limit) that client's next run stays QUEUED for ever.

`MonitoredRunLauncher` is the same launcher plus `check_run_worker_health`: the worker's pid is in
the run's "Started process for run (pid: N)" engine event; a pid that no longer exists (or is a
zombie) means the worker died, and the daemon marks the run FAILURE — the queue moves on. Valid
where the daemon and the code server share a host (`dagster dev`, one VM); multi-host deployments
use a launcher with native health checks (dagster-k8s, dagster-docker).
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, DefaultRunLauncher
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun


def worker_pid(instance: DagsterInstance, run: DagsterRun) -> int | None:
    """The pid from the run's "Started process for run (pid: N)" engine event, if recorded."""
    records = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ENGINE_EVENT).records
    for record in records:
        entry = record.event_log_entry
        event = entry.dagster_event
        if event is None or "Started process for run" not in (entry.user_message or event.message or ""):
            continue
        pid = event.event_specific_data.metadata.get("pid") if event.event_specific_data else None
        value = getattr(pid, "value", pid)
        if value is not None and str(value).isdigit():
            return int(value)
    return None


def process_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie — killed but not yet reaped by its parent — is dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        return state not in ("Z", "X")
    return True


class MonitoredRunLauncher(DefaultRunLauncher):
    """`DefaultRunLauncher` + run-worker health checks for the run-monitoring daemon."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        pid = worker_pid(self._instance, run)
        if pid is None:  # not started yet: the start timeout covers this case
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no run worker pid recorded yet")
        if process_alive(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker pid {pid} is alive")
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker pid {pid} is gone (killed or crashed)")
