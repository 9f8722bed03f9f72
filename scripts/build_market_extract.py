"""Rebuild the small market-data extract shipped under data/market/.

The full real dataset lives in ../shared/data/market/daily_adj_close.parquet (12,466 symbols,
2022-01-03..2026-08-03). The repository must work without it, so we ship the symbols that the
demo drops, the factor model, the rate model and the tests need.

Usage: python scripts/build_market_extract.py [SOURCE_PARQUET]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "market" / "daily_adj_close.parquet"
TARGET = ROOT / "data" / "market" / "daily_adj_close_extract.parquet"

SYMBOLS = sorted(
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


def main(source: Path = DEFAULT_SOURCE) -> None:
    table = pq.read_table(source, filters=[("symbol", "in", SYMBOLS)])
    table = table.sort_by([("symbol", "ascending"), ("date", "ascending")])
    table = table.cast(table.schema.set(1, table.schema.field("symbol").with_type(__import__("pyarrow").string())))
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, TARGET, compression="zstd")
    print(f"wrote {table.num_rows} rows, {len(pc.unique(table['symbol']))} symbols -> {TARGET}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE)
