"""The market-data facts the pre-flight needs, and the pre-flight of a drop end to end.

`market_facts` reads the last 90 sessions of every symbol the drop needs plus the reference series
from the shared price cache and asks the provider chain only for what the cache lacks; it stores
nothing (price_history stores the whole window after the client write, in one backfill). `preflight_drop` runs the pure rules of
`drops.preflight` on top and raises `DropValidationError` with every problem, before any client
row is written.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from sigmasight_onboarding.calendar import last_sessions
from sigmasight_onboarding.config import Settings
from sigmasight_onboarding.db.price_cache import read_price_matrix
from sigmasight_onboarding.drops.preflight import (
    COVERAGE_SESSIONS,
    MIN_COVERAGE,
    MarketFacts,
    alias_spellings,
    needed_symbols,
    preflight,
)
from sigmasight_onboarding.drops.problems import DropValidationError
from sigmasight_onboarding.drops.reader import ClientDrop



def market_facts(engine: Engine, chain, symbols: list[str], reference: list[str], as_of: date,
                 lookback_days: int = 730) -> MarketFacts:
    """Coverage of the last COVERAGE_SESSIONS sessions per symbol: from the shared cache, and for what
    the cache lacks from the provider chain — read only: the pre-flight writes nothing (price_history
    stores the window after the client write, in one backfill, as before)."""
    sessions = last_sessions(as_of, COVERAGE_SESSIONS)
    wanted = sorted(set(symbols) | set(reference))
    providers = tuple(chain.describe()) if hasattr(chain, "describe") else ()
    cached = read_price_matrix(engine, wanted, sessions)[0]  # columnar: no row objects for big books
    session_set = set(sessions)
    frames = [_long(cached)]
    cov = {s: float(n) / len(sessions) for s, n in cached.notna().sum().items()}
    failures: dict[str, str] = {}
    missing = [s for s in wanted if cov[s] < MIN_COVERAGE]
    if missing:  # a provider call is needed: is the chain reachable at all?
        cause = probe_outage(chain, sessions[-5:])
        if cause is not None:
            return MarketFacts(as_of=as_of, coverage=dict.fromkeys(wanted, 0.0), failures=dict.fromkeys(wanted, cause),
                               providers=providers)
        fetched = chain.daily_prices(missing, sessions[0], sessions[-1])
        failures.update(fetched.failures)
        frames.append(fetched.prices[fetched.prices["date"].isin(session_set)][["symbol", "date", "adj_close"]])
    prices = _concat(frames)
    if len(frames) > 1:
        cov = _coverage(prices, wanted, sessions)
    # spellings under another separator (BRK/B -> BRK-B) for the symbols still unpriced
    alts = {s: alias_spellings(s) for s in symbols if cov.get(s, 0.0) < MIN_COVERAGE}
    alts = {s: a for s, a in alts.items() if a}
    aliases: dict[str, str] = {}
    if alts:
        flat = sorted({a for a_list in alts.values() for a in a_list})
        more = chain.daily_prices(flat, sessions[0], sessions[-1])
        for sym, why in more.failures.items():
            failures.setdefault(sym, why)
        extra = more.prices[more.prices["date"].isin(session_set)][["symbol", "date", "adj_close"]]
        prices = _concat([prices, extra])
        alt_cov = _coverage(extra, flat, sessions)
        cov.update(alt_cov)
        for sym, a_list in alts.items():
            best = max(a_list, key=lambda a: alt_cov.get(a, 0.0))
            if alt_cov.get(best, 0.0) >= MIN_COVERAGE:
                aliases[sym] = best
    if len(frames) == 1 and not alts:  # the cache alone: each symbol's last present session of the matrix
        last = cached.ffill().iloc[-1] if len(cached) else pd.Series(dtype=float)
    else:
        last = prices.sort_values("date", kind="stable").drop_duplicates("symbol", keep="last").set_index("symbol")["adj_close"]
    return MarketFacts(
        as_of=as_of,
        coverage={s: float(cov.get(s, 0.0)) for s in sorted(set(wanted) | set(cov))},
        last_price={s: float(v) for s, v in last.items() if v == v},
        failures=failures,
        aliases=aliases,
        providers=providers,
    )


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Row-wise concat of same-column frames, leaving empty ones out (pandas deprecates letting an empty
    frame take part in the result's dtypes)."""
    nonempty = [f for f in frames if len(f)]
    if not nonempty:
        return frames[0]
    return nonempty[0].reset_index(drop=True) if len(nonempty) == 1 else pd.concat(nonempty, ignore_index=True)


def _long(matrix: pd.DataFrame) -> pd.DataFrame:
    """(symbol, date, adj_close) rows of a session × symbol matrix's present cells, symbol by symbol."""
    values = matrix.to_numpy()
    rows, cols = np.nonzero(~np.isnan(values.T))
    return pd.DataFrame({"symbol": np.asarray(matrix.columns, dtype=object)[rows],
                         "date": np.asarray(matrix.index, dtype=object)[cols], "adj_close": values.T[rows, cols]})


def _coverage(prices: pd.DataFrame, symbols: list[str], sessions: list[date]) -> dict[str, float]:
    counts = prices.drop_duplicates(["symbol", "date"]).groupby("symbol")["date"].nunique() if len(prices) else {}
    return {s: float(counts.get(s, 0)) / len(sessions) for s in symbols}


PROBE_SYMBOL = "SPY"


def probe_outage(chain, sessions: list[date]) -> str | None:
    """One quick request for SPY's last sessions through every provider (HTTP ones with one retry and
    5-s timeouts): the cause when no provider answers, else None. Costs seconds, not the minute the
    full retry budget of every symbol would take when the providers are down."""
    from sigmasight_onboarding.resources.price_providers import ProviderChain

    quick = []
    for provider in getattr(chain, "providers", ()):
        if hasattr(provider, "max_retries"):
            fast = provider.model_copy(update={"max_retries": 1, "timeout_seconds": min(provider.timeout_seconds, 5.0),
                                               "max_retry_after_seconds": 2.0, "backoff_seconds": 0.2})
            fast._limiter = None
            quick.append(fast)
        else:
            quick.append(provider)
    if not quick:
        return None
    result = ProviderChain(quick).daily_prices([PROBE_SYMBOL], sessions[0], sessions[-1])
    reason = result.failures.get(PROBE_SYMBOL)
    if reason is None:
        return None
    probe = MarketFacts(as_of=sessions[-1], coverage={PROBE_SYMBOL: 0.0}, failures={PROBE_SYMBOL: reason})
    return probe.outage()


def preflight_drop(drop: ClientDrop, engine: Engine, chain, settings: Settings, as_of: date) -> ClientDrop:
    """The drop to write (symbols in the market data's spelling, as-of warnings), or
    `DropValidationError` with every pre-flight problem. Writes no client row."""
    from sigmasight_onboarding.price_backfill import reference_symbols

    facts = market_facts(engine, chain, needed_symbols(drop.positions), reference_symbols(), as_of)
    result = preflight(drop, facts)
    if result.problems:
        raise DropValidationError(result.problems, drop.client.key)
    return result.drop
