"""Writes and reads of `onb_position_pnl_explain` (the daily P&L explanation per position).

Rows are computed by `analytics.pnl_explain.explain_session_pairs` in the time-series asset; they are
replaced per (client, session) in the same client transaction as the session's snapshot rows, so a
re-run is idempotent and the explanation never disagrees with the stored snapshot. Offboarding
(`db/offboarding.py`) deletes them with the client's other rows (and the position foreign key cascades).
"""

from __future__ import annotations

from datetime import date
from typing import Sequence

import pandas as pd
from sqlalchemy import Connection, and_, select

from sigmasight_onboarding.analytics.pnl_explain import EXPLAIN_COLUMNS
from sigmasight_onboarding.db.bulk import replace_rows
from sigmasight_onboarding.db.models import Position, PositionPnlExplain


def replace_pnl_explain(conn: Connection, portfolio_id, days: Sequence[date], rows: Sequence[dict]) -> int:
    """Delete the portfolio's explanation rows of `days`, insert `rows` (inside the caller's transaction)."""
    t = PositionPnlExplain.__table__
    return replace_rows(conn, t, and_(t.c.portfolio_id == portfolio_id, t.c.calculation_date.in_(list(days))), rows)


def explain_records(portfolio_id, previous_date: date, calculation_date: date, position_ids: Sequence,
                    columns: dict[str, Sequence[float]], created_at) -> list[dict]:
    """Table rows of one session's explanation: ``position_ids`` and, per ``EXPLAIN_COLUMNS`` name, the
    values in the same order (dollars; `analytics.pnl_explain.explain_session_pairs`)."""
    values = [[float(v) for v in columns[c]] for c in EXPLAIN_COLUMNS]
    return [{"position_id": pid, "portfolio_id": portfolio_id, "calculation_date": calculation_date,
             "previous_date": previous_date, **dict(zip(EXPLAIN_COLUMNS, row)), "created_at": created_at}
            for pid, *row in zip(position_ids, *values)]


def load_pnl_explain(conn: Connection, portfolio_id, start: date | None = None, end: date | None = None) -> pd.DataFrame:
    """The portfolio's explanation rows in [start, end] with the position's symbol, sorted by date, symbol."""
    t = PositionPnlExplain
    stmt = (select(t.calculation_date, t.previous_date, Position.symbol, *(getattr(t, c) for c in EXPLAIN_COLUMNS))
            .join(Position, Position.id == t.position_id).where(t.portfolio_id == portfolio_id))
    if start is not None:
        stmt = stmt.where(t.calculation_date >= start)
    if end is not None:
        stmt = stmt.where(t.calculation_date <= end)
    rows = conn.execute(stmt.order_by(t.calculation_date, Position.symbol)).all()
    cols = ["calculation_date", "previous_date", "symbol", *EXPLAIN_COLUMNS]
    frame = pd.DataFrame([tuple(r) for r in rows], columns=cols)
    for c in EXPLAIN_COLUMNS:
        frame[c] = frame[c].astype(float)
    return frame
