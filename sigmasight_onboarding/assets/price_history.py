"""Group `market_data`: `price_history` — gap-aware backfill of the shared price cache.

For the client's symbols (equities, option underlyings), the factor ETFs and the rate series,
it works out which NYSE sessions of the look-back window are missing from `market_data_cache`
and asks the provider chain only for those; a second run with nothing missing makes no provider
call. Blocking checks: coverage of held symbols, finite positive prices, complete factor ETFs.
"""

import numpy as np

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
from sigmasight_onboarding.calendar import sessions_between
from sigmasight_onboarding.db.price_cache import cached_sessions, coverage, jump_flags, read_price_matrix, window_start
from sigmasight_onboarding.db.position_values import enrich_equity_positions
from sigmasight_onboarding.price_backfill import backfill_prices, reference_symbols
from sigmasight_onboarding.domain import COVERAGE_SESSIONS, MIN_COVERAGE
from sigmasight_onboarding.log_summary import summarise
from sigmasight_onboarding.db.portfolio_reads import active_positions_frame, client_portfolio, price_symbols
from sigmasight_onboarding.partitions import clients_partitions
from sigmasight_onboarding.resources.price_matrix_io import PRICE_MATRIX_IO_MANAGER
from sigmasight_onboarding.resources.database import SigmaSightDatabase
from sigmasight_onboarding.resources.market_data_resource import MarketDataResource
from sigmasight_onboarding.metadata import readable

GROUP = "market_data"
def _table(records: list[dict], columns: list[tuple[str, str]]) -> MetadataValue:
    return MetadataValue.table(
        [TableRecord(r) for r in records], schema=TableSchema(columns=[TableColumn(n, t) for n, t in columns])
    )


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
    # only symbols with a session missing can need the providers (a warm 8,370-symbol window: none)
    incomplete_now = [s for s, full in zip(matrix.columns, matrix.notna().all(axis=0).to_numpy()) if not full]
    summary = backfill_prices(engine, chain, incomplete_now, sessions, cached=cached_sessions(matrix[incomplete_now]))
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
