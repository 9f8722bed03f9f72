"""The market-data facts the pre-flight needs, and the pre-flight of a drop end to end.

`market_facts` asks the provider chain (through the shared price cache, so a symbol cached
already costs no provider call) for the last 90 sessions of every symbol the drop needs plus the
reference series; prices it fetches stay in the shared cache (they are market data, not client
rows), so `price_history` does not fetch them again. `preflight_drop` runs the pure rules of
`drops.preflight` on top and raises `DropValidationError` with every problem, before any client
row is written.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine

from sigmasight_onboarding.calendar import last_sessions
from sigmasight_onboarding.config import Settings
from sigmasight_onboarding.db.market_data import load_prices, plan_fetches, price_matrix
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


def market_facts(engine: Engine, chain, symbols: list[str], reference: list[str], as_of: date) -> MarketFacts:
    from sigmasight_onboarding.assets.market_data import backfill_prices  # plain function; avoids an import cycle

    sessions = last_sessions(as_of, COVERAGE_SESSIONS)
    wanted = sorted(set(symbols) | set(reference))
    providers = tuple(chain.describe()) if hasattr(chain, "describe") else ()
    if plan_fetches(engine, wanted, sessions):  # a provider call is needed: is the chain reachable at all?
        cause = probe_outage(chain, sessions[-5:])
        if cause is not None:
            return MarketFacts(as_of=as_of, coverage=dict.fromkeys(wanted, 0.0), failures=dict.fromkeys(wanted, cause),
                               providers=providers)
    summary = backfill_prices(engine, chain, wanted, sessions)
    failures = dict(summary["failures"])
    cov = _coverage(engine, wanted, sessions)
    # spellings under another separator (BRK/B -> BRK-B) for the symbols still unpriced
    missing = [s for s in symbols if cov.get(s, 0.0) < MIN_COVERAGE]
    alts = {s: alias_spellings(s) for s in missing}
    alts = {s: a for s, a in alts.items() if a}
    aliases: dict[str, str] = {}
    if alts:
        flat = sorted({a for a_list in alts.values() for a in a_list})
        more = backfill_prices(engine, chain, flat, sessions)
        for sym, why in more["failures"].items():
            failures.setdefault(sym, why)
        alt_cov = _coverage(engine, flat, sessions)
        cov.update(alt_cov)
        for sym, a_list in alts.items():
            best = max(a_list, key=lambda a: alt_cov.get(a, 0.0))
            if alt_cov.get(best, 0.0) >= MIN_COVERAGE:
                aliases[sym] = best
    matrix = price_matrix(engine, sorted(cov), sessions)
    last = matrix.ffill().iloc[-1].dropna().to_dict() if len(matrix) else {}
    return MarketFacts(
        as_of=as_of,
        coverage={s: float(cov.get(s, 0.0)) for s in sorted(set(wanted) | set(cov))},
        last_price={s: float(v) for s, v in last.items()},
        failures=failures,
        aliases=aliases,
        providers=providers,
    )


PROBE_SYMBOL = "SPY"


def probe_outage(chain, sessions: list[date]) -> str | None:
    """One quick request for SPY's last sessions through every provider (HTTP ones with one retry and
    5-s timeouts): the cause when no provider answers, else None. Costs seconds, not the minute the
    full retry budget of every symbol would take when the providers are down."""
    from sigmasight_onboarding.resources.market_data import ProviderChain

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


def _coverage(engine: Engine, symbols: list[str], sessions: list[date]) -> dict[str, float]:
    prices = load_prices(engine, symbols, sessions[0], sessions[-1])
    counts = prices[prices["date"].isin(set(sessions))].groupby("symbol")["date"].nunique()
    return {s: float(counts.get(s, 0)) / len(sessions) for s in symbols}


def preflight_drop(drop: ClientDrop, engine: Engine, chain, settings: Settings, as_of: date) -> ClientDrop:
    """The drop to write (symbols in the market data's spelling, as-of warnings), or
    `DropValidationError` with every pre-flight problem. Writes no client row."""
    from sigmasight_onboarding.assets.market_data import reference_symbols

    facts = market_facts(engine, chain, needed_symbols(drop.positions), reference_symbols(), as_of)
    result = preflight(drop, facts)
    if result.problems:
        raise DropValidationError(result.problems, drop.client.key)
    return result.drop
