"""Group `onboarding`: `client_account` (user + portfolio) and `portfolio_positions` (+ tags).

Both are written by one step in one transaction. The drop is validated before anything is
written; the validation, a pandera check of the stored positions and the "DB equals CSV"
reconciliation are blocking asset checks, so nothing downstream runs on bad input.

This asset is the only place a drop is validated and a rejection audited: `sigmasight onboard` runs
it and prints what its metadata says (`problem_count` / `problem_lines` of a rejection, `warnings` /
`warning_lines` of an accepted drop, the Failure's `refused` / `reason` of a refused configuration).
"""


from collections import Counter

import pandas as pd
import pandera.pandas as pa
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSpec,
    Failure,
    MetadataValue,
    Output,
    TableColumn,
    TableRecord,
    TableSchema,
    multi_asset,
)

from sigmasight_onboarding.db.onboarding_writer import (
    audit,
    read_active_positions,
    reconcile_with_drop,
    write_client,
)
from sigmasight_onboarding.drops.market_facts import preflight_drop
from sigmasight_onboarding.drops.problems import DropValidationError
from sigmasight_onboarding.drops.reader import entry_notional, find_drop_folder, read_drop
from sigmasight_onboarding.drops.schemas import StoredPositionsSchema
from sigmasight_onboarding.log_summary import summarise
from sigmasight_onboarding.partitions import clients_partitions
from sigmasight_onboarding.resources.database import SigmaSightDatabase
from sigmasight_onboarding.resources.market_data_resource import MarketDataResource
from sigmasight_onboarding.resources.onboarding import OnboardingResource
from sigmasight_onboarding.metadata import readable

GROUP = "onboarding"
MAX_PROBLEM_ROWS = 500
MAX_PROBLEM_LINES = 200  # `problem_lines`: what `sigmasight onboard` prints of a rejection
MAX_WARNING_LINES = 20  # `warning_lines`: what `sigmasight onboard` prints of the drop's warnings
REFUSED_CONFIGURATION = "configuration"  # Failure metadata `refused`: the settings, not the drop, were refused


def problems_table(problems) -> MetadataValue:
    schema = TableSchema(
        columns=[TableColumn("file"), TableColumn("line", "int"), TableColumn("column"), TableColumn("value"), TableColumn("rule")]
    )
    records = [
        TableRecord({"file": p.file, "line": p.line, "column": p.column or "", "value": p.value or "", "rule": p.rule})
        for p in problems[:MAX_PROBLEM_ROWS]
    ]
    return MetadataValue.table(records, schema=schema)


def rejection_metadata(problems) -> dict:
    """Metadata of a rejected drop (the failed `drop_passes_schema` check and the step's Failure):
    the count, the first MAX_PROBLEM_ROWS as a table (UI) and the first MAX_PROBLEM_LINES as the
    lines `sigmasight onboard` prints (`str(DropProblem)`)."""
    return readable({
        "problem_count": len(problems),
        "problems": problems_table(problems),
        "problem_lines": MetadataValue.json([str(p) for p in problems[:MAX_PROBLEM_LINES]]),
    })


def _forget_rejected_client(context, engine, key: str) -> None:
    """A rejected drop of a client that was never onboarded leaves no `clients` partition behind
    (the audit row and this failed run keep the record); an onboarded client keeps its partition."""
    from sigmasight_onboarding.db.portfolio_reads import UnknownClient, client_portfolio

    try:
        client_portfolio(engine, key)
        return
    except UnknownClient:
        pass
    if context.instance.has_dynamic_partition(clients_partitions.name, key):
        context.instance.delete_dynamic_partition(clients_partitions.name, key)
        context.log.info(f"rejected drop {key!r}: its clients partition was removed (audit row kept)")


@multi_asset(
    specs=[
        AssetSpec(
            "client_account",
            group_name=GROUP,
            description="User and portfolio rows of the client (SigmaSight `users`, `portfolios`).",
            kinds={"sql"},
        ),
        AssetSpec(
            "portfolio_positions",
            deps=["client_account"],
            group_name=GROUP,
            description="Positions and tags of the client's portfolio as dropped in portfolio.csv.",
            kinds={"sql", "pandas"},
        ),
    ],
    check_specs=[
        AssetCheckSpec("drop_passes_schema", partitions_def=clients_partitions,
            asset="client_account",
            blocking=True,
            description="client.json and portfolio.csv pass the pandera schemas (every problem listed).",
        ),
        AssetCheckSpec("stored_positions_schema", partitions_def=clients_partitions,
            asset="portfolio_positions",
            blocking=True,
            description="The stored active positions pass the StoredPositionsSchema pandera model.",
        ),
        AssetCheckSpec("db_matches_csv", partitions_def=clients_partitions,
            asset="portfolio_positions",
            blocking=True,
            description="Active positions in the database equal the CSV (symbols, quantities, prices, types, tags).",
        ),
    ],
    partitions_def=clients_partitions,
    can_subset=False,
)
def client_onboarding(context: AssetExecutionContext, database: SigmaSightDatabase, market_data: MarketDataResource,
                      onboarding: OnboardingResource):
    """Validate the client's drop, then create or reconcile account + positions in one transaction."""
    settings = onboarding.settings()
    key = context.partition_key
    engine = database.engine()
    actor = f"dagster run {context.run.run_id[:8]}"
    try:  # configuration that would stop the run later (e.g. synthetic prices in production): refuse before writing
        market_data.chain()
    except ValueError as exc:
        audit(engine, key, "onboard", "rejected", {"configuration": str(exc)}, actor)
        _forget_rejected_client(context, engine, key)
        raise Failure(description=f"configuration refused, nothing was written: {exc}",
                      metadata={"refused": REFUSED_CONFIGURATION, "reason": str(exc)}, allow_retries=False) from None
    try:
        folder = find_drop_folder(settings.imports_dir, key)
        drop = read_drop(folder, settings)
        # pre-flight: everything that would fail after the write (symbols, column sizes, dates, hash)
        drop = preflight_drop(drop, engine, market_data.chain(), settings, market_data.as_of())
    except DropValidationError as err:
        audit(
            engine, key, "onboard", "rejected",
            {"problems": [p.as_dict() for p in err.problems[:50]], "problem_count": len(err.problems)}, actor,
        )
        yield AssetCheckResult(
            asset_key="client_account",
            check_name="drop_passes_schema",
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            metadata=rejection_metadata(err.problems),
        )
        _forget_rejected_client(context, engine, key)
        raise Failure(
            description=f"drop {key!r} rejected, nothing was written:\n{err}",
            metadata=rejection_metadata(err.problems),
            allow_retries=False,
        ) from None

    summary = summarise("drop warnings", drop.warnings)
    if summary:  # one event, never one per row
        context.log.warning(summary)
    yield AssetCheckResult(
        asset_key="client_account",
        check_name="drop_passes_schema",
        passed=True,
        metadata=readable({"rows": len(drop.positions), "warnings": len(drop.warnings),
                           "warning_lines": MetadataValue.json(drop.warnings[:MAX_WARNING_LINES])}),
    )

    try:
        result = write_client(engine, drop, settings, actor=actor)
    except Exception as exc:
        audit(engine, key, "onboard", "failed", {"error": type(exc).__name__, "message": str(exc)[:500]}, actor)
        raise

    stored = read_active_positions(engine, result.portfolio_id)
    stored_frame = pd.DataFrame(stored)
    try:
        StoredPositionsSchema.validate(stored_frame, lazy=True)
        schema_ok, schema_meta = True, {"rows": len(stored_frame)}
    except pa.errors.SchemaErrors as err:
        schema_ok = False
        schema_meta = {"failures": MetadataValue.md(err.failure_cases.head(50).to_markdown() if hasattr(err.failure_cases, "to_markdown") else str(err.failure_cases.head(50)))}
    diffs = reconcile_with_drop(stored, drop)

    by_type = Counter(drop.positions["position_type"])
    gross, net = entry_notional(drop.positions)
    tags = sorted({t for ts in drop.positions["tags"] for t in ts})
    yield Output(
        None,
        output_name="client_account",
        metadata=readable({
            "user_id": result.user_id,
            "portfolio_id": result.portfolio_id,
            "user_created": result.user_created,
            "account_fields_changed": ", ".join(result.account_fields_changed) or "none",
            "drop_content_hash": drop.content_hash,
            "warnings": MetadataValue.md("\n".join(f"- {w}" for w in drop.warnings) or "none"),
        }),
    )
    yield Output(
        None,
        output_name="portfolio_positions",
        metadata=readable({
            "positions": result.active_positions,
            "positions_by_type": MetadataValue.table(
                [TableRecord({"position_type": t, "count": n}) for t, n in sorted(by_type.items())],
                schema=TableSchema(columns=[TableColumn("position_type"), TableColumn("count", "int")]),
            ),
            "tags": len(tags),
            "tag_names": ", ".join(tags),
            "gross_entry_notional_usd": float(gross),
            "net_entry_notional_usd": float(net),
            "inserted": result.positions_inserted,
            "updated": result.positions_updated,
            "soft_deleted": result.positions_soft_deleted,
            "unchanged": result.positions_unchanged,
            "tag_links_added": result.tag_links_added,
            "tag_links_removed": result.tag_links_removed,
        }),
    )
    yield AssetCheckResult(
        asset_key="portfolio_positions", check_name="stored_positions_schema", passed=schema_ok, metadata=readable(schema_meta)
    )
    yield AssetCheckResult(
        asset_key="portfolio_positions",
        check_name="db_matches_csv",
        passed=not diffs,
        metadata=readable({"differences": len(diffs), "details": MetadataValue.md("\n".join(f"- {d}" for d in diffs[:100]) or "none")}),
    )
