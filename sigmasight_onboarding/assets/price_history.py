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
    BackfillPolicy,
    Backoff,
    Failure,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    TableColumn,
    TableRecord,
    TableSchema,
    AssetOut,
    multi_asset,
)
from sigmasight_onboarding.assets.client_batch import batch_metadata, partition_evaluations, run_clients
from sigmasight_onboarding.calendar import sessions_between
from sigmasight_onboarding.db.price_cache import coverage, jump_flags, window_start
from sigmasight_onboarding.db.onboarding_writer import clients_transaction
from sigmasight_onboarding.db.position_values import equity_marks, write_equity_marks
from sigmasight_onboarding.price_backfill import filled_price_matrix, reference_symbols
from sigmasight_onboarding.domain import COVERAGE_SESSIONS, MIN_COVERAGE
from sigmasight_onboarding.log_summary import summarise
from sigmasight_onboarding.db.portfolio_reads import client_books, price_symbols
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


# a one-output multi_asset rather than @asset only for can_subset: a range run reports its checks as per-client
# evaluations, so the check outputs must be optional (@asset makes them required)
@multi_asset(
    name="price_history",
    outs={"price_history": AssetOut(
        group_name=GROUP, kinds={"sql", "pandas"},
        io_manager_key=PRICE_MATRIX_IO_MANAGER,  # the matrix goes to the analytics assets through Dagster
        description="Daily adjusted closes of the client's symbols, factor ETFs and rates over the look-back window.")},
    partitions_def=clients_partitions,
    deps=["portfolio_positions"],
    retry_policy=RetryPolicy(max_retries=2, delay=2, backoff=Backoff.EXPONENTIAL),
    backfill_policy=BackfillPolicy.single_run(),  # a range of clients (the daily refresh) is one run
    can_subset=True,
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
)
def price_history(context: AssetExecutionContext, database: SigmaSightDatabase, market_data: MarketDataResource):
    """The window of every client of the run (one, or a range: the daily refresh) read and backfilled
    once for the union of their symbols; the checks are each client's, on its own symbols."""
    settings = market_data.settings()
    engine = database.engine()
    clients = run_clients(context)
    books = client_books(engine, clients)
    positions_by_client = {key: books.of(key)[1] for key in clients}
    held_by_client = {key: price_symbols(p) for key, p in positions_by_client.items()}
    symbols = sorted(set().union(*held_by_client.values()) | set(reference_symbols()))
    as_of = market_data.as_of()
    sessions = sessions_between(window_start(as_of, settings.price_lookback_days), as_of)
    try:
        chain = market_data.chain()
    except ValueError as exc:  # provider configuration (e.g. synthetic in production): a retry cannot help
        raise Failure(description=str(exc), allow_retries=False) from None
    who = clients[0] if len(clients) == 1 else f"{len(clients)} clients"
    context.log.info(f"as of {as_of}: {len(symbols)} symbols of {who} over {len(sessions)} sessions via {' -> '.join(chain.describe())}")

    # the window read column-wise straight into the session × symbol matrix; only symbols with a session missing
    # can need the providers (a warm 8,370-symbol window: none)
    matrix, synthetic, summary = filled_price_matrix(engine, chain, symbols, sessions)
    cov = coverage(matrix, COVERAGE_SESSIONS)
    values = matrix.to_numpy(dtype=float)
    bad_cells = ~np.isnan(values) & ((values <= 0) | ~np.isfinite(values))
    bad_values = set(matrix.columns[bad_cells.any(axis=0)])
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
    enriched, changed = {}, {}
    marks = {key: equity_marks(positions_by_client[key], last_prices) for key in clients}
    # every client's marks in one transaction holding their locks; none of a client re-onboarded since its book was
    # read (its own run marks the new book)
    with clients_transaction(engine, {key: books.of(key)[2] for key in clients if marks[key]}) as (conn, refused):
        written = write_equity_marks(conn, [r for key in clients if key not in refused for r in marks[key]])
    for key in clients:
        if key in refused:
            enriched[key], changed[key] = 0, str(refused[key])
            context.log.warning(str(refused[key]))
        else:
            enriched[key] = sum(r["_id"] in written for r in marks[key])

    def checks_of(key: str) -> list[AssetCheckResult]:
        held = held_by_client[key]
        mine = set(held) | set(reference_symbols())
        low = {s: float(cov[s]) for s in held if cov[s] < MIN_COVERAGE}
        bad = sorted(bad_values & mine)
        own_jumps = [j for j in jumps if j["symbol"] in mine]
        return [
            AssetCheckResult(
                check_name="held_symbols_coverage", passed=not low,
                metadata=readable({"below_threshold": MetadataValue.json({s: round(v, 4) for s, v in low.items()}),
                          "symbols": ", ".join(sorted(low)) or "none",
                          "reasons": MetadataValue.json({s: summary["failures"].get(s, "gaps") for s in low})}),
                description=(f"{len(low)} held symbol(s) below {MIN_COVERAGE:.0%}: " + ", ".join(sorted(low))) if low else None,
            ),
            AssetCheckResult(check_name="prices_finite_positive", passed=not bad,
                             metadata=readable({"symbols": ", ".join(bad) or "none"})),
            AssetCheckResult(check_name="factor_etfs_complete", passed=not incomplete_reference,
                             metadata=readable({"incomplete": MetadataValue.json(incomplete_reference)})),
            AssetCheckResult(
                check_name="no_unflagged_jumps", passed=not own_jumps, severity=AssetCheckSeverity.WARN,
                metadata=readable({"jumps": _table([{"symbol": j["symbol"], "date": str(j["date"]), "return": round(j["return"], 4)} for j in own_jumps[:200]],
                                          [("symbol", "string"), ("date", "string"), ("return", "float")]),
                          "bound": settings.jump_bound}),
            ),
        ]

    # the table lists every symbol short of full coverage (at most 500 rows; big books stay readable)
    incomplete = [s for s in symbols if full[s] < 1.0 or s in summary["failures"]]
    held_by_any = set().union(*held_by_client.values())
    coverage_records = [
        {"symbol": s, "held": s in held_by_any, "coverage_last_90": round(float(cov[s]), 4),
         "window_coverage": round(float(full[s]), 4), "failure": summary["failures"].get(s, "")}
        for s in (incomplete if len(symbols) > 100 else symbols)[:500]
    ]
    metadata = {
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
    }
    if changed:  # re-onboarded while this run read their books: not marked here (their own runs do it)
        metadata["positions_changed_meanwhile"] = ", ".join(sorted(changed))
    if len(clients) == 1:
        yield MaterializeResult(
            value=matrix,  # session × symbol adjusted closes, for the analytics assets (resources/price_matrix_io.py)
            metadata=readable({**metadata, "equity_positions_valued": enriched[clients[0]]}),
            check_results=checks_of(clients[0]),
        )
        return
    per_client = {key: MaterializeResult(metadata={"symbols_held": len(held_by_client[key]),
                                                   "equity_positions_valued": enriched[key]}) for key in clients}
    # one matrix for the whole range (the union of the clients' symbols): each client's analytics take their columns.
    # The metadata is stored with every client's materialisation: the coverage table only lists the first 20 symbols.
    metadata["coverage"] = _table(coverage_records[:20], [("symbol", "string"), ("held", "bool"), ("coverage_last_90", "float"),
                                                          ("window_coverage", "float"), ("failure", "string")])
    yield MaterializeResult(value=matrix, metadata=batch_metadata(per_client, ["symbols_held", "equity_positions_valued"],
                                                                  extra=metadata))
    for key in clients:
        yield from partition_evaluations("price_history", key, checks_of(key))
