"""Dagster's own cost of scenario D's range run, without any of ours: the floor under the ≤ 5 s target.

`python -m bench.dagster_floor [SESSIONS]` (default 250) runs, in process on the CLI's in-memory instance
(`ephemeral_instance`), a job shaped exactly like `backfill_timeseries`: the same three assets and three
blocking per-partition checks on the same clients × date partitions, `BackfillPolicy.single_run`, the same
range tags (`partitions.range_run_tags`) — but the asset computes nothing, reads and writes no database: it
yields the three Outputs and one check evaluation per (client, session), with metadata of the same shape as
the real asset's. What is left is Dagster's bookkeeping: the run and its planned events (one per asset and
check per partition), 3 × SESSIONS materialisations and 3 × SESSIONS check evaluations. Prints the median of
three runs and the split measured by timing the stages of one run.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import warnings
from datetime import date


def floor_definitions():
    """(job, partitions) — `backfill_timeseries`'s shape with an empty computation."""
    from dagster import (
        AssetCheckEvaluation,
        AssetCheckSpec,
        AssetKey,
        AssetSpec,
        BackfillPolicy,
        Definitions,
        MetadataValue,
        Output,
        define_asset_job,
        multi_asset,
    )

    from sigmasight_onboarding.assets.timeseries import partition_days
    from sigmasight_onboarding.partitions import client_date_key, client_date_partitions

    partitions = client_date_partitions()
    names = {"portfolio_snapshots": "snapshot_valid", "portfolio_risk_metrics": "risk_metrics_consistent",
             "stress_test_results": "stress_results_complete"}

    @multi_asset(
        specs=[AssetSpec(a, group_name="floor") for a in names],
        check_specs=[AssetCheckSpec(c, partitions_def=partitions, asset=a, blocking=True) for a, c in names.items()],
        partitions_def=partitions, backfill_policy=BackfillPolicy.single_run(), can_subset=True, name="floor_timeseries",
    )
    def floor_timeseries(context):
        by_client = partition_days(context.partition_keys)
        span = "; ".join(f"{c} {d[0]}..{d[-1]}" for c, d in by_client.items())
        for asset, check in names.items():
            yield Output(None, output_name=asset, metadata={
                "range": span, "sessions": sum(len(d) for d in by_client.values()), "date": str(max(max(d) for d in by_client.values())),
                "results_usd": MetadataValue.json({f"scenario_{i}": -1234.56 * i for i in range(20)})})
            for client, days in by_client.items():
                for day in days:
                    yield AssetCheckEvaluation(asset_key=AssetKey(asset), check_name=check, passed=True, blocking=True,
                                               partition=str(client_date_key(client, day)),
                                               metadata={"problem": "none", "range": span})

    job = define_asset_job("floor_timeseries_job", selection=[floor_timeseries])
    defs = Definitions(assets=[floor_timeseries], jobs=[job])
    return defs.resolve_job_def("floor_timeseries_job"), partitions


def run_once(job, client: str, days: list[date]) -> dict:
    """One range run on a new in-memory instance: seconds in total and in `create_run` (planned events)."""
    from dagster._core.instance.runs.run_domain import RunDomain

    from sigmasight_onboarding.ephemeral_instance import ephemeral_instance
    from sigmasight_onboarding.partitions import CLIENTS_PARTITION, range_run_tags

    instance = ephemeral_instance()
    instance.add_dynamic_partitions(CLIENTS_PARTITION, [client])
    created = {}
    original = RunDomain.create_run

    def timed_create_run(self, *args, **kwargs):
        t = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            created["s"] = time.perf_counter() - t

    RunDomain.create_run = timed_create_run
    try:
        t0 = time.perf_counter()
        result = job.execute_in_process(instance=instance, tags=range_run_tags(client, days), raise_on_error=True,
                                        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
        total = time.perf_counter() - t0
    finally:
        RunDomain.create_run = original
    materialised = len(result.get_asset_materialization_events())
    checks = len(result.get_asset_check_evaluations())
    return {"seconds": total, "create_run_s": created.get("s", float("nan")), "materialisations": materialised,
            "check_evaluations": checks}


def main(argv: list[str]) -> int:
    warnings.simplefilter("ignore")
    sessions = int(argv[0]) if argv else 250
    os.environ.setdefault("SIGMASIGHT_DATABASE_URL", "sqlite:///:memory:")
    from sigmasight_onboarding.calendar import last_sessions
    from sigmasight_onboarding.partitions import date_partitions_end

    job, _partitions = floor_definitions()
    days = last_sessions(date_partitions_end(), sessions)
    runs = [run_once(job, "floor@example.com", days) for _ in range(3)]
    median = statistics.median(r["seconds"] for r in runs)
    create = statistics.median(r["create_run_s"] for r in runs)
    last = runs[-1]
    print(f"Dagster floor of a {sessions}-session range run (1 client, 3 assets, 3 per-partition checks, in-memory instance):")
    each = ", ".join(f"{r['seconds']:.2f} s" for r in runs)
    print(f"  runs: {each}; median {median:.2f} s, of it create_run "
          f"(planned events) {create:.2f} s")
    print(f"  recorded: {last['materialisations']} materialisations, {last['check_evaluations']} check evaluations")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
