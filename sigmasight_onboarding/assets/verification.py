"""Group `verification`: is the client ready? One check per item of the runbook's checklist.

`onboarding_verification` runs after the time-series partitions of the client exist (the CLI
runs it last; in the daemon the `verification_sensor` requests it when the 30th session lands).
"""

from datetime import date

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    AssetSpec,
    asset,
    multi_asset,
)

from sigmasight_onboarding.db.onboarding_writer import read_active_positions
from sigmasight_onboarding.db.portfolio_reads import client_portfolio
from sigmasight_onboarding.domain import CHECK_LIVE_API, VERIFICATION_CHECKS
from sigmasight_onboarding.drops.problems import DropValidationError
from sigmasight_onboarding.drops.reader import find_drop_folder, read_drop
from sigmasight_onboarding.partitions import client_mapping, clients_partitions
from sigmasight_onboarding.resources.database import SigmaSightDatabase
from sigmasight_onboarding.resources.market_data_resource import MarketDataResource
from sigmasight_onboarding.resources.onboarding import OnboardingResource
from sigmasight_onboarding.resources.sigmasight_api import check_live_api
from sigmasight_onboarding.verification_rules import record_verification, verify_client
from sigmasight_onboarding.metadata import readable

GROUP = "verification"
SESSIONS_TAG = "sigmasight/sessions"
CHECK_NAMES = tuple(VERIFICATION_CHECKS)

_all_dates = client_mapping()  # client × date -> client


@multi_asset(  # a multi_asset with can_subset so that a check that does not apply may go unreported (Skipped)
    specs=[AssetSpec(
        "onboarding_verification",
        group_name=GROUP,
        deps=["sigmasight_backend_tables", "portfolio_positions", "price_history", "position_greeks", "factor_exposures",
              "interest_rate_betas", "correlations",
              AssetDep("portfolio_snapshots", partition_mapping=_all_dates),
              AssetDep("portfolio_risk_metrics", partition_mapping=_all_dates),
              AssetDep("stress_test_results", partition_mapping=_all_dates)],
        kinds={"sql"},
        description="End-to-end verification record of the client (the runbook's manual checklist).",
    )],
    partitions_def=clients_partitions,
    check_specs=[AssetCheckSpec(name, asset="onboarding_verification", description=desc)
                 for name, desc in VERIFICATION_CHECKS.items()
                 ] + [AssetCheckSpec(CHECK_LIVE_API, asset="onboarding_verification",
                         description="Optional (SIGMASIGHT_API_URL): login, then every portfolio route of the SigmaSight backend answers 200 with data; "
                                     "Skipped when SIGMASIGHT_API_URL is not set.")],
    can_subset=True,
)
def onboarding_verification(context: AssetExecutionContext, database: SigmaSightDatabase, market_data: MarketDataResource,
                            onboarding: OnboardingResource):
    settings = onboarding.settings()
    engine = database.engine()
    email = context.partition_key
    as_of = market_data.as_of()
    sessions = context.run.tags.get(SESSIONS_TAG)  # set by `sigmasight onboard --sessions N`
    checks = verify_client(engine, email, settings, as_of, sessions=int(sessions) if sessions else None)
    passed = record_verification(engine, email, as_of, checks, source="dagster")
    results = [AssetCheckResult(check_name=c.name, passed=c.passed, description=c.detail, metadata=readable({"detail": c.detail})) for c in checks]
    lines = [f"- {'✅' if c.passed else '❌'} **{c.name}** — {c.detail}" for c in checks]
    skipped: dict[str, str] = {}
    live = _live_api_result(engine, email, settings, as_of)
    if live is None:  # not emitted: the UI shows the check as Skipped, never as a pass
        skipped[CHECK_LIVE_API] = LIVE_API_SKIP_REASON
        lines.append(f"- ⏭️ **live_api** — skipped: {LIVE_API_SKIP_REASON}")
        context.log.info(f"live_api check skipped: {LIVE_API_SKIP_REASON}")
    else:
        results.append(live)
        lines.append(f"- {'✅' if live.passed else '⚠️'} **live_api** — {live.description}")
    metadata = {
        "as_of": MetadataValue.text(as_of.isoformat()),
        "ready": MetadataValue.bool(passed),
        "checks": MetadataValue.md(_inline_checks(lines)),
    }
    if len("\n".join(lines)) >= INLINE_MARKDOWN_LIMIT:  # the details one click away, the verdicts inline
        metadata["check_details"] = MetadataValue.md("\n".join(lines))
    if skipped:
        metadata["skipped_checks"] = MetadataValue.json(skipped)
    # yielded, not returned: a generator may leave a planned check without a result (→ Skipped)
    yield MaterializeResult(asset_key="onboarding_verification", metadata=metadata, check_results=results)


LIVE_API_SKIP_REASON = "SIGMASIGHT_API_URL is not set"


def _inline_checks(lines: list[str]) -> str:
    """The check list as markdown short enough for the UI to render inline: whole lines when they fit,
    else each verdict with its name only (the details go to ``check_details``)."""
    text = "\n".join(lines)
    if len(text) < INLINE_MARKDOWN_LIMIT:
        return text
    return "\n".join(line.split(" — ", 1)[0] for line in lines)


def _live_api_result(engine, email, settings, as_of) -> AssetCheckResult | None:
    """The live API check, or None when it does not apply (no SIGMASIGHT_API_URL)."""
    api_url = settings.api_url
    if not api_url:
        return None
    client = client_portfolio(engine, email)
    symbols = [p["symbol"] for p in read_active_positions(engine, client.portfolio_id)]
    password = None
    try:  # the password lives only in this run's memory, read from the drop; never stored or logged
        drop = read_drop(find_drop_folder(settings.imports_dir, email), settings)
        password = drop.client.password.value if drop.client.password is not None else None
    except DropValidationError:
        pass
    # price history back to the as-of session (the backend counts calendar days from its today)
    lookback = max(150, (date.today() - as_of).days + 30)
    api_checks = check_live_api(api_url, email, password, str(client.portfolio_id), symbols, lookback_days=lookback)
    failed = [c for c in api_checks if not c.passed]
    return AssetCheckResult(
        check_name=CHECK_LIVE_API, passed=not failed, severity=AssetCheckSeverity.WARN,
        description="; ".join(f"{c.name}: {c.detail}" for c in (failed or api_checks))[:1000],
        metadata=readable({c.name: c.detail for c in api_checks}),
    )


@asset(
    partitions_def=clients_partitions,
    group_name=GROUP,
    deps=["onboarding_verification"],
    kinds={"html"},
    description="Self-contained HTML report (holdings, exposures, factors, correlations, P&L, VaR, stress, data "
                "quality) with the answers to the runbook's four chat verification questions.",
)
def onboarding_report(context: AssetExecutionContext, database: SigmaSightDatabase, market_data: MarketDataResource,
                      onboarding: OnboardingResource):
    from sigmasight_onboarding.report import build_report, write_report

    settings = onboarding.settings()
    report = build_report(database.engine(), context.partition_key, market_data.as_of())
    path = write_report(report, settings.reports_dir, context.partition_key)
    for warning in report.warnings:
        context.log.warning(warning)
    return MaterializeResult(metadata=readable(report_metadata(report, path, settings)))


def report_url(path, settings) -> str:
    """Link to the report: under SIGMASIGHT_REPORTS_URL when set (a server of the reports folder),
    else a file:// URL."""
    from pathlib import Path
    from urllib.parse import quote

    path = Path(path).resolve()
    if settings.reports_url:
        try:
            relative = path.relative_to(Path(settings.reports_dir).resolve())
            return settings.reports_url.rstrip("/") + "/" + quote(relative.as_posix())
        except ValueError:
            pass
    return path.as_uri()


def report_metadata(report, path, settings) -> dict:
    """The report's opening as short markdown (rendered inline, no click), a one-line headline, the report
    link, then the full markdown summary (charts included) one click away."""
    meta = {}
    overview = brief_markdown(report.markdown)
    if overview:
        meta["overview"] = MetadataValue.md(overview)
    headline = _headline(report.markdown)
    if headline:
        meta["headline"] = MetadataValue.text(headline)
    meta.update({
        "report_url": MetadataValue.url(report_url(path, settings)),
        "report_path": MetadataValue.path(str(path)),
        "summary": MetadataValue.md(report.markdown),
        "warnings": MetadataValue.md("\n".join(f"- {w}" for w in report.warnings)),
    })
    return meta


INLINE_MARKDOWN_LIMIT = 1000  # the Dagster UI renders a markdown entry inline below this size, else "[Show Markdown]"


def brief_markdown(markdown: str, limit: int = INLINE_MARKDOWN_LIMIT) -> str:
    """The report's opening (title, the value table, positions by type, the VaR line, the warning count)
    as markdown under `limit` characters, so the asset page shows it without a click; whole lines only."""
    lines = markdown.splitlines()
    stop = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
    kept = [line for line in lines[:stop] if not line.startswith("# ")]
    warnings = next((line for line in lines if line.startswith("## Warnings")), "")
    if warnings:
        kept += ["", warnings.lstrip("# ").strip() + " — see the full summary or the report."]
    out: list[str] = []
    for line in kept:
        if len("\n".join(out + [line])) >= limit:
            break
        out.append(line)
    return "\n".join(out).strip()


def _headline(markdown: str) -> str:
    """'Net value … | Gross … | …' from the first table row of the report's markdown."""
    lines = markdown.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("| Net value"):
            names = [c.strip() for c in line.strip("|").split("|")]
            if i + 2 < len(lines):
                values = [c.strip() for c in lines[i + 2].strip("|").split("|")]
                return " · ".join(f"{n} {v}" for n, v in zip(names, values))
    return ""
