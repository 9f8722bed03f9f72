"""`db.bulk.insert_rows` (COPY on PostgreSQL) stores exactly what SQLAlchemy's executemany stores."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.engine import make_url

from sigmasight_onboarding.db.bulk import insert_rows
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.models import Portfolio, Position, PositionTag, PositionType, Tag, User


def _rows(portfolio_id, n: int) -> list[dict]:
    now = datetime(2026, 11, 30, 5, 0, 0, 123456, tzinfo=timezone.utc)
    rows = []
    for i in range(n):
        option = i % 3 == 0
        rows.append({
            "id": uuid.UUID(int=10_000 + i), "portfolio_id": portfolio_id, "symbol": f"SYM{i}" if not option else f"SPY26121{i % 10}C0050{i:04d}",
            "position_type": [PositionType.LONG, PositionType.SHORT, PositionType.LC][i % 3],
            "quantity": Decimal("-894120449.8205") if i % 3 == 1 else Decimal(f"{i + 1}.5000"),
            "entry_price": Decimal("0.0001") if i == 4 else Decimal(f"{100 + i}.25"),
            "entry_date": date(2025, 1, 2) + timedelta(days=i),
            "underlying_symbol": "SPY" if option else None, "strike_price": Decimal("500.125") if option else None,
            "expiration_date": date(2026, 12, 18) if option else None,
            "created_at": now, "updated_at": now + timedelta(microseconds=i), "deleted_at": None,
        })
    return rows


def _stored(conn, portfolio_id) -> list[tuple]:
    table = Position.__table__
    cols = [c for c in table.c if c.name not in ("portfolio_id",)]
    return [tuple(r) for r in conn.execute(select(*cols).where(table.c.portfolio_id == portfolio_id).order_by(table.c.id))]


def _drivers(url: str) -> list[str]:
    """PostgreSQL through both drivers (psycopg 3 COPY write_row, psycopg2 COPY csv); SQLite as it is."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return [url]
    return [parsed.set(drivername=f"postgresql+{d}").render_as_string(hide_password=False) for d in ("psycopg", "psycopg2")]


def test_copy_insert_equals_executemany(db_url):
    for url in _drivers(db_url):
        with get_engine(url).begin() as conn:
            for table in (PositionTag, Tag, Position, Portfolio, User):
                conn.execute(table.__table__.delete())
        _copy_insert_equals_executemany(url)


def _copy_insert_equals_executemany(url: str):
    engine = get_engine(url)
    now = datetime.now(timezone.utc)
    user_id, portfolio_id = uuid.uuid4(), uuid.uuid4()
    rows = _rows(portfolio_id, 50)
    with engine.begin() as conn:
        conn.execute(User.__table__.insert(), [{"id": user_id, "email": "bulk@example.com", "full_name": "B", "hashed_password": "x",
                                                "is_active": True, "created_at": now, "updated_at": now}])
        conn.execute(Portfolio.__table__.insert(), [{"id": portfolio_id, "user_id": user_id, "name": "P", "description": None,
                                                     "currency": "USD", "created_at": now, "updated_at": now}])
        assert insert_rows(conn, Position.__table__, rows) == 50
        tag_id = uuid.uuid4()
        conn.execute(Tag.__table__.insert(), [{"id": tag_id, "user_id": user_id, "name": 'a "quoted", tag', "created_at": now}])
        assert engine.dialect.driver in ("pysqlite", "psycopg", "psycopg2")
        insert_rows(conn, PositionTag.__table__, [{"position_id": r["id"], "tag_id": tag_id} for r in rows[:7]])
    with engine.connect() as conn:
        copied = _stored(conn, portfolio_id)
        links = conn.execute(select(PositionTag.__table__).where(PositionTag.__table__.c.tag_id == tag_id)).all()
    assert len(copied) == 50 and len(links) == 7
    with engine.begin() as conn:
        conn.execute(PositionTag.__table__.delete())
        conn.execute(Position.__table__.delete())
        conn.execute(Position.__table__.insert(), rows)  # SQLAlchemy's own executemany
    with engine.connect() as conn:
        assert _stored(conn, portfolio_id) == copied
    names = [c.name for c in Position.__table__.c if c.name != "portfolio_id"]
    stored = {row[names.index("id")]: dict(zip(names, row)) for row in copied}
    short = stored[uuid.UUID(int=10_001)]
    assert Decimal(str(short["quantity"])) == Decimal("-894120449.8205") and short["position_type"] == PositionType.SHORT
    option = stored[uuid.UUID(int=10_000)]
    assert option["underlying_symbol"] == "SPY" and option["expiration_date"] == date(2026, 12, 18)
    assert stored[uuid.UUID(int=10_002)]["strike_price"] is None and stored[uuid.UUID(int=10_002)]["deleted_at"] is None


def test_insert_ignore_conflicts_skips_existing_rows_and_counts_the_new_ones(db_url):
    """The column-wise fast path (ON CONFLICT DO NOTHING through executemany / COPY into a temporary
    table) inserts only the rows not there yet, reports that number, and stores what SQLAlchemy's own
    INSERT … ON CONFLICT DO NOTHING stores."""
    from sqlalchemy import delete, func
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    from sigmasight_onboarding.db.bulk import insert_ignore_conflicts
    from sigmasight_onboarding.db.models import MarketDataGap

    table = MarketDataGap.__table__
    stamp = datetime(2026, 11, 30, 5, 0, 0, 123456, tzinfo=timezone.utc)
    rows = [{"symbol": f"G{i % 7}", "date": date(2026, 1, 2) + timedelta(days=i // 7), "reason": f"none had it '{i}'",
             "checked_at": stamp} for i in range(700)]
    engine = get_engine(db_url)
    with engine.begin() as conn:
        assert insert_ignore_conflicts(conn, table, rows[:300], ["symbol", "date"]) == 300
        assert insert_ignore_conflicts(conn, table, rows[200:], ["symbol", "date"]) == 400  # 100 already there
        assert insert_ignore_conflicts(conn, table, rows, ["symbol", "date"]) == 0
    with engine.connect() as conn:
        fast = sorted(tuple(r) for r in conn.execute(select(table.c.symbol, table.c.date, table.c.reason, table.c.checked_at)))
    with engine.begin() as conn:
        conn.execute(delete(table))
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(insert(table).on_conflict_do_nothing(index_elements=["symbol", "date"]), rows)
        assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 700
    with engine.connect() as conn:
        reference = sorted(tuple(r) for r in conn.execute(select(table.c.symbol, table.c.date, table.c.reason, table.c.checked_at)))
    assert fast == reference


def test_json_columns_copy_as_sqlalchemy_stores_them(db_url):
    """A table with JSON columns (a NOT NULL one and a nullable one) takes the fast path (COPY / executemany of
    serialised text) and stores what SQLAlchemy's own executemany stores, read back through SQLAlchemy and as the
    database's text: nested objects, lists, unicode, quotes, commas and newlines in strings, numbers, booleans, and
    Python None (JSON null, as SQLAlchemy's JSON type stores it by default), through both PostgreSQL drivers."""
    from sqlalchemy import JSON, Column, Integer, MetaData, Table, cast, String as SAString

    from sigmasight_onboarding.db.bulk import _fast_path_ok

    values = [
        {"AAPL": 1234.56, "MSFT": -0.01, "nested": {"list": [1, 2.5, None, "x"], "flag": True}},
        {"quote": 'a "quoted", comma\nand newline', "é": "ünïcode ✓", "empty": ""},
        [1, 2, 3], "just text", 42, 0.1, False, None, {},
    ]
    for url in _drivers(db_url):
        engine = get_engine(url)
        meta = MetaData()
        table = Table("test_json_copy", meta, Column("id", Integer, primary_key=True), Column("doc", JSON, nullable=False),
                      Column("extra", JSON, nullable=True))
        meta.drop_all(engine)
        meta.create_all(engine)
        rows = [{"id": i, "doc": v, "extra": values[-1 - i]} for i, v in enumerate(values)]
        try:
            with engine.begin() as conn:
                assert _fast_path_ok(conn, table, ["id", "doc", "extra"])
                assert insert_rows(conn, table, rows) == len(rows)
            query = select(table.c.id, table.c.doc, table.c.extra, cast(table.c.doc, SAString), cast(table.c.extra, SAString)).order_by(table.c.id)
            with engine.connect() as conn:
                fast = [tuple(r) for r in conn.execute(query)]
            with engine.begin() as conn:
                conn.execute(table.delete())
                conn.execute(table.insert(), rows)  # SQLAlchemy's executemany: the reference
            with engine.connect() as conn:
                reference = [tuple(r) for r in conn.execute(query)]
            assert fast == reference, url
            assert [r[1] for r in fast] == values
        finally:
            meta.drop_all(engine)
