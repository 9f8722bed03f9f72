"""`sigmasight_backend_tables`: the client's results in the SigmaSight backend's own tables.

Runs after every engine (and the time series) of the client, before verification: what the
SigmaSight app shows is what `onboarding_verification` then checks. See `db/publish.py` for the
conventions and `db/contract.py` for the schema.
"""


from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
)

from sigmasight_onboarding.db.contract import BACKEND_COMMIT
from sigmasight_onboarding.db.portfolio_reads import client_portfolio
from sigmasight_onboarding.db.publish import published_counts, publish_client
from sigmasight_onboarding.partitions import client_mapping, clients_partitions
from sigmasight_onboarding.resources.database import SigmaSightDatabase
from sigmasight_onboarding.resources.market_data_resource import MarketDataResource

_all_dates = client_mapping()  # client × date -> client

#: Contract tables the backend's portfolio routes need rows in (a table with 0 rows makes a
#: route answer `available: false`).
REQUIRED = ("market_data_cache", "factor_exposures", "position_factor_exposures", "portfolio_snapshots",
            "stress_test_results")


def backend_gaps(counts: dict[str, int], n_positions: int) -> list[str]:
    """What would keep the backend from serving the client (empty = nothing)."""
    gaps = [f"no rows in {t}" for t in REQUIRED if counts.get(t, 0) == 0]
    if counts.get("positions_without_last_price"):
        gaps.append(f"{counts['positions_without_last_price']} open position(s) without last_price")
    if counts.get("market_data_cache_duplicates"):
        gaps.append(f"{counts['market_data_cache_duplicates']} symbol(s) with more than one market_data_cache row "
                    "(the backend's overview would count them more than once)")
    if n_positions >= 2 and counts.get("correlation_calculations", 0) == 0 and correlations_applicable(counts):
        gaps.append("no correlation_calculations row")
    return gaps


def correlations_applicable(counts: dict) -> bool:
    """False when the latest correlation run let fewer than 2 positions through the backend's significance
    filter (≥ $10,000 and ≥ 1 % of gross): a diversified book of thousands of small positions, for which the
    backend's own correlation service has nothing to compute either (its routes answer `available: false`)."""
    eligible = counts.get("correlation_eligible_positions")
    return eligible is None or eligible >= 2


@asset(
    partitions_def=clients_partitions,
    group_name="verification",
    deps=["portfolio_positions", "price_history", "position_greeks", "factor_exposures", "interest_rate_betas", "correlations",
          AssetDep("portfolio_snapshots", partition_mapping=_all_dates),
          AssetDep("portfolio_risk_metrics", partition_mapping=_all_dates),
          AssetDep("stress_test_results", partition_mapping=_all_dates)],
    kinds={"sql", "postgres"},
    check_specs=[AssetCheckSpec("backend_can_serve", asset="sigmasight_backend_tables",
                                description="Every table the SigmaSight backend's portfolio routes read has the "
                                            "client's rows: prices (one per symbol), marks, factor exposures, "
                                            "correlations, snapshots, stress results.")],
    description=f"The client's results in the SigmaSight backend's tables (schema of backend commit {BACKEND_COMMIT}), "
                "replaced in one transaction.",
)
def sigmasight_backend_tables(context: AssetExecutionContext, database: SigmaSightDatabase, market_data: MarketDataResource):
    engine = database.engine()
    client = client_portfolio(engine, context.partition_key)
    result = publish_client(engine, client.portfolio_id, market_data.as_of())
    counts = published_counts(engine, client.portfolio_id)
    gaps = backend_gaps(counts, counts["positions"])
    for gap in gaps:
        context.log.warning(f"backend: {gap}")
    return MaterializeResult(
        metadata={
            "as_of": result.as_of.isoformat(),
            "portfolio_id": str(client.portfolio_id),
            "rows_written": MetadataValue.md("\n".join(f"- `{t}`: {n:,}" for t, n in result.rows.items())),
        },
        check_results=[AssetCheckResult(check_name="backend_can_serve", passed=not gaps,
                                        description="; ".join(gaps) or ("every portfolio route has data" if correlations_applicable(counts)
                                                                         else "every portfolio route has data except correlations: fewer than "
                                                                              "2 positions pass the backend's significance filter"),
                                        metadata={t: counts[t] for t in sorted(counts) if counts[t] is not None})],
    )
