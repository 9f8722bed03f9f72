"""Dagster's own cost of scenarios D and E, with nothing of ours in them: the floor under their targets.

`python -m bench.dagster_floor [D|E] [SIZE]` — D (default): one client × SIZE sessions (default 250) of
`backfill_timeseries` as one range run; E: what scenario E executes for SIZE clients (default 200): one
`daily_refresh` run over the clients, then one `backfill_timeseries` run for the clients × the new session.

Each job is run as a *hollow copy*: the same assets (keys, dependencies, partitions, `BackfillPolicy`), the same
blocking per-partition checks, the same executor (in process), the same range tags (`partitions.range_run_tags` /
`client_range_tags`) on the CLI's in-memory instance (`ephemeral_instance`) — but every asset body computes
nothing and touches no database: it yields its outputs and one check evaluation per check and partition, with
metadata of the real assets' shape. What is left is Dagster's bookkeeping: the run and its planned events,
the steps, one materialisation per asset and partition, one evaluation per check and partition. Prints the
median of three runs and the `create_run` (planned events) part.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import warnings
from datetime import date


def hollow_job(job_name: str):
    """A job with `job_name`'s assets and checks (ours, from `definitions.defs`) whose bodies only report."""
    from dagster import AssetCheckEvaluation, AssetKey, Definitions, MetadataValue, Output, define_asset_job, multi_asset

    from sigmasight_onboarding.definitions import defs

    graph = defs.resolve_job_def(job_name).asset_layer.asset_graph
    originals = {id(graph.get(k).assets_def): graph.get(k).assets_def for k in graph.executable_asset_keys}
    metadata = {"range": "x" * 80, "sessions": 250, "date": "2026-08-03",
                "results_usd": MetadataValue.json({f"scenario_{i}": -1234.56 * i for i in range(20)})}

    def hollow(original):
        specs, checks = list(original.specs), list(original.check_specs)

        @multi_asset(specs=specs, check_specs=checks, partitions_def=original.partitions_def,
                     backfill_policy=original.backfill_policy, can_subset=True, name=f"hollow_{original.node_def.name}")
        def body(context):
            keys = [str(k) for k in context.partition_keys]
            for spec in specs:
                yield Output(None, output_name=spec.key.to_python_identifier(), metadata=metadata)
            for check in checks:
                for key in keys:
                    yield AssetCheckEvaluation(asset_key=check.asset_key, check_name=check.name, passed=True, blocking=True,
                                               partition=key, metadata={"problem": "none", "rows": 30})

        return body

    assets = [hollow(a) for a in originals.values()]
    job = define_asset_job(f"hollow_{job_name}", selection=[AssetKey(s.key.path) for a in assets for s in a.specs])
    return Definitions(assets=assets, jobs=[job]).resolve_job_def(f"hollow_{job_name}")


def timed_runs(instance, runs: list[tuple]) -> dict:
    """Execute (job, tags) in order on `instance`; seconds in total and in `create_run`."""
    from dagster._core.instance.runs.run_domain import RunDomain

    created = []
    original = RunDomain.create_run

    def timed_create_run(self, *args, **kwargs):
        t = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            created.append(time.perf_counter() - t)

    RunDomain.create_run = timed_create_run
    recorded = [0, 0]
    try:
        t0 = time.perf_counter()
        for job, tags in runs:
            result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=True,
                                            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
            recorded[0] += len(result.get_asset_materialization_events())
            recorded[1] += len(result.get_asset_check_evaluations())
        total = time.perf_counter() - t0
    finally:
        RunDomain.create_run = original
    return {"seconds": total, "create_run_s": sum(created), "materialisations": recorded[0], "check_evaluations": recorded[1]}


def main(argv: list[str]) -> int:
    warnings.simplefilter("ignore")
    scenario = (argv[0] if argv else "D").upper()
    size = int(argv[1]) if len(argv) > 1 else (250 if scenario == "D" else 200)
    os.environ.setdefault("SIGMASIGHT_DATABASE_URL", "sqlite:///:memory:")
    from sigmasight_onboarding.calendar import last_sessions
    from sigmasight_onboarding.ephemeral_instance import ephemeral_instance
    from sigmasight_onboarding.partitions import CLIENTS_PARTITION, client_range_tags, date_partitions_end, range_run_tags

    newest: date = date_partitions_end()
    timeseries = hollow_job("backfill_timeseries")
    if scenario == "D":
        clients = ["floor@example.com"]
        plan = [(timeseries, range_run_tags(clients[0], last_sessions(newest, size)))]
        what = f"D: 1 client × {size} sessions, one backfill_timeseries range run"
    else:
        clients = [f"floor{i:03d}@example.com" for i in range(size)]
        plan = [(hollow_job("daily_refresh"), client_range_tags(clients)),
                (timeseries, client_range_tags(clients, [newest]))]
        what = f"E: {size} clients, one daily_refresh run, then one backfill_timeseries run × 1 session"
    measured = []
    for _ in range(3):
        instance = ephemeral_instance()
        instance.add_dynamic_partitions(CLIENTS_PARTITION, clients)
        measured.append(timed_runs(instance, plan))
    median = statistics.median(r["seconds"] for r in measured)
    create = statistics.median(r["create_run_s"] for r in measured)
    each = ", ".join(f"{r['seconds']:.2f} s" for r in measured)
    print(f"Dagster floor of scenario {what} (hollow assets, in-memory instance):")
    print(f"  runs: {each}; median {median:.2f} s, of it create_run (planned events) {create:.2f} s")
    print(f"  recorded: {measured[-1]['materialisations']} materialisations, {measured[-1]['check_evaluations']} check evaluations")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
