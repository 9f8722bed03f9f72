"""An ordinary 40-name US long/short book with options onboards to READY on the embedded defaults.

No market-data configuration at all: the file provider reads the shipped
data/market/daily_adj_close_us.parquet. ISRG, LYFT, ROKU, TMO and the other names below were not in
the 93-symbol extract that used to be the default.
"""

from __future__ import annotations

import re

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from sigmasight_onboarding.cli import main
from sigmasight_onboarding.config import DEFAULT_MARKET_DATA, SHIPPED_MARKET_DATA, get_settings
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.models import MarketDataCache

from .conftest import write_drop

EMAIL = "ordinary.book@example.com"

LONGS = [  # symbol, quantity, entry price, entry date, tags
    ("ISRG", 400, 483.44, "2024-09-03", "Long Healthcare"), ("TMO", 300, 602.26, "2024-09-03", "Long Healthcare"),
    ("ROKU", 2000, 65.22, "2024-09-03", "Long Media"), ("LYFT", 9000, 11.35, "2024-09-03", "Long Mobility"),
    ("UNP", 500, 245.27, "2024-09-03", "Long Industrials"), ("ADP", 400, 262.66, "2024-09-03", "Long Quality"),
    ("SYK", 300, 352.81, "2024-09-03", "Long Healthcare"), ("ETN", 350, 283.57, "2024-09-03", "Long Industrials"),
    ("LIN", 200, 461.95, "2024-09-03", "Long Quality"), ("NEE", 1200, 75.92, "2024-09-03", "Long Utilities"),
    ("AMGN", 300, 313.00, "2024-09-03", "Long Healthcare"), ("GILD", 1200, 75.25, "2024-09-03", "Long Healthcare"),
    ("MAR", 400, 227.09, "2024-09-03", "Long Travel"), ("HLT", 400, 214.83, "2024-09-03", "Long Travel"),
    ("ROST", 600, 148.69, "2024-09-03", "Long Retail"), ("TJX", 800, 115.04, "2024-09-03", "Long Retail"),
    ("MU", 1000, 88.03, "2024-09-03", "Long Semis"), ("LRCX", 1200, 75.27, "2024-09-03", "Long Semis"),
    ("KLAC", 1200, 73.12, "2024-09-03", "Long Semis"), ("PANW", 500, 177.54, "2024-09-03", "Long Software"),
    ("CRWD", 1200, 66.65, "2024-09-03", "Long Software"), ("DDOG", 700, 111.48, "2024-09-03", "Long Software"),
    ("SNOW", 700, 110.41, "2024-09-03", "Long Software"), ("ADI", 400, 213.00, "2024-09-03", "Long Semis"),
]
SHORTS = [
    ("CMG", -2000, 53.52, "2024-09-03", "Short Consumer"), ("DHR", -300, 260.92, "2024-09-03", "Short Healthcare"),
    ("ELV", -150, 542.16, "2024-09-03", "Short Healthcare"), ("CI", -200, 351.27, "2024-09-03", "Short Healthcare"),
    ("MRNA", -1200, 72.94, "2024-09-03", "Short Biotech"), ("ETSY", -1500, 54.76, "2024-09-03", "Short Consumer"),
    ("QCOM", -400, 156.43, "2024-09-03", "Short Semis"), ("W", -2000, 40.90, "2024-09-03", "Short Consumer"),
]
OPTIONS = [  # type, underlying, quantity, premium, strike, expiry (OCC date), entry date
    ("LC", "ISRG", 10, 30.10, 380, "261218", "2026-05-01"), ("LP", "TMO", 5, 25.40, 560, "261218", "2026-05-01"),
    ("LC", "ROKU", 20, 14.80, 150, "261218", "2026-05-01"), ("LC", "LYFT", 100, 1.95, 17, "261218", "2026-05-01"),
    ("LP", "SPY", 10, 21.30, 720, "261218", "2026-05-01"), ("LP", "QQQ", 10, 24.60, 660, "261218", "2026-05-01"),
    ("SC", "MU", -5, 80.00, 900, "261218", "2026-05-01"), ("SP", "HCA", -5, 18.20, 380, "261218", "2026-05-01"),
]


def book_csv() -> str:
    rows = []
    for sym, qty, price, day, tags in LONGS:
        rows.append(f"{sym},{qty},{price:.2f},LONG,{day},{tags},,,")
    for sym, qty, price, day, tags in SHORTS:
        rows.append(f"{sym},{qty},{price:.2f},SHORT,{day},{tags},,,")
    for kind, und, qty, premium, strike, yymmdd, day in OPTIONS:
        cp = "C" if kind in ("LC", "SC") else "P"
        occ = f"{und}{yymmdd}{cp}{strike * 1000:08d}"
        expiry = f"20{yymmdd[:2]}-{yymmdd[2:4]}-{yymmdd[4:]}"
        rows.append(f'{occ},{qty},{premium:.2f},{kind},{day},"Options Overlay",{und},{strike:.2f},{expiry}')
    return "\n".join(rows) + "\n"


def test_book_is_ordinary_and_not_in_the_old_extract():
    symbols = {s for s, *_ in LONGS + SHORTS}
    assert len(LONGS) + len(SHORTS) + len(OPTIONS) == 40
    assert len(SHORTS) >= 8 and len(OPTIONS) == 8
    old = set(pq.read_table(SHIPPED_MARKET_DATA, columns=["symbol"])["symbol"].to_pylist())
    assert {"ISRG", "LYFT", "ROKU", "TMO"} <= symbols - old


def test_ordinary_long_short_book_with_options_onboards_ready_on_defaults(env, monkeypatch, capsys):
    for name in ("SIGMASIGHT_MARKET_DATA_FILE", "SIGMASIGHT_PROVIDERS", "SIGMASIGHT_AS_OF",
                 "SIGMASIGHT_ALLOW_SYNTHETIC", "SIGMASIGHT_API_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = get_settings()
    assert settings.market_data_file == DEFAULT_MARKET_DATA and settings.providers == ("file",)

    folder = write_drop(env["imports"], EMAIL, book_csv())
    code = main(["onboard", str(folder)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "positions:     40" in out
    assert "30/30 sessions" in out
    assert re.search(r"verification:\s+READY", out), out
    assert "0 symbol(s) failed" in out
    assert "verification:  READY (checks 7/7 passed, 1 skipped)" in out  # live_api skipped, not passed

    # every held symbol's prices are the real ones, labelled with the file provider
    held = sorted({s for s, *_ in LONGS + SHORTS} | {o[1] for o in OPTIONS})
    with get_engine(env["db_url"]).connect() as conn:
        rows = conn.execute(
            select(MarketDataCache.symbol, MarketDataCache.data_source, func.count())
            .where(MarketDataCache.symbol.in_(held)).group_by(MarketDataCache.symbol, MarketDataCache.data_source)
        ).all()
    assert {r[0] for r in rows} == set(held)
    assert {r[1] for r in rows} == {"file"}
    with get_engine(env["db_url"]).connect() as conn:
        cached = pd.DataFrame(conn.execute(
            select(MarketDataCache.symbol, MarketDataCache.date, MarketDataCache.adj_close)
            .where(MarketDataCache.symbol.in_(["ISRG", "LYFT", "ROKU", "TMO"]))).all(), columns=["symbol", "date", "adj_close"])
    truth = pd.read_parquet(DEFAULT_MARKET_DATA, filters=[("symbol", "in", ["ISRG", "LYFT", "ROKU", "TMO"]),
                                                          ("date", ">=", cached["date"].min())])
    merged = cached.merge(truth, on=["symbol", "date"], suffixes=("", "_truth"), how="left")
    assert len(merged) == len(cached) and merged["adj_close_truth"].notna().all()
    assert (merged["adj_close"] - merged["adj_close_truth"]).abs().max() < 1e-9


@pytest.mark.parametrize("symbol", ["ISRG", "LYFT", "ROKU", "TMO", "^TNX", "^IRX", "SPY", "VTV", "VUG", "MTUM",
                                    "QUAL", "IWM", "USMV", "TLT", "SIZE", "BRK-B"])
def test_default_market_data_has_the_symbols_a_book_needs(symbol):
    frame = pd.read_parquet(DEFAULT_MARKET_DATA, filters=[("symbol", "==", symbol)])
    assert len(frame) >= 500 and frame["date"].max() == pd.Timestamp("2026-08-03").date()
    assert (frame["adj_close"] > 0).all()


def test_default_market_data_is_small_sorted_and_prunable():
    """≤ 25 MB; sorted by (symbol, date) so each row group holds a disjoint symbol range and a
    symbol filter decodes only the row groups that hold the symbols asked for."""
    assert DEFAULT_MARKET_DATA.stat().st_size <= 25_000_000
    meta = pq.ParquetFile(DEFAULT_MARKET_DATA).metadata
    assert meta.num_row_groups > 100
    col = [meta.schema.column(i).name for i in range(meta.num_columns)].index("symbol")
    ranges = [(meta.row_group(i).column(col).statistics.min, meta.row_group(i).column(col).statistics.max)
              for i in range(meta.num_row_groups)]
    assert all(lo <= hi for lo, hi in ranges)
    assert all(ranges[i][1] <= ranges[i + 1][0] for i in range(len(ranges) - 1))
    wanted = ["ISRG", "TMO"]
    touched = [i for i, (lo, hi) in enumerate(ranges) if any(lo <= s <= hi for s in wanted)]
    assert len(touched) <= 4  # of > 100 row groups
    table = pq.ParquetFile(DEFAULT_MARKET_DATA).read_row_groups(touched)
    assert set(wanted) <= set(table.column("symbol").to_pylist())
