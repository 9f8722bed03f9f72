"""Which executor runs the steps of a run: a deployment setting, not a code edit.

`SIGMASIGHT_EXECUTOR` (read when the Definitions are built, never at import time):

- unset / `in_process` (default): every step in the run's own process.
- `multiprocess`: one process per step on the run's host.
- `celery`: each step is a Celery task executed by `dagster-celery worker` processes on any host.
  Broker, result backend and queue come from the YAML file named by `SIGMASIGHT_CELERY_CONFIG`
  (default `deploy/celery.yaml`) — the same file the workers are started with
  (`dagster-celery worker start -y deploy/celery.yaml -q <queue>`), so both sides always agree.
- `k8s`: dagster-k8s's `k8s_job_executor`, one Kubernetes pod per step (deploy/k8s/; needs
  `dagster-k8s==0.29.27` in the image — not a dependency of this project, not runnable here).

Nothing passes between steps in memory: every asset re-reads what it needs from the SigmaSight
database (the per-run caches fall back to it on a miss) and Dagster's IO manager persists
outputs under DAGSTER_HOME, so any step may run in any process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dagster import ExecutorDefinition, in_process_executor, multiprocess_executor

from sigmasight_onboarding.config import PROJECT_ROOT

DEFAULT_CELERY_CONFIG = PROJECT_ROOT / "deploy" / "celery.yaml"
EXECUTORS = ("in_process", "multiprocess", "celery", "k8s")


def celery_config(path: str | Path) -> dict:
    """The `execution: config:` block of a dagster-celery config YAML (what `dagster-celery worker
    start -y` reads), validated against the celery executor's schema."""
    import yaml

    parsed = yaml.safe_load(Path(path).read_text()) or {}
    execution = parsed.get("execution") or {}
    config = execution.get("config") or execution.get("celery", {}).get("config") or {}
    if not config.get("broker"):
        raise ValueError(f"{path}: execution.config.broker is required (the Celery broker URL)")
    return dict(config)


def executor_from_settings(environ: Mapping[str, str] | None = None) -> ExecutorDefinition:
    """The executor named by SIGMASIGHT_EXECUTOR (default in-process)."""
    environ = os.environ if environ is None else environ
    kind = (environ.get("SIGMASIGHT_EXECUTOR") or "in_process").strip().lower().replace("-", "_")
    if kind in ("in_process", "inprocess"):
        return in_process_executor
    if kind in ("multiprocess", "multi_process"):
        return multiprocess_executor
    if kind == "celery":
        from dagster_celery import celery_executor

        path = environ.get("SIGMASIGHT_CELERY_CONFIG") or DEFAULT_CELERY_CONFIG
        return celery_executor.configured(celery_config(path), name="celery")
    if kind == "k8s":
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError as exc:
            raise ValueError("SIGMASIGHT_EXECUTOR=k8s needs dagster-k8s==0.29.27 installed (deploy/k8s/Dockerfile)") from exc
        return k8s_job_executor
    raise ValueError(f"SIGMASIGHT_EXECUTOR={kind!r}: expected one of {', '.join(EXECUTORS)}")
