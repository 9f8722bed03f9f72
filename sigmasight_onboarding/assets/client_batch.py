"""Client-partitioned assets over several clients in ONE run (the daily refresh).

`price_history` and the four analytics assets have `BackfillPolicy.single_run()`: a run launched
with the range tags `dagster/asset_partition_range_start` / `_end` over the `clients` partitions
(what `daily_refresh_schedule` requests, or a UI asset backfill of many clients) materialises every
client of the range in one process — one price read and one provider call for the union of their
symbols — instead of one run per client.

A run of one client yields the asset's own `MaterializeResult` (metadata and check results of that
client, as before). A run of several yields one `MaterializeResult` whose metadata sums the clients up
(Dagster records it for every client of the range) and one `AssetCheckEvaluation` per check and
client, so each client's check result shows on its own partition in the UI.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from dagster import AssetCheckEvaluation, AssetCheckResult, AssetCheckSeverity, AssetKey, MaterializeResult, MetadataValue

from sigmasight_onboarding.metadata import readable

#: clients listed in a batch run's per-client metadata table (the rest are counted)
BATCH_TABLE_ROWS = 200


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
    return raw if isinstance(raw, (int, float, str, bool)) or raw is None else None


def batch_metadata(results: dict[str, MaterializeResult], columns: list[str], extra: dict | None = None) -> dict:
    """Summary metadata of a multi-client run: client count, range, and a table of `columns` (scalar
    metadata entries of each client's result) per client."""
    from dagster import TableColumn, TableRecord, TableSchema

    clients = list(results)
    rows = []
    for client in clients[:BATCH_TABLE_ROWS]:
        meta = results[client].metadata or {}
        rows.append({"client": client, **{c: _plain(meta.get(c)) for c in columns}})
    kinds = {c: ("float" if any(isinstance(r[c], float) for r in rows) else
                 "int" if any(isinstance(r[c], int) and not isinstance(r[c], bool) for r in rows) else "string")
             for c in columns}
    for r in rows:  # a table cell must match its column's type
        for c in columns:
            if r[c] is None:
                r.pop(c)
            elif kinds[c] == "string":
                r[c] = str(r[c])
    table = MetadataValue.table([TableRecord(r) for r in rows],
                                schema=TableSchema([TableColumn("client", "string")] + [TableColumn(c, kinds[c]) for c in columns]))
    return readable({
        "clients": len(clients),
        "client_range": f"{clients[0]} .. {clients[-1]}" if clients else "",
        "per_client": table,
        "per_client_rows": f"{len(rows)} of {len(clients)}" if len(rows) < len(clients) else "",
        **(extra or {}),
    })
