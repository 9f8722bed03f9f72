"""Client-partitioned assets over several clients in ONE run (the daily refresh).

`price_history` and the four analytics assets have `BackfillPolicy.single_run()`: a run launched
with the range tags `dagster/asset_partition_range_start` / `_end` over the `clients` partitions
(what `daily_refresh_schedule` requests, or a UI asset backfill of many clients) materialises every
client of the range in one process — one price read and one provider call for the union of their
symbols — instead of one run per client.

A run of one client yields the asset's own `MaterializeResult` (metadata and check results of that
client, as before). A run of several yields one `MaterializeResult` whose metadata sums the clients up
in a few numbers (Dagster stores it with every client's materialisation) and one `AssetCheckEvaluation`
per check and client, so each client's check result shows on its own partition in the UI.

Such a run still stops at a failed blocking check: Dagster fails the step that yields a failed blocking
`AssetCheckEvaluation` of ERROR severity (`DagsterAssetCheckFailedError`), so its downstream steps are skipped.
Dagster's plan nevertheless logs, for every blocking check spec of the step and every downstream step, that the
check "emitted no result ... will proceed without gating on it" (it looks only at the check outputs, which a
multi-client step leaves empty): 36 wrong warnings on stderr per daily-refresh run. `BatchCheckNotices` drops
exactly those of the assets below; any other asset's notice is kept.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator

from dagster import AssetCheckEvaluation, AssetCheckResult, AssetCheckSeverity, AssetKey, MaterializeResult

from sigmasight_onboarding.metadata import readable

#: the client-partitioned assets that report per-client check evaluations in a multi-client run
BATCH_ASSETS = frozenset({"price_history", "position_greeks", "factor_exposures", "interest_rate_betas", "correlations"})


class BatchCheckNotices(logging.Filter):
    """Drops Dagster's "Blocking asset check '<asset>:<check>' emitted no result ..." for the `BATCH_ASSETS` (see the
    module docstring: those runs are gated by the failed evaluation itself); every other record passes."""

    _NOTICE = re.compile(r"Blocking asset check '([^':]+):[^']*' emitted no result ")

    def filter(self, record: logging.LogRecord) -> bool:
        match = self._NOTICE.match(str(record.msg))
        return not (match and match.group(1) in BATCH_ASSETS)


_PLAN_LOGGER = logging.getLogger("dagster._core.execution.plan.active")  # where Dagster 1.13 logs the notice
if not any(isinstance(f, BatchCheckNotices) for f in _PLAN_LOGGER.filters):
    _PLAN_LOGGER.addFilter(BatchCheckNotices())


def run_clients(context) -> list[str]:
    """The client keys of the run: one, or every client of a range run, in partition order."""
    return list(context.partition_keys)


def partition_evaluations(asset: str, client: str, checks: Iterable[AssetCheckResult]) -> Iterator[AssetCheckEvaluation]:
    """`AssetCheckResult`s of one client as evaluations on that client's partition (blocking as declared:
    every check of these assets is blocking except WARN-severity ones)."""
    for check in checks:
        severity = check.severity or AssetCheckSeverity.ERROR
        yield AssetCheckEvaluation(
            asset_key=AssetKey(asset), check_name=check.check_name, passed=bool(check.passed), partition=client,
            metadata=dict(check.metadata or {}), severity=severity, description=check.description,
            blocking=severity == AssetCheckSeverity.ERROR)


def _plain(value):
    raw = getattr(value, "value", value)
    return raw if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None


def batch_metadata(results: dict[str, MaterializeResult], columns: list[str], extra: dict | None = None) -> dict:
    """Summary metadata of a multi-client run: client count, range, and per summary column its total
    (counts) or mean (ratios) over the clients. Kept small on purpose: Dagster stores the metadata of a
    range run's output with EVERY partition's materialisation, so a per-client table would be stored once
    per client (200 clients: 200 copies of a 200-row table). Each client's own figures are in its check
    results (one per partition)."""
    clients = list(results)
    summary = {}
    for column in columns:
        values = [v for v in (_plain((results[c].metadata or {}).get(column)) for c in clients) if v is not None]
        if not values:
            continue
        if all(isinstance(v, int) for v in values):
            summary[f"{column} (total)"] = sum(values)
        else:
            summary[f"{column} (mean)"] = sum(values) / len(values)
    return readable({
        "clients": len(clients),
        "client_range": f"{clients[0]} .. {clients[-1]}" if clients else "",
        **summary,
        **(extra or {}),
    })
