"""Gap-aware price backfill: which sessions of a window the shared price cache lacks, fetched through
the provider chain and stored (no Dagster). Used by `price_history`, the time-series range runs, the
CLI and the benches.

`reference_symbols()` are the series every client needs besides its own: the factor ETFs and the rate
series (^TNX and ^IRX in percent, TLT).
"""

import numpy as np
import pandas as pd

from sigmasight_onboarding.analytics.factors import FACTOR_ETFS
from sigmasight_onboarding.db.price_cache import cached_dates, plan_fetches, record_gaps, store_prices

RATE_SYMBOLS = ("^TNX", "^IRX", "TLT")


def reference_symbols() -> list[str]:
    """Factor ETFs and rate series every client needs."""
    return sorted(set(FACTOR_ETFS.values()) | set(RATE_SYMBOLS))


def backfill_prices(engine, chain, symbols: list[str], sessions: list, cached: dict | None = None) -> dict:
    """Fetch the missing sessions of `symbols` through `chain` and store them; returns a summary.

    `cached`: symbol -> cached sessions when the caller already loaded them (saves a query).
    """
    groups = plan_fetches(engine, symbols, sessions, cached)
    summary = {"provider_calls": 0, "rows_added": 0, "served": {}, "failures": {}, "gaps_recorded": 0}
    session_set = set(sessions)
    for (start, end), group in sorted(groups.items()):
        result = chain.daily_prices(group, start, end)
        summary["provider_calls"] += 1
        prices = result.prices
        if not set(pd.unique(prices["date"])) <= session_set:  # (a few hundred distinct days: no mask of millions)
            prices = prices[prices["date"].isin(session_set).to_numpy()]
        summary["rows_added"] += store_prices(engine, prices)
        # only a symbol with fewer distinct sessions of the span than the span has holes (counted column-wise)
        counts = _sessions_per_symbol(prices, start, end)
        sources = pd.unique(prices["data_source"])
        if len(sources) == 1:  # one provider served the group: its symbols are the counted ones
            summary["served"][sources[0]] = summary["served"].get(sources[0], 0) + len(counts)
        else:
            for source, n in prices.groupby("data_source")["symbol"].nunique().items():
                summary["served"][source] = summary["served"].get(source, 0) + int(n)
        summary["failures"].update(result.failures)
        # sessions a provider left out of a symbol it served: ask the later providers for just those,
        # then remember what nobody had as known gaps (rows keep their own truthful data_source)
        span = [d for d in sessions if start <= d <= end]
        short = [s for s in group if s not in result.failures and counts.get(s, 0) < len(span)]
        short_rows = prices[prices["symbol"].isin(short)] if short else prices.iloc[:0]
        got = short_rows.groupby("symbol")["date"].agg(set).to_dict()
        holes = {s: [d for d in span if d not in got.get(s, set())] for s in short}
        holes = {s: days for s, days in holes.items() if days}
        if holes:
            have = cached_dates(engine, list(holes), start, end)
            holes = {s: [d for d in days if d not in have[s]] for s, days in holes.items()}
            holes = {s: days for s, days in holes.items() if days}
        if holes:
            served_by = prices.drop_duplicates("symbol").set_index("symbol")["data_source"].to_dict()
            holes, asked = _fill_holes(engine, chain, holes, served_by, summary)
            if holes:
                summary["gaps_recorded"] += record_gaps(engine, holes, "no provider had this session: " + ",".join(asked))
    return summary


def filled_price_matrix(engine, chain, symbols: list[str], sessions: list) -> tuple[pd.DataFrame, list, dict]:
    """The session × symbol matrix of the window, with the providers asked only for the symbols that have a
    session missing (`backfill_prices`), re-read when they stored anything (a concurrent run may also have).
    Returns (matrix, synthetic symbols, backfill summary)."""
    from sigmasight_onboarding.db.price_cache import cached_sessions, read_price_matrix

    matrix, synthetic = read_price_matrix(engine, symbols, sessions)
    incomplete = [s for s, full in zip(matrix.columns, matrix.notna().all(axis=0).to_numpy()) if not full]
    summary = backfill_prices(engine, chain, incomplete, sessions, cached=cached_sessions(matrix[incomplete]))
    if summary["provider_calls"]:
        del matrix
        matrix, synthetic = read_price_matrix(engine, symbols, sessions)
    return matrix, synthetic, summary


def _sessions_per_symbol(prices, start, end) -> dict:
    """Distinct dates within [start, end] per symbol of a long price frame."""
    if not len(prices):
        return {}
    sym_codes, syms = pd.factorize(prices["symbol"])
    day_codes, days = pd.factorize(prices["date"])
    inside = np.array([d is not None and d == d and start <= d <= end for d in days] + [False])
    width = len(days) + 1
    keys = sym_codes.astype(np.int64) * width + day_codes
    # distinct (symbol, day) pairs as a bitmap over the bounded key range (np.unique hashes millions of
    # distinct keys: ~2.5 s for 4.2 M, the bitmap ~0.05 s)
    seen = np.zeros(len(syms) * width, dtype=bool)
    seen[keys[inside[day_codes] & (sym_codes >= 0)]] = True
    counts = np.bincount(np.flatnonzero(seen) // width, minlength=len(syms))
    return dict(zip(syms, counts.tolist()))


def _fill_holes(engine, chain, holes: dict, served_by: dict, summary: dict) -> tuple[dict, list[str]]:
    """Ask the providers after the one that served a symbol for its missing sessions only.

    Returns (sessions still missing per symbol, names of the providers that were asked).
    """
    providers = list(getattr(chain, "providers", ()))
    names = [p.name for p in providers]
    asked: list[str] = sorted(set(served_by.values()), key=lambda n: names.index(n) if n in names else -1)
    for i, provider in enumerate(providers):
        ask = [s for s, days in holes.items() if days and served_by.get(s) in names and names.index(served_by[s]) < i]
        if not ask:
            continue
        wanted = {(s, d) for s in ask for d in holes[s]}
        lo = min(min(holes[s]) for s in ask)
        hi = max(max(holes[s]) for s in ask)
        result = provider.daily_prices(ask, lo, hi)
        summary["provider_calls"] += 1
        asked.append(provider.name)
        rows = result.prices[[(s, d) in wanted for s, d in zip(result.prices["symbol"], result.prices["date"])]]
        summary["rows_added"] += store_prices(engine, rows)
        filled = set(zip(rows["symbol"], rows["date"]))
        holes = {s: [d for d in days if (s, d) not in filled] for s, days in holes.items()}
        holes = {s: days for s, days in holes.items() if days}
    return holes, asked
