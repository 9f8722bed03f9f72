"""Group `market_data`: `price_history` — gap-aware backfill of the shared price cache.

For the client's symbols (equities, option underlyings), the factor ETFs and the rate series,
it works out which NYSE sessions of the look-back window are missing from `market_data_cache`
and asks the provider chain only for those; a second run with nothing missing makes no provider
call. Blocking checks: coverage of held symbols, finite positive prices, complete factor ETFs.
"""

from decimal import Decimal

import numpy as np
import pandas as pd

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Backoff,
    Failure,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
)
from sqlalchemy import bindparam, update

from sigmasight_onboarding.analytics.factors import FACTOR_ETFS
from sigmasight_onboarding.calendar import sessions_between
from sigmasight_onboarding.db.market_data import (
    cached_dates,
    cached_sessions,
    coverage,
    jump_flags,
    plan_fetches,
    read_price_matrix,
    record_gaps,
    store_prices,
    window_start,
)
from sigmasight_onboarding.db.models import Position, utcnow
from sigmasight_onboarding.domain import COVERAGE_SESSIONS, MIN_COVERAGE
from sigmasight_onboarding.log_summary import summarise
from sigmasight_onboarding.db.portfolio_reads import active_positions_frame, client_portfolio, is_option_type, price_symbols
from sigmasight_onboarding.partitions import clients_partitions
from sigmasight_onboarding.resources.price_matrix_io import PRICE_MATRIX_IO_MANAGER
from sigmasight_onboarding.resources.database import SigmaSightDatabase
from sigmasight_onboarding.resources.market_data_resource import MarketDataResource
from sigmasight_onboarding.metadata import readable

GROUP = "market_data"
RATE_SYMBOLS = ("^TNX", "^IRX", "TLT")


def reference_symbols() -> list[str]:
    """Factor ETFs and rate series every client needs."""
    return sorted(set(FACTOR_ETFS.values()) | set(RATE_SYMBOLS))


def _table(records: list[dict], columns: list[tuple[str, str]]) -> MetadataValue:
    return MetadataValue.table(
        [TableRecord(r) for r in records], schema=TableSchema(columns=[TableColumn(n, t) for n, t in columns])
    )


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
        in_window = result.prices["date"].isin(session_set).to_numpy()
        prices = result.prices if in_window.all() else result.prices[in_window]  # no copy of millions of rows
        summary["rows_added"] += store_prices(engine, prices)
        for source, n in prices.groupby("data_source")["symbol"].nunique().items():
            summary["served"][source] = summary["served"].get(source, 0) + int(n)
        summary["failures"].update(result.failures)
        # sessions a provider left out of a symbol it served: ask the later providers for just those,
        # then remember what nobody had as known gaps (rows keep their own truthful data_source)
        span = [d for d in sessions if start <= d <= end]
        # only a symbol with fewer distinct sessions of the span than the span has holes (counted column-wise)
        counts = _sessions_per_symbol(prices, start, end)
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


def _sessions_per_symbol(prices, start, end) -> dict:
    """Distinct dates within [start, end] per symbol of a long price frame."""
    if not len(prices):
        return {}
    sym_codes, syms = pd.factorize(prices["symbol"])
    day_codes, days = pd.factorize(prices["date"])
    inside = np.array([d is not None and d == d and start <= d <= end for d in days] + [False])
    keys = sym_codes.astype(np.int64) * (len(days) + 1) + day_codes
    keys = np.unique(keys[inside[day_codes] & (sym_codes >= 0)])
    counts = np.bincount(keys // (len(days) + 1), minlength=len(syms))
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


def enrich_equity_positions(engine, positions, last_prices) -> int:
    """Fill last_price, market_value (= quantity × price) and unrealized_pnl for stock positions."""
    equities = positions[~is_option_type(positions["position_type"])]
    rows = []
    for pid, pos in equities.iterrows():
        price = last_prices.get(pos["symbol"])
        if price is None or price != price:
            continue
        q = Decimal(str(pos["quantity"]))
        p = Decimal(str(round(price, 4)))
        rows.append({
            "_id": pid,
            "last_price": p,
            "market_value": (q * p).quantize(Decimal("0.01")),
            "unrealized_pnl": (q * (p - Decimal(str(pos["entry_price"])))).quantize(Decimal("0.01")),
            "updated_at": utcnow(),
        })
    if rows:
        table = Position.__table__
        stmt = (
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values(last_price=bindparam("last_price"), market_value=bindparam("market_value"),
                    unrealized_pnl=bindparam("unrealized_pnl"), updated_at=bindparam("updated_at"))
        )
        with engine.begin() as conn:
            unchanged = {
                r.id: (r.last_price, r.market_value)
                for r in conn.execute(table.select().where(table.c.id.in_([r["_id"] for r in rows])))
            }
            rows = [r for r in rows if unchanged.get(r["_id"]) != (r["last_price"], r["market_value"])]
            if rows:
                conn.execute(stmt, rows)
    return len(rows)


@asset(
    partitions_def=clients_partitions,
    group_name=GROUP,
    deps=["portfolio_positions"],
    kinds={"sql", "pandas"},
    io_manager_key=PRICE_MATRIX_IO_MANAGER,  # the matrix goes to the analytics assets through Dagster
    retry_policy=RetryPolicy(max_retries=2, delay=2, backoff=Backoff.EXPONENTIAL),
    check_specs=[
        AssetCheckSpec("held_symbols_coverage", partitions_def=clients_partitions, asset="price_history", blocking=True,
                       description=f"Every held symbol has prices on ≥ {MIN_COVERAGE:.0%} of the last {COVERAGE_SESSIONS} sessions."),
        AssetCheckSpec("prices_finite_positive", partitions_def=clients_partitions, asset="price_history", blocking=True,
                       description="No non-positive or non-finite price in the window."),
        AssetCheckSpec("factor_etfs_complete", partitions_def=clients_partitions, asset="price_history", blocking=True,
                       description="Factor ETFs and rate series have every session of the window."),
        AssetCheckSpec("no_unflagged_jumps", partitions_def=clients_partitions, asset="price_history", blocking=False,
                       description="Day-over-day moves beyond SIGMASIGHT_JUMP_BOUND (default 50 %) are listed (possible splits)."),
    ],
    description="Daily adjusted closes of the client's symbols, factor ETFs and rates over the look-back window.",
)
def price_history(context: AssetExecutionContext, database: SigmaSightDatabase, market_data: MarketDataResource):
    settings = market_data.settings()
    engine = database.engine()
    client = client_portfolio(engine, context.partition_key)
    positions = active_positions_frame(engine, client.portfolio_id)
    held = price_symbols(positions)
    symbols = sorted(set(held) | set(reference_symbols()))
    as_of = market_data.as_of()
    sessions = sessions_between(window_start(as_of, settings.price_lookback_days), as_of)
    try:
        chain = market_data.chain()
    except ValueError as exc:  # provider configuration (e.g. synthetic in production): a retry cannot help
        raise Failure(description=str(exc), allow_retries=False) from None
    context.log.info(f"as of {as_of}: {len(symbols)} symbols over {len(sessions)} sessions via {' -> '.join(chain.describe())}")

    # the window is read column-wise straight into the session × symbol matrix (no long frame)
    matrix, synthetic = read_price_matrix(engine, symbols, sessions)
    summary = backfill_prices(engine, chain, symbols, sessions, cached=cached_sessions(matrix))
    if summary["provider_calls"]:  # re-read: rows may also have been stored meanwhile by a concurrent run
        del matrix
        matrix, synthetic = read_price_matrix(engine, symbols, sessions)
    cov = coverage(matrix, COVERAGE_SESSIONS)
    low = {s: float(cov[s]) for s in held if cov[s] < MIN_COVERAGE}
    values = matrix.to_numpy(dtype=float)
    bad_cells = ~np.isnan(values) & ((values <= 0) | ~np.isfinite(values))
    bad_values = sorted(matrix.columns[bad_cells.any(axis=0)])
    full = matrix.notna().mean()
    incomplete_reference = {s: float(full[s]) for s in reference_symbols() if full[s] < 1.0}
    jumps = jump_flags(matrix, settings.jump_bound)
    failed = summarise("symbols without prices (full list in the 'failures' metadata table)",
                       (f"{sym}: {reason}" for sym, reason in sorted(summary["failures"].items())))
    if failed:  # one event, never one per symbol
        context.log.warning(failed)

    if synthetic:
        context.log.warning(f"SYNTHETIC prices in use for {len(synthetic)} symbol(s): not real market data")

    last_prices = matrix.ffill().iloc[-1].to_dict() if len(matrix) else {}
    enriched = enrich_equity_positions(engine, positions, last_prices)

    # the table lists every symbol short of full coverage (at most 500 rows; big books stay readable)
    incomplete = [s for s in symbols if full[s] < 1.0 or s in summary["failures"]]
    coverage_records = [
        {"symbol": s, "held": s in held, "coverage_last_90": round(float(cov[s]), 4), "window_coverage": round(float(full[s]), 4),
         "failure": summary["failures"].get(s, "")}
        for s in (incomplete if len(symbols) > 100 else symbols)[:500]
    ]
    return MaterializeResult(
        value=matrix,  # session × symbol adjusted closes, for the analytics assets (resources/price_matrix_io.py)
        metadata=readable({
            "as_of": as_of.isoformat(),
            "window_sessions": len(sessions),
            "symbols_requested": len(symbols),
            "provider_calls": summary["provider_calls"],
            "rows_added": summary["rows_added"],
            "symbols_served_by_source": MetadataValue.json(summary["served"]),
            "symbols_failed": len(summary["failures"]),
            "failures": _table([{"symbol": s, "reason": r} for s, r in sorted(summary["failures"].items())],
                               [("symbol", "string"), ("reason", "string")]),
            "known_gaps_recorded": summary["gaps_recorded"],
            "symbols_fully_covered": len(symbols) - len(incomplete),
            "coverage": _table(coverage_records, [("symbol", "string"), ("held", "bool"), ("coverage_last_90", "float"),
                                                  ("window_coverage", "float"), ("failure", "string")]),
            "providers": " -> ".join(chain.describe()),
            "synthetic_symbols": len(synthetic),
            "equity_positions_valued": enriched,
        }),
        check_results=[
            AssetCheckResult(
                check_name="held_symbols_coverage", passed=not low,
                metadata=readable({"below_threshold": MetadataValue.json({s: round(v, 4) for s, v in low.items()}),
                          "symbols": ", ".join(sorted(low)) or "none",
                          "reasons": MetadataValue.json({s: summary["failures"].get(s, "gaps") for s in low})}),
                description=(f"{len(low)} held symbol(s) below {MIN_COVERAGE:.0%}: " + ", ".join(sorted(low))) if low else None,
            ),
            AssetCheckResult(check_name="prices_finite_positive", passed=not bad_values,
                             metadata=readable({"symbols": ", ".join(bad_values) or "none"})),
            AssetCheckResult(check_name="factor_etfs_complete", passed=not incomplete_reference,
                             metadata=readable({"incomplete": MetadataValue.json(incomplete_reference)})),
            AssetCheckResult(
                check_name="no_unflagged_jumps", passed=not jumps, severity=AssetCheckSeverity.WARN,
                metadata=readable({"jumps": _table([{"symbol": j["symbol"], "date": str(j["date"]), "return": round(j["return"], 4)} for j in jumps[:200]],
                                          [("symbol", "string"), ("date", "string"), ("return", "float")]),
                          "bound": settings.jump_bound}),
            ),
        ],
    )
