"""Scenario bodies. Each runs inside a fresh worker process (``bench/worker.py``) whose environment
(SIGMASIGHT_DATABASE_URL, _IMPORTS_DIR, _STATE_DIR, _BCRYPT_ROUNDS=4, _PROVIDERS=file,
_MARKET_DATA_FILE) was set by the runner, and returns a JSON-able dict of measurements.

Imports, engine creation and schema migration happen before the clock starts: they are a
per-process / per-deployment cost, not onboarding latency (import time is reported separately).
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

from sigmasight_onboarding.ephemeral_instance import ephemeral_instance

TIMESERIES_JOB = "backfill_timeseries"
TIMESERIES_GROUP = "timeseries"


def _settings_engine():
    from sigmasight_onboarding.config import Settings
    from sigmasight_onboarding.db.engine import get_engine

    settings = Settings.from_env()
    t0 = time.perf_counter()
    engine = get_engine(settings.database_url)  # migrates a fresh database (untimed)
    return settings, engine, time.perf_counter() - t0


def _run_summary(result, instance) -> dict:
    """success, checks, materialisations, per-step durations and failures of one in-process run."""
    checks = result.get_asset_check_evaluations()
    failed = [
        {"check": f"{c.asset_key.to_user_string()}:{c.check_name}", "severity": str(getattr(c.severity, "value", c.severity))}
        for c in checks if not c.passed
    ]
    mats = result.get_asset_materialization_events()
    meta: dict = {}
    for event in mats:
        mat = event.event_specific_data.materialization
        for k in ("rows_added", "provider_calls", "positions", "symbols_requested", "symbols_failed"):
            if k in mat.metadata:
                meta[f"{mat.asset_key.to_user_string()}.{k}"] = mat.metadata[k].value
    steps = {}
    try:
        for s in instance.get_run_step_stats(result.run_id):
            if s.start_time and s.end_time:
                steps[s.step_key] = round(s.end_time - s.start_time, 3)
    except Exception as exc:  # pragma: no cover - instance API drift
        steps["<unavailable>"] = str(exc)
    failures = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            err = event.step_failure_data.error
            failures.append(f"{event.step_key}: {(err.message.strip() if err else '')[:400]}")
    return {
        "success": bool(result.success),
        "checks_total": len(checks),
        "checks_passed": len(checks) - len(failed),
        "checks_failed": failed,
        "blocking_failed": [f for f in failed if f["severity"].upper() != "WARN"],
        "assets_materialised": len({e.asset_key for e in mats}),
        "metadata": meta,
        "steps": steps,
        "failures": failures,
    }


# ------------------------------------------------------------------------------------------------
# A. onboarding latency
# ------------------------------------------------------------------------------------------------
def onboard(spec: dict) -> dict:
    """One ``run_onboarding(key, ephemeral_instance())`` (the CLI's instance) of the drop ``spec['key']``."""
    t0 = time.perf_counter()

    import sigmasight_onboarding.definitions  # noqa: F401  (import cost is not onboarding latency)
    from sigmasight_onboarding.cli import run_onboarding

    import_s = time.perf_counter() - t0
    _settings, _engine, migrate_s = _settings_engine()
    instance = ephemeral_instance()
    profiler = None
    if spec.get("profile"):
        from pyinstrument import Profiler

        profiler = Profiler(interval=spec.get("profile_interval", 0.005))
        profiler.start()
    t1, c1 = time.perf_counter(), time.process_time()
    result = run_onboarding(spec["key"], instance)
    seconds, cpu = time.perf_counter() - t1, time.process_time() - c1
    out = {"seconds": seconds, "cpu_s": cpu, "import_s": round(import_s, 2), "migrate_s": round(migrate_s, 2)}
    if profiler is not None:
        profiler.stop()
        out["profile"] = save_profile(profiler, Path(spec["profile"]))
    out.update(_run_summary(result, instance))
    return out


def save_profile(profiler, stem: Path, top: int = 25) -> dict:
    """HTML + text (call tree) + flat top-N by self time; returns the paths and the flat list."""
    from pyinstrument.renderers import ConsoleRenderer

    stem.parent.mkdir(parents=True, exist_ok=True)
    html = stem.with_suffix(".html")
    txt = stem.with_suffix(".txt")
    html.write_text(profiler.output_html())
    tree = profiler.output_text(unicode=False, color=False)
    flat = profiler.output(ConsoleRenderer(unicode=False, color=False, flat=True, flat_time="self"))
    txt.write_text(tree + "\n\n==== flat, by self time ====\n" + flat)
    flat_lines = [ln for ln in flat.splitlines() if ln.strip() and ln.strip()[0].isdigit()][:top]
    tree_lines = tree.splitlines()
    return {"html": str(html), "text": str(txt), "flat_top": flat_lines, "tree_head": tree_lines[:60]}


def _window(settings, as_of: date | None = None) -> list:
    from sigmasight_onboarding.calendar import sessions_between
    from sigmasight_onboarding.db.price_cache import window_start
    from sigmasight_onboarding.resources.market_data_resource import resolve_as_of

    as_of = as_of or resolve_as_of(settings)
    return sessions_between(window_start(as_of, settings.price_lookback_days), as_of)


def _drop_symbols(folder: Path) -> set[str]:
    import pandas as pd

    frame = pd.read_csv(Path(folder) / "portfolio.csv", dtype=str, keep_default_na=False)
    opt = frame["underlying_symbol"] != ""
    return set(frame.loc[~opt, "symbol"]) | set(frame.loc[opt, "underlying_symbol"])


def warm_cache(spec: dict) -> dict:
    """Fill the price cache for a drop's symbols (+ factor ETFs, rates) with the bench loader."""
    from bench.cache_warm import warm_cache as _warm
    from sigmasight_onboarding.price_backfill import reference_symbols

    settings, engine, _ = _settings_engine()
    t0 = time.perf_counter()
    out = _warm(engine, sorted(_drop_symbols(Path(spec["folder"])) | set(reference_symbols())), _window(settings))
    out["seconds"] = time.perf_counter() - t0
    return out


# ------------------------------------------------------------------------------------------------
# C. ingest: validate + store one big drop
# ------------------------------------------------------------------------------------------------
def ingest(spec: dict) -> dict:
    from sigmasight_onboarding.db.onboarding_writer import write_client
    from sigmasight_onboarding.drops.reader import read_drop

    settings, engine, migrate_s = _settings_engine()
    folder = Path(spec["folder"])
    t0, c0 = time.perf_counter(), time.process_time()
    drop = read_drop(folder, settings)
    t_validate, c_validate = time.perf_counter() - t0, time.process_time() - c0
    t1, c1 = time.perf_counter(), time.process_time()
    result = write_client(engine, drop, settings, actor="bench")
    t_write, c_write = time.perf_counter() - t1, time.process_time() - c1
    t2 = time.perf_counter()
    again = write_client(engine, drop, settings, actor="bench")
    t_rewrite = time.perf_counter() - t2
    return {
        "rows": int(len(drop.positions)),
        "validate_s": t_validate,
        "write_s": t_write,
        "validate_cpu_s": c_validate,
        "write_cpu_s": c_write,
        "seconds": t_validate + t_write,
        "rewrite_unchanged_s": t_rewrite,
        "inserted": result.positions_inserted,
        "rewrite_changed_anything": bool(again.changed_anything),
        "migrate_s": round(migrate_s, 2),
    }


# ------------------------------------------------------------------------------------------------
# M. market-data backfill from the file provider
# ------------------------------------------------------------------------------------------------
def market(spec: dict) -> dict:
    from datetime import timedelta

    from sigmasight_onboarding.price_backfill import backfill_prices
    from sigmasight_onboarding.calendar import sessions_between
    from sigmasight_onboarding.resources.price_providers import build_provider_chain

    _settings, engine, _ = _settings_engine()
    as_of = date.fromisoformat(spec["as_of"])
    sessions = sessions_between(as_of - timedelta(days=int(spec.get("days", 730))), as_of)
    symbols = list(spec["symbols"])
    chain = build_provider_chain()
    t0, c0 = time.perf_counter(), time.process_time()
    first = backfill_prices(engine, chain, symbols, sessions)
    t_first, c_first = time.perf_counter() - t0, time.process_time() - c0
    t1 = time.perf_counter()
    second = backfill_prices(engine, chain, symbols, sessions)
    t_second = time.perf_counter() - t1
    return {
        "symbols": len(symbols),
        "sessions": len(sessions),
        "seconds": t_first,
        "cpu_s": c_first,
        "rows_added": first["rows_added"],
        "provider_calls": first["provider_calls"],
        "failures": len(first["failures"]),
        "gaps_recorded": first["gaps_recorded"],
        "second_run_s": t_second,
        "second_run_provider_calls": second["provider_calls"],
        "second_run_rows_added": second["rows_added"],
        "providers": chain.describe(),
    }


def price_path(spec: dict) -> dict:
    """P: the columnar price path at full size — file provider -> onb_prices (one backfill), then the
    session × symbol matrix read back (`read_price_matrix`), twice."""
    from datetime import timedelta

    import sigmasight_onboarding.price_backfill as amd  # store_prices is looked up there at call time
    from sigmasight_onboarding.calendar import sessions_between
    from sigmasight_onboarding.db.price_cache import read_price_matrix
    from sigmasight_onboarding.resources.price_providers import build_provider_chain

    _settings, engine, _ = _settings_engine()
    as_of = date.fromisoformat(spec["as_of"])
    sessions = sessions_between(as_of - timedelta(days=int(spec.get("days", 730))), as_of)
    symbols = sorted(set(spec["symbols"]) | set(amd.reference_symbols()))
    chain = build_provider_chain()
    store = {"s": 0.0, "cpu": 0.0}
    original = amd.store_prices

    def timed_store(engine_, prices):
        t, c = time.perf_counter(), time.process_time()
        try:
            return original(engine_, prices)
        finally:
            store["s"] += time.perf_counter() - t
            store["cpu"] += time.process_time() - c

    amd.store_prices = timed_store
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        summary = amd.backfill_prices(engine, chain, symbols, sessions)
        t_write, c_write = time.perf_counter() - t0, time.process_time() - c0
    finally:
        amd.store_prices = original
    reads = []
    for _ in range(2):
        t1, c1 = time.perf_counter(), time.process_time()
        matrix, _synthetic = read_price_matrix(engine, symbols, sessions)
        reads.append((time.perf_counter() - t1, time.process_time() - c1))
        cells = int(matrix.notna().to_numpy().sum())
        del matrix
    return {
        "symbols": len(symbols), "sessions": len(sessions), "rows_added": summary["rows_added"],
        "provider_calls": summary["provider_calls"], "failures": len(summary["failures"]),
        "write_s": t_write, "write_cpu_s": c_write, "store_s": store["s"], "store_cpu_s": store["cpu"],
        "read_s": reads[0][0], "read_cpu_s": reads[0][1], "read2_s": reads[1][0], "read2_cpu_s": reads[1][1], "cells": cells,
    }


# ------------------------------------------------------------------------------------------------
# B. engines
# ------------------------------------------------------------------------------------------------
def engines(spec: dict) -> dict:
    from bench.engines import run_engines

    return run_engines(int(spec["positions"]), baseline=spec.get("baseline", True), budget=float(spec.get("budget", 60)))


# ------------------------------------------------------------------------------------------------
# D / E. time series (not written yet by the lead: discovered at run time)
# ------------------------------------------------------------------------------------------------
def find_timeseries(defs=None):
    """(job, how) for the time-series assets, or (None, reason).

    Looks for a job named ``backfill_timeseries``; else builds an in-process job over the assets
    of group ``timeseries``. TODO(lead API): if the job is named differently or the group is not
    ``timeseries``, adjust TIMESERIES_JOB / TIMESERIES_GROUP.
    """
    from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

    if defs is None:
        from sigmasight_onboarding.definitions import defs
    try:
        return defs.resolve_job_def(TIMESERIES_JOB), f"job {TIMESERIES_JOB}"
    except Exception:
        pass
    graph = defs.resolve_asset_graph()
    keys = [k for k in graph.get_all_asset_keys() if graph.get(k).group_name == TIMESERIES_GROUP]
    if not keys:
        return None, f"no job {TIMESERIES_JOB!r} and no asset in group {TIMESERIES_GROUP!r} in definitions"
    merged = Definitions.merge(
        defs,
        Definitions(jobs=[define_asset_job("bench_timeseries", selection=AssetSelection.assets(*keys),
                                           executor_def=in_process_executor)]),
    )
    return merged.resolve_job_def("bench_timeseries"), f"group {TIMESERIES_GROUP} ({len(keys)} assets)"


def _setup_client(folder: Path, instance, full_run: bool) -> str:
    """Create a client for D/E setup: a full onboarding run, or the fast path (write_client only)."""
    from sigmasight_onboarding.config import Settings
    from sigmasight_onboarding.db.engine import get_engine
    from sigmasight_onboarding.db.onboarding_writer import write_client
    from sigmasight_onboarding.drops.reader import read_drop

    settings = Settings.from_env()
    drop = read_drop(folder, settings)
    if full_run:
        from sigmasight_onboarding.cli import run_onboarding

        res = run_onboarding(drop.client.key, instance)
        if not res.success:
            raise RuntimeError(f"setup onboarding of {drop.client.key} failed: {_run_summary(res, instance)['failures']}")
    else:
        write_client(get_engine(settings.database_url), drop, settings, actor="bench-setup")
    return drop.client.key


def backfill_timeseries(spec: dict) -> dict:
    """D: one 100-position client (onboarded in setup, cache pre-filled), then the last ``sessions``
    sessions up to the as-of date as ONE range run of ``backfill_timeseries`` (what
    ``sigmasight backfill`` / ``cli.run_timeseries`` do; the same single-run range an asset backfill
    launches). Measured, never extrapolated. With ``dagster_home`` the instance is an on-disk one configured
    by the project's dagster.yaml (what dagster dev and the daemon use) instead of an in-memory one."""
    import dagster

    from bench.cache_warm import warm_cache as _warm
    from sigmasight_onboarding.price_backfill import reference_symbols
    from sigmasight_onboarding.calendar import last_sessions
    from sigmasight_onboarding.cli import run_timeseries

    job, how = find_timeseries()
    if job is None:
        return {"available": False, "reason": how}
    settings, engine, _ = _settings_engine()
    if spec.get("dagster_home"):  # events in Dagster's on-disk storage, configured by the project's dagster.yaml
        from sigmasight_onboarding.instance_config import ensure_instance_config

        home = Path(spec["dagster_home"])
        ensure_instance_config(home)  # installs the project's dagster.yaml (the bench's home is new each run)
        instance = dagster.DagsterInstance.from_config(str(home))
        how = how + f", events in {type(instance.event_log_storage).__name__} on disk"
    else:
        instance = ephemeral_instance()
    folder = Path(spec["folder"])
    as_of = date.fromisoformat(spec["as_of"])
    # Setup as after a normal onboarding: the 730-day window cached. Older history that the risk
    # look-back needs is fetched by the time-series run itself (inside the timed section).
    _warm(engine, sorted(_drop_symbols(folder) | set(reference_symbols())), _window(settings))
    key = _setup_client(folder, instance, full_run=True)  # onboarding incl. analytics (upstream of the time series)
    days = last_sessions(as_of, int(spec["sessions"]))
    t0, c0 = time.perf_counter(), time.process_time()
    results = run_timeseries(key, days, instance)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    failed = [r for _b, r in results if not r.success]
    return {"available": True, "how": how + f", {len(results)} range run(s)", "planned": len(days), "unit": "sessions",
            "seconds": elapsed, "measured_s": elapsed, "cpu_s": cpu, "done": len(days), "extrapolated": False,
            "first_run_s": elapsed, "later_mean_s": None, "failed_runs": len(failed),
            "first_failure": _run_summary(failed[0], instance) if failed else None,
            "per_run_s": [round(elapsed, 3)]}


def _setup_refresh(spec: dict, instance, engine) -> tuple[list[str], date, float]:
    """E's untimed setup: the clients of ``spec['folders']`` written by the fast path as of the session before
    ``spec['as_of']`` (their `clients` partitions added to `instance`), the price cache filled up to that session;
    then SIGMASIGHT_AS_OF is the new session. Returns (client keys, the new session, setup seconds)."""
    import os

    from bench.cache_warm import warm_cache as _warm
    from sigmasight_onboarding.calendar import previous_session, sessions_between
    from sigmasight_onboarding.price_backfill import reference_symbols

    as_of = date.fromisoformat(spec["as_of"])
    yesterday = previous_session(as_of)
    t_setup = time.perf_counter()
    os.environ["SIGMASIGHT_AS_OF"] = yesterday.isoformat()
    keys = [_setup_client(Path(f), instance, full_run=False) for f in spec["folders"]]
    instance.add_dynamic_partitions("clients", [k for k in keys if not instance.has_dynamic_partition("clients", k)])
    _warm(engine, sorted(set(spec["symbols"]) | set(reference_symbols())), sessions_between(date(2022, 1, 3), yesterday))
    os.environ["SIGMASIGHT_AS_OF"] = as_of.isoformat()  # the new session
    return keys, as_of, time.perf_counter() - t_setup


def daily_refresh(spec: dict) -> dict:
    """E: ``clients`` clients of 30 positions, set up by the fast path (write_client; price cache
    filled up to the PREVIOUS session by the bench loader). Then, timed, the new session arrives
    (SIGMASIGHT_AS_OF = the as-of date) and the runs the automation requests are executed in process:
    what ``daily_refresh_schedule`` requests (one ``daily_refresh`` run per SIGMASIGHT_BATCH_CLIENTS
    consecutive clients: prices + analytics for the range of clients), then what
    ``onboarding_timeseries_sensor`` requests once they are done (``missing_timeseries_requests`` with
    the last 1 session: one ``backfill_timeseries`` run for the clients × the new session). Measured,
    never extrapolated."""
    from sigmasight_onboarding.config import get_settings
    from sigmasight_onboarding.definitions import defs
    from sigmasight_onboarding.partitions import client_batches, client_range_tags
    from sigmasight_onboarding.sensors import missing_timeseries_requests

    job, how = find_timeseries()
    if job is None:
        return {"available": False, "reason": how}
    refresh = defs.resolve_job_def("daily_refresh")
    settings, engine, _ = _settings_engine()
    instance = ephemeral_instance()
    keys, as_of, setup_s = _setup_refresh(spec, instance, engine)
    run_config = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    runs = []

    def execute(job_def, tags, partition_key=None, label=""):
        t = time.perf_counter()
        result = job_def.execute_in_process(instance=instance, tags=tags, partition_key=partition_key,
                                            raise_on_error=False, run_config=run_config)
        runs.append({"job": label, "seconds": time.perf_counter() - t, "success": bool(result.success),
                     **({} if result.success else {"failures": _run_summary(result, instance)["failures"]})})

    t0, c0 = time.perf_counter(), time.process_time()
    for batch in client_batches(keys, get_settings().batch_clients):  # what daily_refresh_schedule requests
        execute(refresh, client_range_tags(batch), batch[0] if len(batch) == 1 else None, f"daily_refresh ×{len(batch)}")
    refresh_s = time.perf_counter() - t0
    requests, notes = missing_timeseries_requests(instance, sessions=1, as_of=as_of)  # what the sensor then requests
    for request in requests:
        execute(job, request.tags, None, f"backfill_timeseries {request.tags.get('sigmasight/clients', '')}")
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    failed = [r for r in runs if not r["success"]]
    return {"available": True, "how": f"{len(runs)} run(s): " + ", ".join(r["job"].split(" ")[0] + f" {r['seconds']:.1f} s" for r in runs[:4]),
            "planned": len(keys), "unit": "clients", "seconds": elapsed, "measured_s": elapsed, "cpu_s": cpu,
            "done": len(keys), "extrapolated": False, "first_run_s": None, "later_mean_s": None,
            "failed_runs": len(failed), "first_failure": failed[0] if failed else None, "setup_s": setup_s,
            "refresh_s": round(refresh_s, 3), "timeseries_s": round(elapsed - refresh_s, 3),
            "sensor_notes": notes[:3], "per_run_s": [round(r["seconds"], 3) for r in runs[:6]]}


def probe_timeseries(spec: dict) -> dict:
    job, how = find_timeseries()
    return {"available": job is not None, "reason": how}


def preflight_ingest(spec: dict) -> dict:
    from bench.big_drop import preflight_ingest as run

    _settings_engine()  # migrate first (not timed)
    return run(spec)


def daily_refresh_parallel(spec: dict) -> dict:
    """E as the deployment runs it: the same clients and new session as `daily_refresh`, on an on-disk Dagster
    instance (``spec['dagster_home']``, the project's dagster.yaml: the storage `dagster dev` and the daemon use).
    Timed: the runs ``daily_refresh_schedule`` requests (the clients spread over SIGMASIGHT_PARALLEL_RUNS runs,
    `partitions.client_batches`), each in a process of its own started side by side as the run queue starts them
    (at most its ``max_concurrent_runs``; `bench/run_process.py`: a new interpreter that loads the code location,
    as Dagster's run launcher starts one), then likewise the runs ``onboarding_timeseries_sensor`` requests once
    they are done. Process starts and imports are inside the clock. Measured, never extrapolated."""
    import json
    import os
    import subprocess
    import sys

    import dagster

    from sigmasight_onboarding.config import get_settings
    from sigmasight_onboarding.instance_config import ensure_instance_config
    from sigmasight_onboarding.partitions import client_batches, client_range_tags
    from sigmasight_onboarding.sensors import missing_timeseries_requests

    settings, engine, _ = _settings_engine()
    home = Path(spec["dagster_home"])
    ensure_instance_config(home)
    os.environ["DAGSTER_HOME"] = str(home)
    instance = dagster.DagsterInstance.from_config(str(home))
    slots = instance.run_coordinator.get_run_queue_config().max_concurrent_runs
    keys, as_of, setup_s = _setup_refresh(spec, instance, engine)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    runs: list[dict] = []

    def side_by_side(job: str, requests: list[tuple[dict, str | None]]) -> None:
        """Every request as a run process, at most `slots` at a time (the run queue's limit)."""
        waiting, running = list(requests), []
        while waiting or running:
            while waiting and len(running) < max(1, slots):
                tags, key = waiting.pop(0)
                proc = subprocess.Popen([sys.executable, "-m", "bench.run_process", job, json.dumps(tags), key or ""],
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                running.append((proc, time.perf_counter(), tags))
            proc, started, tags = running.pop(0)
            out, _ = proc.communicate()
            line = (out.strip().splitlines() or ["{}"])[-1]
            try:
                info = json.loads(line)
            except ValueError:
                info = {}
            runs.append({"job": f"{job} {tags.get('sigmasight/clients', '')}", "seconds": time.perf_counter() - started,
                         "success": proc.returncode == 0, "import_s": info.get("import_s")})

    t0, c0 = time.perf_counter(), time.process_time()
    batches = client_batches(keys, get_settings().batch_clients, runs=get_settings().parallel_runs)  # what the schedule requests
    side_by_side("daily_refresh", [(client_range_tags(b), b[0] if len(b) == 1 else None) for b in batches])
    refresh_s = time.perf_counter() - t0
    requests, notes = missing_timeseries_requests(instance, sessions=1, as_of=as_of)  # what the sensor then requests
    side_by_side(TIMESERIES_JOB, [(dict(r.tags), None) for r in requests])
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    failed = [r for r in runs if not r["success"]]
    imports = [r["import_s"] for r in runs if r.get("import_s") is not None]
    return {"available": True,
            "how": f"{len(runs)} run process(es), at most {slots} side by side: "
                   + ", ".join(r["job"].split(" ")[0] + f" {r['seconds']:.1f} s" for r in runs[:6])
                   + (f"; imports {min(imports):.1f}-{max(imports):.1f} s a process" if imports else ""),
            "planned": len(keys), "unit": "clients", "seconds": elapsed, "measured_s": elapsed, "cpu_s": cpu,
            "done": len(keys), "extrapolated": False, "first_run_s": None, "later_mean_s": None,
            "failed_runs": len(failed), "first_failure": failed[0] if failed else None, "setup_s": setup_s,
            "refresh_s": round(refresh_s, 3), "timeseries_s": round(elapsed - refresh_s, 3),
            "sensor_notes": notes[:3], "per_run_s": [round(r["seconds"], 3) for r in runs[:8]]}


KINDS = {
    "preflight_ingest": preflight_ingest,
    "price_path": price_path,
    "onboard": onboard,
    "warm_cache": warm_cache,
    "ingest": ingest,
    "market": market,
    "engines": engines,
    "backfill_timeseries": backfill_timeseries,
    "daily_refresh": daily_refresh,
    "daily_refresh_parallel": daily_refresh_parallel,
    "probe_timeseries": probe_timeseries,
}
