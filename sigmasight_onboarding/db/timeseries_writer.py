"""Writes of the daily time series (snapshots + P&L explanation, risk metrics, stress results and their
scenario definitions): each table replaced for the client's sessions in one client transaction, so a
re-materialisation never duplicates a row and two runs of one client go one after the other."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import Connection, Engine, and_

from sigmasight_onboarding.db.base import utcnow
from sigmasight_onboarding.db.bulk import insert_ignore_conflicts, replace_rows
from sigmasight_onboarding.db.models import PortfolioRiskMetrics, PortfolioSnapshot, StressTestResult, StressTestScenario
from sigmasight_onboarding.db.onboarding_writer import client_transaction
from sigmasight_onboarding.db.pnl_explain import replace_pnl_explain


def write_timeseries(engine: Engine, client_email: str, portfolio_id, days: Sequence[date], *, snapshots: list[dict],
                     explain: list[dict], risk: list[dict], stress: list[dict], scenarios: list[dict]) -> None:
    """Replace the client's rows of `days`, one transaction per table (empty lists leave a table alone).
    The P&L explanation goes in the snapshots' transaction: never out of step with its snapshot."""
    if snapshots:
        t = PortfolioSnapshot.__table__
        with client_transaction(engine, client_email) as conn:
            replace_rows(conn, t, and_(t.c.portfolio_id == portfolio_id, t.c.snapshot_date.in_(days)), snapshots)
            replace_pnl_explain(conn, portfolio_id, days, explain)
    if risk:
        t = PortfolioRiskMetrics.__table__
        with client_transaction(engine, client_email) as conn:
            replace_rows(conn, t, and_(t.c.portfolio_id == portfolio_id, t.c.calculation_date.in_(days)), risk)
    if stress:
        t = StressTestResult.__table__
        with client_transaction(engine, client_email) as conn:
            upsert_scenarios(conn, scenarios)
            replace_rows(conn, t, and_(t.c.portfolio_id == portfolio_id, t.c.calculation_date.in_(days)), stress)


def upsert_scenarios(conn: Connection, scenarios: list[dict]) -> None:
    """Scenario definitions are shared by every client: insert the new ids (ON CONFLICT DO NOTHING, so two
    clients' runs adding the same id at once both succeed), then bring every given id's definition up to date."""
    if not scenarios:
        return
    table = StressTestScenario.__table__
    insert_ignore_conflicts(conn, table, scenarios, ["id"])
    now = utcnow()
    for s in scenarios:
        conn.execute(table.update().where(table.c.id == s["id"]).values(
            name=s["name"], category=s["category"], definition=s["definition"], updated_at=now))
