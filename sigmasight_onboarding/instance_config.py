"""Is the Dagster instance configured the way this project expects (a run queue)?

`dagster dev` reads `$DAGSTER_HOME/dagster.yaml` when DAGSTER_HOME is set and the repository's
`dagster.yaml` only when it is not; a DAGSTER_HOME without the project's file silently loses the
queued run coordinator (4 concurrent runs, one run per client at a time).
`scripts/dagster_dev.py` installs the file; `sigmasight` warns through `run_queue_warning`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml

from sigmasight_onboarding.config import PROJECT_ROOT

PROJECT_INSTANCE_YAML = PROJECT_ROOT / "dagster.yaml"
DEFAULT_DAGSTER_HOME = PROJECT_ROOT / ".local" / "dagster_home"


def run_queue_configured(instance) -> bool:
    """A QueuedRunCoordinator that keeps one run per client (the `dagster/partition` tag limit).

    Dagster's default instance has a queue too, but with 10 concurrent runs and no per-client
    limit, so two onboardings of the same client could run at once."""
    from dagster._core.run_coordinator import QueuedRunCoordinator

    coordinator = instance.run_coordinator
    if not isinstance(coordinator, QueuedRunCoordinator):
        return False
    limits = coordinator.get_run_queue_config().tag_concurrency_limits or []
    return any(limit.get("key") == "dagster/partition" for limit in limits)


def run_queue_warning(instance) -> str | None:
    """A warning when `instance` (from DAGSTER_HOME) lacks the project's run queue, else None."""
    if instance.is_ephemeral or run_queue_configured(instance):
        return None
    home = os.environ.get("DAGSTER_HOME", "$DAGSTER_HOME")
    return (f"warning: the Dagster instance in {home} has no run queue of this project (QueuedRunCoordinator with "
            "one run per client), so UI and sensor runs are not kept to one per client; install the project's "
            f"config: cp {PROJECT_INSTANCE_YAML} {home}/dagster.yaml (or start with scripts/dagster_dev.py)")


def ensure_instance_config(home: Path) -> str:
    """Make `home/dagster.yaml` the project's configuration when it is missing; returns what was done."""
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        shutil.copyfile(PROJECT_INSTANCE_YAML, target)
        return f"installed {PROJECT_INSTANCE_YAML.name} -> {target}"
    text = target.read_text()
    if "QueuedRunCoordinator" not in text or "dagster/partition" not in text:
        return (f"warning: {target} has no QueuedRunCoordinator; runs are not queued "
                f"(compare with {PROJECT_INSTANCE_YAML})")
    keys = yaml.safe_load(text) or {}
    if not any(k in keys for k in ("storage", "event_log_storage")):
        # an older copy of the project's file: Dagster's default SQLite event log reconnects for every event
        return (f"using {target} (note: it predates the pooled event log of {PROJECT_INSTANCE_YAML.name}; range runs "
                f"store their events ~2x slower — copy the project's file again to get it)")
    return f"using {target}"
