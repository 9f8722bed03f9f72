"""The step executor is a deployment setting (SIGMASIGHT_EXECUTOR), read when the Definitions are built."""

from __future__ import annotations

import pytest
import yaml

from sigmasight_onboarding.executors import celery_config, executor_from_settings

from .conftest import REPO


def test_default_is_in_process_and_jobs_take_the_definitions_executor():
    from sigmasight_onboarding.definitions import build_definitions

    assert executor_from_settings({}).name == "in_process"
    assert executor_from_settings({"SIGMASIGHT_EXECUTOR": "multiprocess"}).name == "multiprocess"
    defs = build_definitions()
    for name in ("onboard_client", "backfill_timeseries", "verify_client", "daily_refresh"):
        assert defs.resolve_job_def(name).executor_def.name == "in_process", name


def test_celery_from_the_deploy_file(monkeypatch):
    from sigmasight_onboarding.definitions import build_definitions

    config = celery_config(REPO / "deploy" / "celery.yaml")
    assert config["broker"] == "amqp://guest:guest@127.0.0.1:5672//"
    assert config["backend"].startswith("redis://")
    source = config["config_source"]
    assert source["task_acks_late"] is True and source["task_reject_on_worker_lost"] is True
    assert source["task_default_queue"] == "sigmasight"
    monkeypatch.setenv("SIGMASIGHT_EXECUTOR", "celery")
    monkeypatch.setenv("SIGMASIGHT_CELERY_CONFIG", str(REPO / "deploy" / "celery.yaml"))
    defs = build_definitions()
    assert defs.resolve_job_def("onboard_client").executor_def.name == "celery"


def test_unknown_executor_and_missing_broker_are_refused(tmp_path):
    with pytest.raises(ValueError, match="expected one of"):
        executor_from_settings({"SIGMASIGHT_EXECUTOR": "spark"})
    bad = tmp_path / "celery.yaml"
    bad.write_text(yaml.safe_dump({"execution": {"config": {"backend": "rpc://"}}}))
    with pytest.raises(ValueError, match="broker"):
        celery_config(bad)


def test_production_instance_file_is_postgres_with_retries():
    config = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    parts = {part: config[part] for part in ("run_storage", "event_log_storage", "schedule_storage")}
    assert all(p["config"]["postgres_url"] == {"env": "DAGSTER_PG_URL"} for p in parts.values())  # all on PostgreSQL
    assert parts["run_storage"]["module"].startswith("dagster_postgres") and parts["schedule_storage"]["module"].startswith("dagster_postgres")
    assert parts["event_log_storage"]["class"] == "PooledPostgresEventLogStorage"  # dagster-postgres' class, pooled
    assert config["run_retries"]["enabled"] is True
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
