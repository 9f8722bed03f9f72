"""Planner statistics after a bulk load (db/statistics.py): which tables qualify, and that a client
transaction's bulk load really leaves a young table analysed on PostgreSQL (and a small write does not)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Column, Float, Integer, MetaData, Table, text

from sigmasight_onboarding.db.bulk import insert_rows
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.onboarding_writer import client_transaction
from sigmasight_onboarding.db.statistics import MIN_ROWS, tables_to_analyse


def test_only_tables_that_grew_by_more_than_a_tenth_with_enough_rows_are_analysed():
    estimates = {"never": -1.0, "young": 10_000.0, "large": 100_000.0, "small": -1.0}
    written = {"never": 1_000, "young": 1_051, "large": 10_050, "unknown": 1_000, "small": 999, "untouched": 0}
    # young: 1,051 > 0.1 × 10,000 + 50; large: 10,050 is not > 0.1 × 100,000 + 50; unknown: no estimate at all;
    # small: never analysed, but fewer than MIN_ROWS (1,000) rows written
    assert MIN_ROWS == 1_000
    assert tables_to_analyse(estimates, written) == ["never", "unknown", "young"]
    assert tables_to_analyse({"young": 10_000.0}, {"young": 1_050}) == []


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_client_transaction_analyses_the_young_table_it_bulk_loaded(db_url):
    """PostgreSQL only (SQLite has no such statistics). Two new tables, so both are young whatever ran before
    on the shared test database: 2,000 rows into one are analysed right after the commit, 500 into the other
    are too few to look at."""
    engine = get_engine(db_url)
    tag = uuid.uuid4().hex[:8]
    meta = MetaData()
    big, small = (Table(f"stats_probe_{name}_{tag}", meta, Column("id", Integer), Column("value", Float))
                  for name in ("big", "small"))
    meta.create_all(engine)
    try:
        with client_transaction(engine, "stats@example.com") as conn:  # db.bulk's COPY path and its row count
            insert_rows(conn, big, [{"id": i, "value": i * 0.5} for i in range(2_000)])
            insert_rows(conn, small, [{"id": i, "value": i * 0.5} for i in range(500)])
        with engine.connect() as conn:
            analysed = dict(conn.execute(text("SELECT relname, analyze_count FROM pg_stat_user_tables WHERE relname IN "
                                              "(:big, :small)"), {"big": big.name, "small": small.name}).all())
            estimate = conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = :big"), {"big": big.name}).scalar_one()
        assert analysed == {big.name: 1, small.name: 0}
        assert estimate == 2_000
    finally:
        meta.drop_all(engine)
