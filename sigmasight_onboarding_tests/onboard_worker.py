"""Child-process entry points for the concurrency tests (no assertions, no test logic here).

Each child onboards drops the way the pipeline does, with the real code and a real database:
`read_drop` → `write_client` (one transaction) → `backfill_prices` through the configured
provider chain. Children are started with multiprocessing (forkserver, this module preloaded, so
a child costs a fork instead of a fresh interpreter importing Dagster and pandas) and get their
environment explicitly: a forkserver child would otherwise see the environment of the moment the
forkserver started, not the test's.
"""

from __future__ import annotations

import os
import time
import traceback
from datetime import date
from pathlib import Path

# Imported at module level on purpose: the forkserver preloads this module once.
from sigmasight_onboarding.price_backfill import backfill_prices
from sigmasight_onboarding.calendar import sessions_between
from sigmasight_onboarding.config import get_settings
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.price_cache import window_start
from sigmasight_onboarding.db.onboarding_writer import write_client
from sigmasight_onboarding.drops.reader import read_drop
from sigmasight_onboarding.resources.price_providers import build_provider_chain
from sigmasight_onboarding.resources.market_data_resource import resolve_as_of

# Warm the NYSE calendar (an lru_cache) once in the forkserver: every forked child shares it.
sessions_between(date(2026, 1, 2), date(2026, 1, 9))


def price_symbols_of(drop) -> list[str]:
    """Equities and option underlyings of a validated drop (what price_history asks for)."""
    frame = drop.positions
    options = frame["position_type"].isin(["LC", "LP", "SC", "SP"])
    syms = set(frame.loc[~options, "symbol"]) | set(frame.loc[options, "underlying_symbol"].dropna())
    return sorted(syms)


def onboard_one(folder: str, actor: str) -> dict:
    """Onboard one drop folder: account + positions in one transaction, then its prices."""
    settings = get_settings()
    engine = get_engine(settings.database_url)
    drop = read_drop(Path(folder), settings)
    began = time.time()
    result = write_client(engine, drop, settings, actor=actor)
    written = time.time()
    as_of = resolve_as_of(settings)
    sessions = sessions_between(window_start(as_of, settings.price_lookback_days), as_of)
    summary = backfill_prices(engine, build_provider_chain(settings), price_symbols_of(drop), sessions)
    return {
        "folder": folder,
        "email": drop.client.email,
        "began": began,
        "written": written,
        "ended": time.time(),
        "inserted": result.positions_inserted,
        "unchanged": result.positions_unchanged,
        "user_created": result.user_created,
        "rows_added": summary["rows_added"],
        "provider_calls": summary["provider_calls"],
        "failures": dict(summary["failures"]),
    }


def worker(env: dict, folders: list[str], start_barrier, slots, results) -> None:
    """Process body: take the environment, wait for every sibling, onboard `folders` in turn.

    `slots` (a semaphore or None) bounds how many children talk to the database at once (keeps
    PostgreSQL connections below max_connections). Every outcome — success or traceback — goes
    to `results`; the exit code is 1 when anything failed.
    """
    os.environ.update(env)
    failed = False
    try:
        start_barrier.wait(timeout=120)
    except Exception:  # pragma: no cover - a sibling died before the start
        results.put({"folder": None, "error": "start barrier broken:\n" + traceback.format_exc()})
        raise SystemExit(1)
    for folder in folders:
        if slots is not None:
            slots.acquire()
        try:
            results.put(onboard_one(folder, actor=f"concurrency-test pid {os.getpid()}"))
        except BaseException:
            failed = True
            results.put({"folder": folder, "error": traceback.format_exc()})
        finally:
            if slots is not None:
                slots.release()
    raise SystemExit(1 if failed else 0)
