"""The columnar price path: file provider -> onb_prices -> session × symbol matrix, bit for bit.

Every float64 stored from the shipped real-price extract and read back by `read_price_matrix`
(PostgreSQL COPY binary, SQLite column fetch) has exactly the source's bits; the matrix equals
the row-object path (`load_prices` + pivot) cell for cell; re-storing is a no-op.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from sigmasight_onboarding.price_backfill import backfill_prices
from sigmasight_onboarding.calendar import sessions_between
from sigmasight_onboarding.config import SHIPPED_MARKET_DATA
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.price_cache import (
    cached_sessions,
    load_prices,
    price_matrix,
    read_price_matrix,
    store_prices,
)
from sigmasight_onboarding.db.models import MarketDataCache
from sigmasight_onboarding.resources.providers.file import FileProvider

START, END = date(2024, 7, 1), date(2026, 8, 3)


def source_matrix(sessions: list[date]) -> pd.DataFrame:
    table = pq.read_table(SHIPPED_MARKET_DATA, columns=["date", "symbol", "adj_close"]).to_pandas()
    table = table[(table["date"] >= START) & (table["date"] <= END)]
    return table.pivot(index="date", columns="symbol", values="adj_close").reindex(index=sessions)


def test_stored_prices_read_back_bit_identical_to_the_source(db_url, monkeypatch):
    engine = get_engine(db_url)
    sessions = sessions_between(START, END)
    truth = source_matrix(sessions)
    symbols = sorted(truth.columns)
    summary = backfill_prices(engine, FileProvider(path=str(SHIPPED_MARKET_DATA)), symbols, sessions)
    assert summary["rows_added"] == int(truth.notna().to_numpy().sum())

    matrix, synthetic = read_price_matrix(engine, ["ZZZZ"] + symbols, sessions)  # + an unknown symbol
    assert synthetic == set()
    assert list(matrix.index) == sessions and list(matrix.columns) == ["ZZZZ"] + symbols
    assert matrix["ZZZZ"].isna().all()
    got = matrix[symbols].to_numpy()
    want = truth[symbols].to_numpy(dtype=np.float64)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    present = ~np.isnan(want)
    assert np.array_equal(got[present].view(np.int64), want[present].view(np.int64))  # bit for bit

    # PostgreSQL's large-list form (the wanted symbols in an analysed temporary table; SQLite has one form):
    # the same matrix bit for bit, and nothing left behind on the connection
    import sigmasight_onboarding.db.price_cache as price_cache

    monkeypatch.setattr(price_cache, "TEMP_TABLE_SYMBOLS", 1)
    for _ in range(2):  # twice: the temporary table goes with each read's transaction
        large_list, _synthetic = read_price_matrix(engine, ["ZZZZ"] + symbols, sessions)
        assert np.array_equal(large_list.to_numpy().view(np.int64), matrix.to_numpy().view(np.int64))
    monkeypatch.undo()

    # the same matrix as the row-object path (long frame + pivot)
    long = load_prices(engine, symbols, sessions[0], sessions[-1])
    pd.testing.assert_frame_equal(price_matrix(engine, symbols, sessions), price_matrix(engine, symbols, sessions, long=long))
    # the stored column itself, read by SQLAlchemy
    with engine.connect() as conn:
        stored = conn.execute(select(MarketDataCache.symbol, MarketDataCache.date, MarketDataCache.adj_close)).all()
    for sym, day, value in stored[:: max(1, len(stored) // 5000)]:
        assert np.float64(value).view(np.int64) == np.float64(truth.at[day, sym]).view(np.int64)

    # cached sessions per symbol = the sessions with a price
    cached = cached_sessions(matrix)
    assert cached["ZZZZ"] == set()
    assert cached["SPY"] == {d for d in sessions if not np.isnan(truth.at[d, "SPY"])}

    # idempotent: storing the same rows again inserts nothing and changes nothing
    again = FileProvider(path=str(SHIPPED_MARKET_DATA)).daily_prices(symbols, sessions[0], sessions[-1]).prices
    assert store_prices(engine, again[again["date"].isin(set(sessions))]) == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(MarketDataCache)).scalar_one() == len(stored)
    assert backfill_prices(engine, FileProvider(path=str(SHIPPED_MARKET_DATA)), symbols, sessions)["provider_calls"] == 0


def test_read_price_matrix_flags_synthetic_and_ignores_non_sessions(db_url):
    engine = get_engine(db_url)
    sessions = sessions_between(date(2026, 6, 29), date(2026, 7, 7))  # 2026-07-03 is a holiday
    rows = pd.DataFrame({
        "symbol": ["AAA", "AAA", "BBB", "BBB"],
        "date": [date(2026, 7, 2), date(2026, 7, 3), date(2026, 7, 6), date(2026, 7, 7)],
        "open": [1.0 / 3.0, np.nan, np.nan, np.nan], "high": np.nan, "low": np.nan, "close": np.nan,
        "adj_close": [0.1 + 0.2, 7.0, 1e-300, 123456.789012345678],
        "volume": [np.nan, np.nan, np.nan, 1e12],
        "data_source": ["file", "file", "synthetic", "synthetic"],
    })
    before = datetime.now(timezone.utc)
    assert store_prices(engine, rows.iloc[[0, 3]]) == 2  # nothing cached: the straight COPY on PostgreSQL
    assert store_prices(engine, rows) == 2  # two of four cached: the ON CONFLICT path adds the other two
    assert store_prices(engine, rows) == 0
    with engine.connect() as conn:
        stored = {(r.symbol, r.date): r for r in conn.execute(select(MarketDataCache))}
    assert stored[("AAA", date(2026, 7, 2))].open == 1.0 / 3.0 and stored[("AAA", date(2026, 7, 3))].open is None
    assert stored[("BBB", date(2026, 7, 7))].volume == 1e12 and stored[("BBB", date(2026, 7, 6))].volume is None
    assert {r.data_source for r in stored.values()} == {"file", "synthetic"}
    assert all(r.fetched_at is not None and r.high is None for r in stored.values())
    for r in stored.values():  # stamped in UTC by either path (SQLite keeps it naive)
        stamp = r.fetched_at if r.fetched_at.tzinfo else r.fetched_at.replace(tzinfo=timezone.utc)
        assert before - timedelta(seconds=1) <= stamp <= datetime.now(timezone.utc)
    matrix, synthetic = read_price_matrix(engine, ["BBB", "AAA", "CCC"], sessions)
    assert synthetic == {"BBB"}
    assert matrix.shape == (len(sessions), 3)
    assert matrix.at[date(2026, 7, 2), "AAA"] == 0.1 + 0.2
    assert matrix.at[date(2026, 7, 6), "BBB"] == 1e-300
    assert matrix.at[date(2026, 7, 7), "BBB"] == 123456.789012345678
    assert int(matrix.notna().to_numpy().sum()) == 3  # the holiday row is not a session
    empty, none = read_price_matrix(engine, [], sessions)
    assert empty.shape == (len(sessions), 0) and none == set()


def test_file_provider_validates_the_whole_table_with_per_symbol_reasons(tmp_path):
    import pyarrow as pa

    d = [date(2025, 1, 2), date(2025, 1, 3), date(2025, 1, 6)]
    rows = [
        # symbol, date, adj_close, open, volume
        ("OK", d[2], 3.0, None, 5.0), ("OK", d[0], 1.0, None, 5.0), ("OK", d[1], 2.0, None, 5.0),
        ("OK", d[1], 2.0, None, 5.0),  # an exact duplicate row collapses
        ("DUP", d[0], 1.0, None, None), ("DUP", d[1], 2.0, None, None), ("DUP", d[1], 2.5, None, None),
        ("DUP", d[2], -1.0, None, None),  # conflict named first, the bad price after it is not reached
        ("OPEN", d[0], 1.0, 0.0, None), ("OPEN", d[1], 1.0, None, -1.0),
        ("VOL", d[0], 1.0, None, 1.0), ("VOL", d[1], 1.0, None, -1.0), ("VOL", d[2], 1.0, None, float("inf")),
        ("BRK-B", d[0], 7.0, None, None), ("BRK-B", d[1], 8.0, None, None),
        ("NAN", d[1], float("nan"), None, None),
    ]
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({
        "date": pa.array([r[1] for r in rows], type=pa.date32()),
        "symbol": [r[0] for r in rows],
        "adj_close": [r[2] for r in rows],
        "open": pa.array([r[3] for r in rows], type=pa.float64()),
        "volume": pa.array([r[4] for r in rows], type=pa.float64()),
    }), path)
    result = FileProvider(path=str(path)).daily_prices(["VOL", "OK", "DUP", "OPEN", "BRK.B", "BRK-B", "NAN", "NONE"], d[0], d[-1])
    assert result.failures == {
        "VOL": f"negative or non-finite volume on {d[1]} in p.parquet",
        "DUP": f"conflicting rows for {d[1]} in p.parquet",
        "OPEN": f"non-positive or non-finite open on {d[0]} in p.parquet",
        "NAN": f"non-finite adj_close on {d[1]} in p.parquet",
        "NONE": f"not in market data file p.parquet (no rows {d[0]}..{d[-1]})",
    }
    prices = result.prices
    assert list(prices["symbol"]) == ["BRK-B", "BRK-B", "BRK.B", "BRK.B", "OK", "OK", "OK"]  # sorted, spelling asked for
    assert list(prices["date"]) == [d[0], d[1], d[0], d[1], d[0], d[1], d[2]]
    assert list(prices["adj_close"]) == [7.0, 8.0, 7.0, 8.0, 1.0, 2.0, 3.0]
    assert set(prices["data_source"]) == {"file"} and prices["open"].isna().all()
    assert list(prices.index) == list(range(len(prices)))
