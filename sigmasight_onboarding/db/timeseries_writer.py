"""Writes of the daily time series (snapshots + P&L explanation, risk metrics, stress results and their
scenario definitions): each client's rows of its sessions replaced in ONE transaction holding the locks of
every client of the run (`clients_transaction`), so a re-materialisation never duplicates a row and two
runs of one client go one after the other; the shared scenario definitions in a short transaction of their
own before it, written only where they changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, and_, select

from sigmasight_onboarding.db.base import utcnow
from sigmasight_onboarding.db.bulk import insert_ignore_conflicts, replace_rows
from sigmasight_onboarding.db.models import PortfolioRiskMetrics, PortfolioSnapshot, StressTestResult, StressTestScenario
from sigmasight_onboarding.db.onboarding_writer import PositionsChangedError, clients_transaction
from sigmasight_onboarding.db.pnl_explain import replace_pnl_explain


@dataclass
class ClientTimeseries:
    """One client's rows of its `days` (empty lists leave a table alone; the P&L explanation goes with the snapshots,
    never out of step with them). `positions_version`: read before the positions the rows were computed from."""
    email: str
    portfolio_id: Any
    days: Sequence[date]
    snapshots: list[dict] = field(default_factory=list)
    explain: list[dict] = field(default_factory=list)
    risk: list[dict] = field(default_factory=list)
    stress: list[dict] = field(default_factory=list)
    positions_version: int | None = None


def write_timeseries(engine: Engine, clients: Sequence[ClientTimeseries], scenarios: list[dict]) -> dict[str, PositionsChangedError]:
    """Upsert `scenarios` (if any client stores stress results), then replace every client's rows of its days in one
    transaction. A client whose book was re-written since its `positions_version` was read gets nothing written; its
    `PositionsChangedError` is returned by email (the others are stored). The scenario definitions are upserted
    for all of them: a replay window's definition is the moves of that window (`merged_replay_definition`), the same
    whichever book's run stores it."""
    if scenarios and any(c.stress for c in clients):
        with engine.begin() as conn:  # shared by every client: never held over the clients' rows
            upsert_scenarios(conn, scenarios)
    with clients_transaction(engine, {c.email: c.positions_version for c in clients}) as (conn, changed):
        for c in clients:
            if c.email in changed:
                continue
            if c.snapshots:
                t = PortfolioSnapshot.__table__
                replace_rows(conn, t, and_(t.c.portfolio_id == c.portfolio_id, t.c.snapshot_date.in_(c.days)), c.snapshots)
                replace_pnl_explain(conn, c.portfolio_id, c.days, c.explain)
            if c.risk:
                t = PortfolioRiskMetrics.__table__
                replace_rows(conn, t, and_(t.c.portfolio_id == c.portfolio_id, t.c.calculation_date.in_(c.days)), c.risk)
            if c.stress:
                t = StressTestResult.__table__
                replace_rows(conn, t, and_(t.c.portfolio_id == c.portfolio_id, t.c.calculation_date.in_(c.days)), c.stress)
    return changed


def upsert_scenarios(conn: Connection, scenarios: list[dict]) -> int:
    """Scenario definitions are shared by every client: insert the new ids (ON CONFLICT DO NOTHING, so two
    clients' runs adding the same id at once both succeed), then update each given id whose stored name,
    category or definition differs — an unchanged definition (the 18 fixed scenarios, run after run) is not
    written again: no row lock, no new row version. Returns the rows updated.

    A historical replay (source 'historical_replay') is one market window, but each client's run computes
    its symbol moves for that client's symbols only: the stored `symbol_returns` is the union over every
    client that stored the window (`merged_replay_definition`), so each client's moves stay in the definition
    its results point to. The stored rows are read under a row lock (PostgreSQL ``FOR UPDATE``; SQLite's write
    lock is held since the INSERT), so two clients' runs merging at once lose nothing."""
    if not scenarios:
        return 0
    table = StressTestScenario.__table__
    insert_ignore_conflicts(conn, table, scenarios, ["id"])
    query = select(table.c.id, table.c.name, table.c.category, table.c.definition).where(
        table.c.id.in_([s["id"] for s in scenarios]))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    stored = {row.id: row for row in conn.execute(query)}
    now, updated = utcnow(), 0
    for s in scenarios:
        old = stored[s["id"]]
        definition = s["definition"]
        if s.get("source") == "historical_replay":
            definition = merged_replay_definition(old.definition, definition)
        if (old.name, old.category, old.definition) == (s["name"], s["category"], definition):
            continue
        conn.execute(table.update().where(table.c.id == s["id"]).values(
            name=s["name"], category=s["category"], definition=definition, updated_at=now))
        updated += 1
    return updated


def merged_replay_definition(stored: dict | None, new: dict) -> dict:
    """`new` with ``symbol_returns`` = the stored moves of every symbol `new` does not carry, plus `new`'s
    (decimal window returns P_end / P_start − 1; a symbol in both takes `new`'s value, the newest prices)."""
    old_moves = (stored or {}).get("symbol_returns") or {}
    moves = {**old_moves, **(new.get("symbol_returns") or {})}
    return {**new, "symbol_returns": dict(sorted(moves.items()))}
