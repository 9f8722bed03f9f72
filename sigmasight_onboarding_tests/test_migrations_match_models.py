"""Our Alembic migrations build exactly the `onb_*` schema the models declare (tables, columns, types,
nullability, indexes, unique constraints, foreign keys), on SQLite and PostgreSQL — so a model change without
its migration (or the reverse) fails here instead of in a deployment."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from sigmasight_onboarding.db import models  # noqa: F401  (registers every onb_* table on Base.metadata)
from sigmasight_onboarding.db.base import Base
from sigmasight_onboarding.db.engine import get_engine


def _ours(name: str | None) -> bool:
    return bool(name) and name.startswith("onb_") and name != "onb_alembic_version"


def _alembic_on(engine):
    """alembic(step, revision): run an Alembic command (command.upgrade / downgrade) on `engine`, in one transaction."""
    from sigmasight_onboarding.db.engine import _alembic_config

    cfg = _alembic_config()

    def alembic(step, revision):
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, revision)

    return alembic


def test_migrated_schema_equals_the_models(db_url):
    engine = get_engine(db_url)  # migrated to head

    def include_object(obj, name, type_, reflected, compare_to):
        if type_ == "table":
            return _ours(name)
        table = getattr(obj, "table", None)
        return table is None or _ours(table.name)

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object, "compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    assert diffs == []
    tables = {t for t in Base.metadata.tables if _ours(t)}
    assert "onb_prices" in tables and len(tables) >= 10
    index_names = {ix.name for ix in Base.metadata.tables["onb_prices"].indexes}
    assert "ix_onb_market_data_date" not in index_names  # dropped by 0008 (reads filter by symbol and date)


def test_0009_rebuilds_the_price_cache_keeping_every_row_up_and_down(db_url):
    """Migration 0009 (onb_prices keyed by (symbol, date)) on a database that already holds prices:
    every row survives the upgrade and the downgrade bit for bit, and the keys are what each side says."""
    from datetime import date, datetime, timezone

    from alembic import command
    from sqlalchemy import inspect, text

    from sigmasight_onboarding.db.engine import head_revision

    engine = get_engine(db_url)  # at head
    alembic = _alembic_on(engine)

    stamp = datetime(2026, 11, 30, 5, 0, 0, 123456, tzinfo=timezone.utc)
    rows = [("AAPL", date(2026, 7, 31), 0.1 + 0.2, None, "file"), ("AAPL", date(2026, 8, 3), 1e-300, 1.0 / 3.0, "fmp"),
            ("^TNX", date(2026, 8, 3), 4.123456789012345, None, "file"), ("ZZZ", date(2026, 8, 3), 7.0, None, "synthetic")]

    def stored():
        with engine.connect() as conn:
            got = conn.execute(text("SELECT symbol, date, adj_close, open, data_source, fetched_at FROM onb_prices "
                                    "ORDER BY symbol, date")).all()
        return [(s, d if isinstance(d, date) else date.fromisoformat(d), a, o, src) for s, d, a, o, src, _ in got], \
            [f for *_, f in got]

    try:
        alembic(command.downgrade, "0008_prices_date_index")
        with engine.begin() as conn:
            for sym, day, adj, opened, source in rows:
                conn.execute(text("INSERT INTO onb_prices (symbol, date, adj_close, open, data_source, fetched_at) "
                                  "VALUES (:s, :d, :a, :o, :src, :f)"),
                             {"s": sym, "d": day, "a": adj, "o": opened, "src": source, "f": stamp})
        before, stamps = stored()
        assert sorted(before) == sorted(rows)
        alembic(command.upgrade, "head")
        assert stored() == (before, stamps)
        inspector = inspect(engine)
        assert inspector.get_pk_constraint("onb_prices")["constrained_columns"] == ["symbol", "date"]
        assert "id" not in {c["name"] for c in inspector.get_columns("onb_prices")}
        assert "ix_onb_prices_synthetic" in {ix["name"] for ix in inspector.get_indexes("onb_prices")}
        alembic(command.downgrade, "0008_prices_date_index")
        assert stored() == (before, stamps)
        assert "id" in {c["name"] for c in inspect(engine).get_columns("onb_prices")}
    finally:
        alembic(command.upgrade, "head")
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM onb_prices"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM onb_alembic_version")).scalar_one() == head_revision()


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_0010_large_json_columns_compress_with_lz4_on_postgresql(db_url):
    """Migration 0010: on PostgreSQL the two large JSON columns of the time series use lz4 (when the server
    offers it), and the downgrade gives them back the server's default."""
    from alembic import command
    from sqlalchemy import text


    engine = get_engine(db_url)  # at head
    alembic = _alembic_on(engine)

    def methods():
        with engine.connect() as conn:
            return dict(conn.execute(text(
                "SELECT c.relname || '.' || a.attname, a.attcompression FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "WHERE (c.relname, a.attname) IN (('onb_stress_test_results', 'position_pnl'), "
                "('onb_portfolio_risk_metrics', 'details'))")).all())

    with engine.connect() as conn:
        offered = conn.execute(text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")).scalar()
    if "lz4" not in (offered or []):
        assert set(methods().values()) == {""}  # a server without lz4 keeps its default
        return
    assert methods() == {"onb_stress_test_results.position_pnl": "l", "onb_portfolio_risk_metrics.details": "l"}
    try:
        alembic(command.downgrade, "0009_prices_keyed_by_symbol_date")
        assert set(methods().values()) == {""}
    finally:
        alembic(command.upgrade, "head")
    assert set(methods().values()) == {"l"}


def test_every_cascade_is_indexed_and_no_index_repeats_a_unique_key(db_url):
    """On the migrated database (read back with SQLAlchemy's inspector, not from the models): every foreign key of
    our tables that cascades on delete is the leading column of an index or a unique/primary key, so a deleted parent finds its children
    without scanning the table (migration 0011 indexed the one that was not); and no single-column index repeats
    the leading column of a multi-column unique key (0011 dropped eleven such)."""
    from sqlalchemy import inspect

    engine = get_engine(db_url)
    inspector = inspect(engine)
    unindexed, repeated = [], []
    for table in (t for t in inspector.get_table_names() if _ours(t)):
        indexes = inspector.get_indexes(table)
        uniques = [u["column_names"] for u in inspector.get_unique_constraints(table)]
        uniques += [ix["column_names"] for ix in indexes if ix.get("unique")]
        leading = {cols[0] for cols in uniques + [ix["column_names"] for ix in indexes]}
        leading |= set(inspector.get_pk_constraint(table)["constrained_columns"][:1])
        for fk in inspector.get_foreign_keys(table):
            cascades = (fk.get("options") or {}).get("ondelete", "").upper() == "CASCADE"
            if cascades and fk["constrained_columns"][0] not in leading:
                unindexed.append(f"{table}.{fk['constrained_columns'][0]}")
        multi_leads = {cols[0] for cols in uniques if len(cols) > 1}
        repeated += [f"{table}.{ix['name']}" for ix in indexes
                     if not ix.get("unique") and len(ix["column_names"]) == 1 and ix["column_names"][0] in multi_leads]
    assert unindexed == [] and repeated == []
