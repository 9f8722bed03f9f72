"""`db.bulk` fast paths (PostgreSQL COPY, SQLite DBAPI executemany; row- and column-wise) and
`read_columns` store and read exactly what SQLAlchemy's executemany and rows do, SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

from sqlalchemy import Integer, select

from sigmasight_onboarding.db.bulk import insert_rows, read_columns, replace_columns, replace_rows
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.models import (
    CorrelationCalculation,
    Portfolio,
    Position,
    PositionInterestRateBeta,
    PositionTag,
    PositionType,
    Tag,
    User,
)
from sigmasight_onboarding_tests.test_bulk_insert import _drivers, _rows

NOW = datetime(2026, 11, 30, 5, 0, 0, 123456, tzinfo=timezone.utc)
AS_OF = date(2026, 8, 3)


def _rate_rows(portfolio_id, positions: list[dict]) -> list[dict]:
    """Floats, NULL floats, NULL bools, ints and text of onb_position_interest_rate_betas."""
    return [{
        "position_id": p["id"], "portfolio_id": portfolio_id, "calculation_date": AS_OF,
        "rate_beta": None if i % 4 == 0 else (i - 7) * 1.2345678901234567e-4, "r_squared": 0.1 + 0.2 if i % 2 else None,
        "t_stat": -3.0000000000000004 if i % 3 else 1e-300, "n_obs": 252 - i, "quality_flag": "full_history" if i % 2 else "q \"x\", y",
        "low_significance": [True, False, None][i % 3], "tlt_beta": 5e-324 if i == 1 else None, "tlt_r_squared": 1.0,
        "exposure_dollars": -894120449.82, "pnl_up_100bp": None, "pnl_up_100bp_repriced": 0.0, "created_at": NOW,
    } for i, p in enumerate(positions)]


def _stored(conn, table, where, order) -> list[tuple]:
    cols = [c for c in table.c if not (c.primary_key and isinstance(c.type, Integer))]  # serial ids differ
    return [tuple(r) for r in conn.execute(select(*cols).where(where).order_by(*order))]


def _utc(stamp: datetime) -> datetime:
    """A stored timestamp in UTC (SQLite returns it naive, PostgreSQL in the session's zone)."""
    return stamp.replace(tzinfo=timezone.utc) if stamp.tzinfo is None else stamp.astimezone(timezone.utc)


def _setup(conn, user_id, portfolio_id) -> None:
    conn.execute(User.__table__.insert(), [{"id": user_id, "email": f"{user_id}@example.com", "full_name": "B",
                                            "hashed_password": "x", "is_active": True, "created_at": NOW, "updated_at": NOW}])
    # no currency, created_at, updated_at: Python-side defaults ("USD", utcnow()) filled in as SQLAlchemy does
    assert insert_rows(conn, Portfolio.__table__, [{"id": portfolio_id, "user_id": user_id, "name": "P", "description": None}]) == 1


def test_fast_paths_store_what_sqlalchemy_stores(db_url):
    for url in _drivers(db_url):
        with get_engine(url).begin() as conn:
            for table in (PositionInterestRateBeta, CorrelationCalculation, PositionTag, Tag, Position, Portfolio, User):
                conn.execute(table.__table__.delete())
        _fast_paths_store_what_sqlalchemy_stores(url)


def _fast_paths_store_what_sqlalchemy_stores(url: str) -> None:
    engine = get_engine(url)
    user_id, portfolio_id = uuid.uuid4(), uuid.uuid4()
    positions = _rows(portfolio_id, 40)
    pt, rt = Position.__table__, PositionInterestRateBeta.__table__
    mine = pt.c.portfolio_id == portfolio_id
    rows_of_day = (rt.c.portfolio_id == portfolio_id) & (rt.c.calculation_date == AS_OF)
    rates = _rate_rows(portfolio_id, positions)
    with engine.begin() as conn:
        _setup(conn, user_id, portfolio_id)
        portfolio = conn.execute(select(Portfolio.__table__).where(Portfolio.__table__.c.id == portfolio_id)).one()
        assert portfolio.currency == "USD" and portfolio.created_at is not None and portfolio.description is None
        assert replace_rows(conn, pt, mine, positions) == 40
        assert replace_rows(conn, rt, rows_of_day, rates) == 40
        assert replace_rows(conn, rt, rows_of_day, rates) == 40  # replaced, not added
        fast_positions = _stored(conn, pt, mine, [pt.c.id])
        fast_rates = _stored(conn, rt, rows_of_day, [rt.c.position_id])
        # column by column: the same rows
        columns = {k: [r[k] for r in positions] for k in positions[0]}
        assert replace_columns(conn, rt, rows_of_day, {"position_id": []}) == 0  # deletes, inserts nothing
        assert replace_columns(conn, pt, mine, columns) == 40
        assert _stored(conn, pt, mine, [pt.c.id]) == fast_positions
        # reads: read_columns holds what SQLAlchemy's rows hold
        stmt = select(pt.c.id, pt.c.position_type, pt.c.quantity, pt.c.strike_price, pt.c.entry_date, pt.c.created_at,
                      pt.c.deleted_at).where(mine).order_by(pt.c.symbol)
        assert [tuple(r) for r in zip(*read_columns(conn, stmt))] == [tuple(r) for r in conn.execute(stmt)]
        assert read_columns(conn, stmt.where(pt.c.symbol == "none")) == [[] for _ in range(7)]
        # a JSON column: SQLAlchemy's executemany
        calc = {"id": uuid.uuid4(), "portfolio_id": portfolio_id, "calculation_date": AS_OF, "duration_days": 90, "min_overlap": 20,
                "overall_correlation": None, "correlation_concentration_score": 0.5, "effective_positions": 3.0,
                "positions_included": 3, "positions_excluded": 1, "excluded": {"X": "option"}, "created_at": NOW}
        ct = CorrelationCalculation.__table__
        assert replace_rows(conn, ct, ct.c.portfolio_id == portfolio_id, [calc]) == 1
        assert conn.execute(select(ct.c.excluded).where(ct.c.id == calc["id"])).scalar_one() == {"X": "option"}
        # a link table without created_at: the Python default (utcnow) is filled in per row
        tag_id = uuid.uuid4()
        conn.execute(Tag.__table__.insert(), [{"id": tag_id, "user_id": user_id, "name": "t", "created_at": NOW}])
        insert_rows(conn, PositionTag.__table__, [{"position_id": p["id"], "tag_id": tag_id} for p in positions[:5]])
        stamps = conn.execute(select(PositionTag.__table__.c.created_at).where(PositionTag.__table__.c.tag_id == tag_id)).scalars().all()
        assert len(stamps) == 5 and all(s is not None for s in stamps)
    with engine.begin() as conn:  # SQLAlchemy's own executemany, for comparison
        conn.execute(rt.delete())
        conn.execute(PositionTag.__table__.delete())
        conn.execute(pt.delete().where(mine))
        conn.execute(pt.insert(), positions)
        conn.execute(rt.insert(), rates)
    with engine.connect() as conn:
        assert _stored(conn, pt, mine, [pt.c.id]) == fast_positions
        assert _stored(conn, rt, rows_of_day, [rt.c.position_id]) == fast_rates
    names = [c.name for c in pt.c]
    stored = {row[0]: dict(zip(names, row)) for row in fast_positions}
    short, option, plain = stored[uuid.UUID(int=10_001)], stored[uuid.UUID(int=10_000)], stored[uuid.UUID(int=10_002)]
    assert Decimal(str(short["quantity"])) == Decimal("-894120449.8205") and short["position_type"] == PositionType.SHORT
    assert option["expiration_date"] == date(2026, 12, 18) and option["strike_price"] == Decimal("500.125")
    assert plain["strike_price"] is None and plain["deleted_at"] is None and plain["entry_date"] == date(2025, 1, 4)
    assert stored[uuid.UUID(int=10_004)]["entry_price"] == Decimal("0.0001")
    assert _utc(option["updated_at"]) == NOW
    rate_names = [c.name for c in rt.c if c.name != "id"]
    by_position = {r[rate_names.index("position_id")]: dict(zip(rate_names, r)) for r in fast_rates}
    first, second = by_position[uuid.UUID(int=10_000)], by_position[uuid.UUID(int=10_001)]
    assert first["rate_beta"] is None and first["low_significance"] is True and first["t_stat"] == 1e-300
    assert second["tlt_beta"] == 5e-324 and second["r_squared"] == 0.1 + 0.2 and second["low_significance"] is False
    assert by_position[uuid.UUID(int=10_002)]["low_significance"] is None
    assert second["quality_flag"] == "full_history" and first["quality_flag"] == 'q "x", y'
    assert first["calculation_date"] == AS_OF and _utc(second["created_at"]) == NOW
