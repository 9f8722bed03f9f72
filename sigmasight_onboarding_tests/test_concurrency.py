"""Concurrent onboardings against one real database (PostgreSQL; SQLite with a busy timeout).

How the concurrency is produced (no mocks of our code anywhere):

* Many drops at once: one OS process per drop, started with multiprocessing's *forkserver*
  context with `onboard_worker` preloaded — each process is a real, separate process with its
  own engine and connections, but costs a fork instead of a 3 s interpreter start. Every process
  calls the pipeline's own `write_client` (one transaction) and then `backfill_prices` through the
  real provider chain (file provider on the shipped real prices), i.e. the same two steps the
  `onboard_client` job runs, minus the Dagster bookkeeping. All processes wait on a barrier and
  start together; on PostgreSQL a semaphore lets 25 of the 50 talk to the database at once
  (PostgreSQL's max_connections is 100 and other suites share the server), so ≥ 10 really run
  concurrently — the test measures and asserts the overlap.
* The same client twice at once: both through the real `sigmasight onboard` CLI in two
  subprocesses (PostgreSQL), and through two worker processes (both databases).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import random
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, inspect, select

from sigmasight_onboarding.calendar import sessions_between
from sigmasight_onboarding.config import SHIPPED_MARKET_DATA
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.price_cache import window_start
from sigmasight_onboarding.db.models import (
    MarketDataCache,
    OnboardingAuditLog,
    Portfolio,
    Position,
    PositionTag,
    Tag,
    User,
)

from .conftest import REPO, write_drop

AS_OF = date(2026, 8, 3)  # newest session of the shipped real prices
LOOKBACK_DAYS = 90
SESSIONS = sessions_between(window_start(AS_OF, LOOKBACK_DAYS), AS_OF)
# Overlapping real symbols of the shipped extract (every client draws from this pool).
POOL = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "JPM", "XOM", "KO", "PG", "TSLA", "V"]
TAGS = ["Core", "Growth", "Hedge", "Income"]
OPTIONS = [  # (OCC symbol, underlying, strike, expiry, type)
    ("SPY271217C00600000", "SPY", "600.00", "2027-12-17", "LC"),
    ("QQQ271217P00450000", "QQQ", "450.00", "2027-12-17", "LP"),
]


def client_rows(i: int) -> list[dict]:
    """3–8 positions of client i: overlapping pool equities, sometimes an option."""
    rng = random.Random(1000 + i)
    n = rng.randint(3, 8)
    n_opt = 1 if (i % 3 == 0 and n > 3) else 0
    rows = []
    for sym in rng.sample(POOL, n - n_opt):
        short = rng.random() < 0.2
        qty = rng.randint(1, 500) * (-1 if short else 1)
        rows.append({"symbol": sym, "quantity": qty, "price": f"{rng.uniform(20, 400):.2f}",
                     "type": "SHORT" if short else "LONG", "tags": sorted(rng.sample(TAGS, rng.randint(0, 2))),
                     "und": "", "strike": "", "exp": ""})
    for occ, und, strike, exp, typ in OPTIONS[: n_opt] if i % 2 else OPTIONS[1 : 1 + n_opt]:
        rows.append({"symbol": occ, "quantity": rng.randint(1, 20), "price": f"{rng.uniform(1, 30):.2f}", "type": typ,
                     "tags": ["Hedge"], "und": und, "strike": strike, "exp": exp})
    return rows


def write_client_drop(imports: Path, email: str, rows: list[dict]) -> Path:
    body = "".join(
        f'{r["symbol"]},{r["quantity"]},{r["price"]},{r["type"]},2024-01-15,"{",".join(r["tags"])}",'
        f'{r["und"]},{r["strike"]},{r["exp"]}\n'
        for r in rows
    )
    return write_drop(imports, email, body, {"full_name": f"Client {email.split('@')[0]}"})


def needed_symbols(rows_by_email: dict[str, list[dict]]) -> set[str]:
    return {r["und"] or r["symbol"] for rows in rows_by_email.values() for r in rows}


def child_env(env: dict) -> dict:
    """The complete environment a worker needs (set explicitly: forkserver children inherit the
    environment of the moment the forkserver started)."""
    return {
        "SIGMASIGHT_DATABASE_URL": env["db_url"],
        "SIGMASIGHT_IMPORTS_DIR": str(env["imports"]),
        "SIGMASIGHT_STATE_DIR": str(env["tmp"] / "state"),
        "SIGMASIGHT_BCRYPT_ROUNDS": "4",
        "SIGMASIGHT_PRICE_LOOKBACK_DAYS": str(LOOKBACK_DAYS),
        "SIGMASIGHT_AS_OF": AS_OF.isoformat(),
        "SIGMASIGHT_PROVIDERS": "file",
        "SIGMASIGHT_MARKET_DATA_FILE": str(SHIPPED_MARKET_DATA),
        "SIGMASIGHT_ENV": "development",
        "SIGMASIGHT_ALLOW_SYNTHETIC": "",
    }


def forkserver():
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["sigmasight_onboarding_tests.onboard_worker"])
    return ctx


def run_workers(env: dict, assignments: list[list[str]], slots: int | None, timeout: float = 240.0):
    """One process per entry of `assignments` (a list of drop folders each); all start together.

    Returns (results, exit codes). Fails the test when a process is still running at `timeout`
    (a deadlock or hang) — after killing the stragglers.
    """
    from sigmasight_onboarding_tests.onboard_worker import worker

    ctx = forkserver()
    barrier = ctx.Barrier(len(assignments))
    sem = ctx.BoundedSemaphore(slots) if slots else None
    results_q = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(child_env(env), folders, barrier, sem, results_q), daemon=True)
             for folders in assignments]
    for p in procs:
        p.start()
    expected = sum(len(f) for f in assignments)
    results: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(results) < expected and time.monotonic() < deadline:
        try:
            results.append(results_q.get(timeout=0.5))
        except queue.Empty:
            if all(not p.is_alive() for p in procs) and results_q.empty():
                break
    hung = []
    for p in procs:
        p.join(timeout=max(0.1, deadline - time.monotonic()))
        if p.is_alive():
            hung.append(p.pid)
            p.kill()
            p.join()
    assert not hung, f"{len(hung)} onboarding process(es) still running after {timeout:.0f} s: deadlock or hang"
    return results, [p.exitcode for p in procs]


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """Largest number of [start, end] intervals covering one instant."""
    events = sorted([(s, 1) for s, _e in intervals] + [(e, -1) for _s, e in intervals], key=lambda x: (x[0], x[1]))
    best = cur = 0
    for _t, step in events:
        cur += step
        best = max(best, cur)
    return best


def stored_positions(url: str) -> dict[str, dict[str, tuple]]:
    """email -> symbol -> (quantity, type, active, tags) read back from the database."""
    engine = get_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(User.email, Position.id, Position.symbol, Position.quantity, Position.position_type, Position.deleted_at)
            .join(Portfolio, Portfolio.user_id == User.id).join(Position, Position.portfolio_id == Portfolio.id)
        ).all()
        links = conn.execute(select(PositionTag.position_id, Tag.name).join(Tag, Tag.id == PositionTag.tag_id)).all()
    tags = defaultdict(list)
    for pid, name in links:
        tags[pid].append(name)
    out: dict[str, dict[str, tuple]] = defaultdict(dict)
    for email, pid, sym, qty, typ, deleted in rows:
        out[email][sym] = (int(qty), getattr(typ, "value", typ), deleted is None, sorted(tags[pid]))
    return out


def assert_prices_clean(url: str, symbols: set[str]) -> int:
    """Every needed symbol has every session exactly once, labelled 'file', equal to the real data."""
    engine = get_engine(url)
    assert inspect(engine).get_pk_constraint("onb_prices")["constrained_columns"] == ["symbol", "date"]
    with engine.connect() as conn:
        dups = conn.execute(
            select(MarketDataCache.symbol, MarketDataCache.date, func.count())
            .group_by(MarketDataCache.symbol, MarketDataCache.date).having(func.count() > 1)
        ).all()
        rows = conn.execute(select(MarketDataCache.symbol, MarketDataCache.date, MarketDataCache.adj_close,
                                   MarketDataCache.data_source)).all()
    assert dups == [], f"duplicate (symbol, date) rows: {dups[:5]}"
    stored = pd.DataFrame(rows, columns=["symbol", "date", "adj_close", "data_source"])
    assert set(stored["data_source"]) == {"file"}
    assert stored["adj_close"].notna().all()
    truth = pd.read_parquet(SHIPPED_MARKET_DATA, filters=[("symbol", "in", sorted(symbols))])
    truth = truth[(truth["date"] >= SESSIONS[0]) & (truth["date"] <= SESSIONS[-1])]
    merged = stored.merge(truth, on=["symbol", "date"], how="outer", suffixes=("", "_truth"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head()
    assert (merged["adj_close"] - merged["adj_close_truth"]).abs().max() < 1e-9
    per_symbol = stored.groupby("symbol").size()
    assert set(per_symbol.index) == symbols
    assert (per_symbol == len(SESSIONS)).all(), per_symbol[per_symbol != len(SESSIONS)]
    return len(stored)


@pytest.mark.slow
def test_many_drops_onboarded_concurrently(env, capsys):
    """PostgreSQL: 50 drops in 50 processes (25 at a time on the database); SQLite: 16 drops in 8."""
    pg = env["db_url"].startswith("postgresql")
    n_clients, n_procs = (50, 50) if pg else (16, 8)
    rows_by_email = {f"client{i:02d}@concurrency.example.com": client_rows(i) for i in range(n_clients)}
    folders = [str(write_client_drop(env["imports"], email, rows)) for email, rows in rows_by_email.items()]
    assignments = [folders[k::n_procs] for k in range(n_procs)]

    t0 = time.monotonic()
    results, codes = run_workers(env, assignments, slots=25 if pg else None)
    elapsed = time.monotonic() - t0
    errors = [r["error"] for r in results if "error" in r]
    assert not errors, errors[0]
    assert codes == [0] * n_procs, codes
    assert len(results) == n_clients
    overlap = max_overlap([(r["began"], r["ended"]) for r in results])
    assert overlap >= (10 if pg else 4), f"only {overlap} onboardings overlapped in time"
    assert all(r["failures"] == {} for r in results)

    # every client exactly once, with exactly its positions and tags
    engine = get_engine(env["db_url"])
    with engine.connect() as conn:
        n_users = conn.execute(select(func.count()).select_from(User)).scalar_one()
        n_portfolios = conn.execute(select(func.count()).select_from(Portfolio)).scalar_one()
        audit = conn.execute(select(OnboardingAuditLog.client_email, OnboardingAuditLog.action,
                                    OnboardingAuditLog.outcome)).all()
    assert (n_users, n_portfolios) == (n_clients, n_clients)
    stored = stored_positions(env["db_url"])
    assert set(stored) == set(rows_by_email)
    for email, rows in rows_by_email.items():
        want = {r["symbol"]: (r["quantity"], r["type"], True, r["tags"]) for r in rows}
        assert stored[email] == want, email
    assert sorted(audit) == sorted((e, "onboard", "success") for e in rows_by_email)

    # shared prices: each (symbol, session) stored once, truthfully labelled, equal to the real data
    symbols = needed_symbols(rows_by_email)
    n_prices = assert_prices_clean(env["db_url"], symbols)
    assert sum(r["rows_added"] for r in results) == n_prices  # no row counted (inserted) twice
    with capsys.disabled():
        print(f"\n[concurrency {'postgresql' if pg else 'sqlite'}] {n_clients} drops in {n_procs} processes, "
              f"max {overlap} overlapping, {elapsed:.1f} s; {n_users} users, "
              f"{sum(len(v) for v in stored.values())} positions, {n_prices} price rows for {len(symbols)} shared symbols")


def test_same_client_in_several_processes_at_once_is_onboarded_once(env):
    """Four clients, each dropped into two worker processes at the same instant."""
    rows_by_email = {f"twice{i}@concurrency.example.com": client_rows(100 + i) for i in range(4)}
    folders = [str(write_client_drop(env["imports"], email, rows)) for email, rows in rows_by_email.items()]
    results, codes = run_workers(env, [[f] for f in folders] * 2, slots=None)
    errors = [r["error"] for r in results if "error" in r]
    assert not errors, errors[0]
    assert codes == [0] * 8
    by_email = defaultdict(list)
    for r in results:
        by_email[r["email"]].append(r)
    for email, rows in rows_by_email.items():
        pair = sorted(by_email[email], key=lambda r: r["inserted"])
        # exactly one process created the client; the other found it complete and changed nothing
        assert [r["user_created"] for r in pair] == [False, True]
        assert [(r["inserted"], r["unchanged"]) for r in pair] == [(0, len(rows)), (len(rows), 0)]
    stored = stored_positions(env["db_url"])
    assert {e: len(v) for e, v in stored.items()} == {e: len(r) for e, r in rows_by_email.items()}
    with get_engine(env["db_url"]).connect() as conn:
        actions = sorted(conn.execute(select(OnboardingAuditLog.action)).scalars())
    assert actions == ["onboard"] * 4 + ["re-run (no change)"] * 4
    assert_prices_clean(env["db_url"], needed_symbols(rows_by_email))


@pytest.mark.slow
@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_same_client_twice_at_once_through_the_cli(env):
    """Two real `sigmasight onboard` processes for one client at the same time (PostgreSQL;
    SQLite is covered by the worker variant above)."""
    email = "same.time@concurrency.example.com"
    rows = client_rows(7)
    folder = write_client_drop(env["imports"], email, rows)
    cmd = [sys.executable, "-m", "sigmasight_onboarding.cli", "onboard", str(folder), "--sessions", "0"]
    procs = [subprocess.Popen(cmd, cwd=REPO, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, out + err
    lines = sorted(next(l for l in out.splitlines() if l.startswith("positions:")) for out, _err in outs)
    n = len(rows)
    assert lines == [f"positions:     {n} (inserted 0, updated 0, soft-deleted 0, unchanged {n})",
                     f"positions:     {n} (inserted {n}, updated 0, soft-deleted 0, unchanged 0)"]
    assert {e: len(v) for e, v in stored_positions(env["db_url"]).items()} == {email: n}
    with get_engine(env["db_url"]).connect() as conn:
        assert conn.execute(select(func.count()).select_from(User)).scalar_one() == 1
        actions = sorted(conn.execute(select(OnboardingAuditLog.action)).scalars())
        dups = conn.execute(select(func.count()).select_from(
            select(MarketDataCache.symbol, MarketDataCache.date).group_by(MarketDataCache.symbol, MarketDataCache.date)
            .having(func.count() > 1).subquery())).scalar_one()
    assert actions == ["onboard", "re-run (no change)"]
    assert dups == 0
