"""Planner statistics after a bulk load (db/statistics.py): which tables qualify, and that a client
transaction's bulk load really leaves a young table analysed on PostgreSQL (and a small write does not)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import text

from sigmasight_onboarding.db.bulk import insert_rows
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.models import MarketDataCache, MarketDataGap
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


def test_a_client_transaction_analyses_the_young_table_it_bulk_loaded(db_url):
    if db_url.startswith("sqlite"):
        pytest.skip("planner statistics: PostgreSQL only")
    engine = get_engine(db_url)
    start = date(2020, 1, 1)
    prices = [{"symbol": f"S{i % 40:02d}", "date": start + timedelta(days=i // 40), "adj_close": 10.0 + i,
               "data_source": "file"} for i in range(2_000)]
    gaps = [{"symbol": f"G{i:03d}", "date": start, "reason": "test"} for i in range(500)]
    with client_transaction(engine, "stats@example.com") as conn:  # db.bulk's COPY path and its row count
        insert_rows(conn, MarketDataCache.__table__, prices)
        insert_rows(conn, MarketDataGap.__table__, gaps)
    with engine.connect() as conn:
        analysed = dict(conn.execute(text("SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables "
                                          "WHERE relname IN ('onb_prices', 'onb_price_gaps')")).all())
        estimate = conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'onb_prices'")).scalar_one()
    assert analysed == {"onb_prices": True, "onb_price_gaps": False}  # 2,000 rows into a new table; 500 are too few
    assert estimate == 2_000
