"""Build the market data shipped under data/market/ from the real dataset.

The full real dataset lives in ../shared/data/market/daily_adj_close.parquet (12,466 symbols,
2022-01-03..2026-08-03, 42 MB). A clean clone does not have it, so the repository ships:

* ``data/market/daily_adj_close_us.parquet`` — the embedded default of the file provider: every
  US stock and ETF of the real data with a valid price on *every* NYSE session of the default
  onboarding window (the 730-day price look-back and the 30 onboarded sessions with the risk
  history behind them, ending at the newest session of the data), with **all** its rows, plus
  ``^TNX``/``^IRX``. float64 prices (byte-stream-split), dictionary-encoded symbols, sorted by
  (symbol, date) in small row groups so a reader that filters on symbols decodes only the row
  groups holding them. The script refuses to write more than ``--max-mb`` (25 MB).
* ``data/market/daily_adj_close_extract.parquet`` (``--small``) — the 93-symbol extract the tests
  are written against (demo drops, factor ETFs, rates; full 2022.. history).

Usage: python scripts/build_market_extract.py [--small] [--source PARQUET] [--max-mb 25]
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sigmasight_onboarding.calendar import sessions_between  # noqa: E402

DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "market" / "daily_adj_close.parquet"
TARGET = ROOT / "data" / "market" / "daily_adj_close_us.parquet"
SMALL_TARGET = ROOT / "data" / "market" / "daily_adj_close_extract.parquet"

# What a default onboarding reads (see config.py and assets/timeseries.py): the price look-back in
# calendar days, the sessions it materialises and the risk history each session needs
# (252-session VaR look-back + 250-session backtest + 5).
PRICE_LOOKBACK_DAYS = 730
ONBOARD_SESSIONS = 30
HISTORY_SESSIONS = 252 + 250 + 5

RATES = ["^TNX", "^IRX"]
FACTOR_ETFS = ["SPY", "VTV", "VUG", "MTUM", "QUAL", "IWM", "USMV", "TLT", "SLY", "SIZE"]
ROW_GROUP_ROWS = 32 * 1024  # ≈ 28 symbols of full history per row group

SMALL_SYMBOLS = sorted(
    set(
        """
        AAPL MSFT AMZN GOOGL GOOG NVDA META JPM JNJ V PG HD KO VTI BND VNQ SCHD VXUS BRK-B XOM CVX
        PFE MRK ABBV LLY COST WMT DIS NKE QQQ IEF GLD VEA VWO AVGO CRM ADBE AMD NFLX ORCL NOW UBER
        TSLA F GM INTC PYPL SNAP RIVN LCID PLTR SHOP XYZ COIN ZM PTON CVNA SPY VTV VUG MTUM QUAL
        IWM USMV SIZE ^TNX ^IRX TLT SHY XLK XLF XLE MA BAC WFC GS MS C T VZ PEP MCD SBUX LOW TGT
        CAT DE BA GE MMM HON UPS ABNB
        """.split()
    )
)


def window_start(last_session: date) -> date:
    """First session a default onboarding as of `last_session` reads."""
    sessions = sessions_between(last_session - timedelta(days=3 * 365), last_session)
    by_sessions = sessions[-(ONBOARD_SESSIONS - 1 + HISTORY_SESSIONS)]
    by_days = sessions_between(last_session - timedelta(days=PRICE_LOOKBACK_DAYS), last_session)[0]
    return min(by_sessions, by_days)


def complete_symbols(table: pa.Table, start: date, end: date) -> tuple[list[str], int]:
    """Symbols with a finite positive price on every NYSE session of [start, end]."""
    n_sessions = len(sessions_between(start, end))
    window = table.filter(pc.and_(pc.greater_equal(table["date"], pa.scalar(start, pa.date32())),
                                  pc.less_equal(table["date"], pa.scalar(end, pa.date32()))))
    valid = window.filter(pc.and_(pc.is_finite(window["adj_close"]), pc.greater(window["adj_close"], 0.0)))
    counts = valid.group_by("symbol").aggregate([("date", "count_distinct")])
    full = counts.filter(pc.equal(counts["date_count_distinct"], n_sessions))["symbol"].to_pylist()
    # indices other than the two rate series are not tradable symbols
    return sorted(s for s in full if not s.startswith("^") or s in RATES), n_sessions


def write(table: pa.Table, target: Path, row_group_rows: int) -> None:
    table = table.sort_by([("symbol", "ascending"), ("date", "ascending")])
    table = table.select(["symbol", "date", "adj_close"])
    table = table.set_column(0, "symbol", pc.cast(table["symbol"], pa.string()))
    table = table.replace_schema_metadata(None)
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        table,
        target,
        compression="zstd",
        compression_level=19,
        use_dictionary=["symbol"],
        column_encoding={"date": "DELTA_BINARY_PACKED", "adj_close": "BYTE_STREAM_SPLIT"},
        row_group_size=row_group_rows,
        sorting_columns=[pq.SortingColumn(0), pq.SortingColumn(1)],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--small", action="store_true", help="rebuild the tests' 93-symbol extract instead")
    parser.add_argument("--max-mb", type=float, default=25.0)
    parser.add_argument("--target", type=Path, default=None)
    args = parser.parse_args(argv)

    source = pq.read_table(args.source, columns=["date", "symbol", "adj_close"])
    source = source.set_column(1, "symbol", pc.cast(source["symbol"], pa.string()))
    if args.small:
        target = args.target or SMALL_TARGET
        write(source.filter(pc.is_in(source["symbol"], value_set=pa.array(SMALL_SYMBOLS))), target, 1024 * 1024)
        print(f"wrote {len(SMALL_SYMBOLS)} symbols -> {target} ({target.stat().st_size / 1e6:.1f} MB)")
        return 0

    target = args.target or TARGET
    last = pc.max(source["date"]).as_py()
    start = window_start(last)
    symbols, n_sessions = complete_symbols(source, start, last)
    present = set(pc.unique(source["symbol"]).to_pylist())
    required = [s for s in RATES + FACTOR_ETFS if s in present]
    missing = [s for s in required if s not in symbols]
    if missing:
        print(f"error: {missing} lack complete coverage of {start}..{last}", file=sys.stderr)
        return 1
    table = source.filter(pc.is_in(source["symbol"], value_set=pa.array(symbols)))
    write(table, target, ROW_GROUP_ROWS)
    size_mb = target.stat().st_size / 1e6
    print(
        f"window {start}..{last} ({n_sessions} sessions): {len(symbols)} symbols complete, "
        f"{table.num_rows:,} rows -> {target} ({size_mb:.1f} MB); "
        f"absent from the source: {sorted(set(RATES + FACTOR_ETFS) - present) or 'none'}"
    )
    if size_mb > args.max_mb:
        target.unlink()
        print(f"error: {size_mb:.1f} MB exceeds --max-mb {args.max_mb}; nothing written", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
