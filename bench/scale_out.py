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
            t0 = time.monotonic()
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
            finally:
                if old is None:
                    os.environ.pop("DAGSTER_PG_URL", None)
                else:
                    os.environ["DAGSTER_PG_URL"] = old
    times = sorted(ready_at.values())
    half = times[len(times) // 2]
    steady = (len(times) - 1 - len(times) // 2) / (times[-1] - half) * 60 if times[-1] > half else None
    return {"clients": clients, "workers": workers, "positions": positions, "sessions": sessions, "seconds": total, "per_min": clients / total * 60,
            "steady_per_min": steady, "first_ready_s": times[0], "runs": runs, "failed_runs": failed}


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
    if 1 in by_w and 2 in by_w:
        r1, r2 = by_w[1]["per_min"], by_w[2]["per_min"]
        ratio = r2 / r1
        lines += ["", f"**Ratio 2 workers / 1 worker: {ratio:.2f}×** (target ≥ 1.6× for the CPU-bound part; "
                  f"{'met' if ratio >= 1.6 else 'NOT met'})", "",
                  "Projected time for 10,000 clients (1-worker rate × N × the measured 2-worker efficiency):", "",
                  "| workers | hours |", "|---|---|"]
        lines += [f"| {n} | {h:,.1f} |" for n, h in projection(r1, r2)]
    return "\n".join(lines) + "\n"
