"""Scenario F (issue 14): clients onboarded end to end through the daemon on Celery workers.

The deployment of `deploy/` on this machine (sigmasight_onboarding_tests/scale_out_cluster.py,
the harness of the scale-out e2e test): `dagster-daemon run` + W `dagster-celery worker` processes
(concurrency 1 each, RabbitMQ broker, Redis results), Dagster storage and the SigmaSight database
on throw-away PostgreSQL databases, the three sensors on. N small clients (4 stocks each) are
dropped at once; the clock runs from the drop to the last client READY (verification passed).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path


def book(i: int, positions: int, symbols: list[str] | None):
    """Client i's rows: the e2e test's small book (4 of 30 large caps) or `positions` distinct
    symbols of `symbols` (the bench universe), quantities unique per client."""
    from sigmasight_onboarding_tests.scale_out_cluster import small_book

    if symbols is None:
        return small_book(i, positions)
    picks = list(dict.fromkeys(symbols[(i * 97 + k * 13) % len(symbols)] for k in range(positions)))
    return [(sym, 10 + i + k, f"{50 + k % 50}.{i % 100:02d}") for k, sym in enumerate(picks)]


def run_f(clients: int, workers: int, sessions: int = 3, say=print, timeout: float = 3600, positions: int = 4,
          symbols: list[str] | None = None) -> dict:
    import os

    from dagster import DagsterInstance, DagsterRunStatus

    from sigmasight_onboarding_tests.scale_out_cluster import ScaleOutCluster, client_email, write_small_drop

    with tempfile.TemporaryDirectory(prefix=f"bench-f-{workers}w-") as tmp:
        cluster = ScaleOutCluster(Path(tmp), workers=workers, sessions=sessions)
        with cluster:
            cluster.start_daemon()
            cluster.switch_automation_on()
            cluster.wait_workers_ready()
            emails = [client_email(i, "bench") for i in range(clients)]
            t0, t0_wall = time.monotonic(), time.time()
            for i, email in enumerate(emails):
                write_small_drop(cluster.imports, email, book(i, positions, symbols))
            ready_at: dict[str, float] = {}
            while len(ready_at) < clients:
                for email, state in cluster.states([e for e in emails if e not in ready_at]).items():
                    if state == "READY":
                        ready_at[email] = time.monotonic() - t0
                    elif state == "REJECTED":
                        raise RuntimeError(f"{email} rejected\n" + cluster.diagnostics())
                cluster.check_alive()
                if time.monotonic() - t0 > timeout:
                    raise TimeoutError(f"{clients - len(ready_at)} clients not READY after {timeout:.0f} s")
                time.sleep(1)
            total = max(ready_at.values())
            old = os.environ.get("DAGSTER_PG_URL")
            os.environ["DAGSTER_PG_URL"] = cluster.dagster_pg_url
            try:
                with DagsterInstance.from_config(str(cluster.home)) as instance:
                    cluster.wait_runs_finished(instance, timeout=300)
                    records = instance.get_run_records()
                    runs = len(records)
                    failed = sum(r.dagster_run.status != DagsterRunStatus.SUCCESS for r in records)
                    timeline = run_timeline(records, t0_wall, instance)
            finally:
                if old is None:
                    os.environ.pop("DAGSTER_PG_URL", None)
                else:
                    os.environ["DAGSTER_PG_URL"] = old
    times = sorted(ready_at.values())
    half = times[len(times) // 2]
    steady = (len(times) - 1 - len(times) // 2) / (times[-1] - half) * 60 if times[-1] > half else None
    return {"clients": clients, "workers": workers, "positions": positions, "sessions": sessions, "seconds": total, "per_min": clients / total * 60,
            "steady_per_min": steady, "first_ready_s": times[0], "runs": runs, "failed_runs": failed, "timeline": timeline}


def run_timeline(records, t0_wall: float, instance=None) -> dict:
    """Where the wall time of an F measurement went, from Dagster's run records (seconds since the drop): per
    job the runs' count, their summed run time (start → end: a run waits in the Celery queue while another run's
    step holds the worker, so these overlap) and their summed step time (each step's start → end on a worker:
    what the workers spent on that job); the time at least one run was in flight (union of the runs' intervals)
    and the time none was before the last one ended (sensors, run queue, run-process start)."""
    spans, per_job, listed = [], {}, []
    for r in records:
        if r.start_time is None or r.end_time is None:
            continue
        start, end = r.start_time - t0_wall, r.end_time - t0_wall
        spans.append((start, end))
        listed.append((r.dagster_run.job_name, round(r.create_timestamp.timestamp() - t0_wall, 1), round(start, 1), round(end, 1)))
        job = per_job.setdefault(r.dagster_run.job_name, {"runs": 0, "run_s": 0.0, "step_s": 0.0, "steps": 0,
                                                          "first_start_s": start, "last_end_s": end})
        job["runs"] += 1
        job["run_s"] += end - start
        if instance is not None:  # the steps' own time on a worker (start → end of each step)
            for stat in instance.get_run_step_stats(r.dagster_run.run_id):
                if stat.start_time and stat.end_time:
                    job["step_s"] += stat.end_time - stat.start_time
                    job["steps"] += 1
        job["first_start_s"], job["last_end_s"] = min(job["first_start_s"], start), max(job["last_end_s"], end)
    busy, cursor = 0.0, 0.0
    for start, end in sorted(spans):
        start = max(start, cursor)
        if end > start:
            busy += end - start
            cursor = end
    last_end = max((e for _s, e in spans), default=0.0)
    return {"jobs": per_job, "executing_s": busy, "idle_s": max(last_end - busy, 0.0), "last_end_s": last_end,
            "runs": sorted(listed, key=lambda x: x[2])}  # (job, created, started, ended)


def projection(r1: float, r2: float, target: int = 10_000, workers=(1, 2, 4, 8, 16, 32)) -> list[tuple[int, float]]:
    """Hours for `target` clients on N workers: N × the 1-worker rate × the measured 2-worker efficiency
    (r2 / 2 r1, capped at 1) — valid while every worker has its own cores and the daemon, broker and
    PostgreSQL keep up (one daemon launched the runs of both measurements)."""
    eff = min(1.0, r2 / (2 * r1)) if r1 else 0.0
    out = []
    for n in workers:
        rate = r1 if n == 1 else r1 * n * eff  # clients per minute
        out.append((n, target / rate / 60 if rate else float("inf")))
    return out


def report(results: list[dict], load: str, cpus: int) -> str:
    by_w = {r["workers"]: r for r in results}
    lines = ["# Scenario F — clients end to end through the daemon on Celery workers (issue 14)", "",
             f"Machine: {cpus} CPUs shared with other work (1-min load {load}); RabbitMQ broker, Redis results, "
             "PostgreSQL for Dagster storage and the SigmaSight database; each worker `--concurrency=1`; "
             f"{results[0]['clients']} clients of {results[0].get('positions', 4)} stocks each, {results[0].get('sessions', 3)} sessions of time series "
             "(SIGMASIGHT_ONBOARD_SESSIONS); the clock runs from the drop to the last client READY.", "",
             "| workers | clients | seconds | clients/min | steady clients/min (2nd half) | first READY | runs (failed) |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        steady = f"{r['steady_per_min']:.2f}" if r["steady_per_min"] else "-"
        lines.append(f"| {r['workers']} | {r['clients']} | {r['seconds']:.0f} | {r['per_min']:.2f} | {steady} | "
                     f"{r['first_ready_s']:.0f} s | {r['runs']} ({r['failed_runs']}) |")
    timelines = [r for r in results if r.get("timeline")]
    if timelines:
        jobs = sorted({j for r in timelines for j in r["timeline"]["jobs"]})
        lines += ["", "Where the time went (Dagster's run records; seconds from the drop): *in flight* = some run was "
                  "between its start and its end, *none in flight* = before the last run ended, no run was (sensors, "
                  "run queue, run-process start); per job the summed step time on the workers (each step's start → "
                  "end), then the summed run time (start → end, overlapping: runs wait for a free worker) and the "
                  "runs.", "",
                  "| workers | last run ended | in flight | none in flight | " + " | ".join(jobs) + " |",
                  "|---|---|---|---|" + "---|" * len(jobs)]
        for r in timelines:
            t = r["timeline"]
            cells = [f"steps {t['jobs'][j].get('step_s', 0):.0f} s; runs {t['jobs'][j]['run_s']:.0f} s ({t['jobs'][j]['runs']})"
                     if j in t["jobs"] else "-" for j in jobs]
            lines.append(f"| {r['workers']} | {t['last_end_s']:.0f} s | {t['executing_s']:.0f} s | {t['idle_s']:.0f} s | "
                         + " | ".join(cells) + " |")
    if 1 in by_w and 2 in by_w:
        r1, r2 = by_w[1]["per_min"], by_w[2]["per_min"]
        ratio = r2 / r1
        lines += ["", f"**Ratio 2 workers / 1 worker: {ratio:.2f}×** (target ≥ 1.6× for the CPU-bound part; "
                  f"{'met' if ratio >= 1.6 else 'NOT met'})", "",
                  "Projected time for 10,000 clients (1-worker rate × N × the measured 2-worker efficiency):", "",
                  "| workers | hours |", "|---|---|"]
        lines += [f"| {n} | {h:,.1f} |" for n, h in projection(r1, r2)]
    return "\n".join(lines) + "\n"
