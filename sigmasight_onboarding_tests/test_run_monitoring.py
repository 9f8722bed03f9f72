"""Runs never block a client (issue 12, D11): run monitoring is on in both dagster.yaml files, and a
run whose worker is SIGKILLed is marked failed by Dagster's own monitoring step, which frees the
client's one-run-at-a-time slot."""

from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import sys
import uuid

import yaml
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.events import EngineEventData
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES, DagsterRun
from dagster._daemon.monitoring.run_monitoring import monitor_started_run

from sigmasight_onboarding.run_launcher import MonitoredRunLauncher, process_alive, worker_pid

from .conftest import REPO

KEY = "john.smith@example.com"


def test_both_instance_configs_turn_run_monitoring_on():
    for path in (REPO / "dagster.yaml", REPO / "deploy" / "dagster-postgres.yaml", REPO / "deploy" / "dagster.yaml"):
        config = yaml.safe_load(path.read_text())
        assert config["run_monitoring"]["enabled"] is True, path
        assert config["run_monitoring"]["max_resume_run_attempts"] == 0, path
        assert config["run_launcher"] == {"module": "sigmasight_onboarding.run_launcher", "class": "MonitoredRunLauncher"}
        limits = config["run_coordinator"]["config"]["tag_concurrency_limits"]
        assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits


def _started_run(instance: DagsterInstance, pid: int) -> DagsterRun:
    run = DagsterRun(job_name="onboard_client", run_id=str(uuid.uuid4()), status=DagsterRunStatus.STARTED,
                     tags={"dagster/partition": KEY})
    instance.add_run(run)
    instance.report_engine_event(f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid))
    return run


def _in_progress(instance: DagsterInstance) -> list:
    return instance.get_runs(filters=RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES, tags={"dagster/partition": KEY}))


def test_sigkilled_run_worker_is_marked_failed_and_frees_the_client(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")  # the repository's own instance config
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = DagsterInstance.get()
    assert isinstance(instance.run_launcher, MonitoredRunLauncher)
    assert instance.run_monitoring_enabled

    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # stands in for the run worker
    try:
        run = _started_run(instance, worker.pid)
        assert worker_pid(instance, run) == worker.pid
        record = instance.get_run_records(filters=RunsFilter(run_ids=[run.run_id]))[0]
        monitor_started_run(instance, None, record, logging.getLogger("test"))
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED  # alive: left alone
        assert len(_in_progress(instance)) == 1  # the client's slot is taken

        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert not process_alive(worker.pid)
        record = instance.get_run_records(filters=RunsFilter(run_ids=[run.run_id]))[0]
        monitor_started_run(instance, None, record, logging.getLogger("test"))
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE
        assert _in_progress(instance) == []  # the queue can move on
        messages = [r.event_log_entry.user_message or r.event_log_entry.dagster_event.message or ""
                    for r in instance.get_records_for_run(run.run_id).records]
        assert any("is gone" in m for m in messages), messages
    finally:
        if worker.poll() is None:
            worker.kill()
        instance.dispose()


def test_zombie_worker_counts_as_dead():
    worker = subprocess.Popen([sys.executable, "-c", "pass"])
    worker.send_signal(signal.SIGKILL)
    import time

    for _ in range(100):  # exited but not reaped yet: a zombie
        if not process_alive(worker.pid):
            break
        time.sleep(0.05)
    assert not process_alive(worker.pid)
    worker.wait()
