"""Bench-only fast path that fills ``market_data_cache`` like a cold onboarding run would.

Used only when the benchmark must skip a cold run (predicted far beyond its time cap) but still
needs a warm cache for the warm measurement. The rows are exactly what the pipeline stores: the
same provider chain (``build_provider_chain``: file provider on the configured Parquet file), the
same sessions (NYSE sessions of as-of − look-back .. as-of), ``data_source`` = provider name.
Only the write is different: PostgreSQL ``COPY`` into a temp table + ``INSERT … ON CONFLICT DO
NOTHING``; SQLite a raw DB-API ``executemany`` of ``INSERT OR IGNORE``.
"""

from __future__ import annotations

import io
import math
import time
from datetime import UTC, datetime

COLUMNS = ("symbol", "date", "open", "high", "low", "close", "adj_close", "volume", "data_source", "fetched_at")


def _f(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def warm_cache(engine, symbols: list[str], sessions: list) -> dict:
    from sigmasight_onboarding.resources.market_data import build_provider_chain

    t0 = time.perf_counter()
    chain = build_provider_chain()
    result = chain.daily_prices(sorted(set(symbols)), sessions[0], sessions[-1])
    prices = result.prices[result.prices["date"].isin(set(sessions))]
    t_fetch = time.perf_counter() - t0
    now = datetime.now(UTC).replace(tzinfo=None)
    cols = ["symbol", "date", "open", "high", "low", "close", "adj_close", "volume", "data_source"]
    frame = prices[cols]
    t1 = time.perf_counter()
    if engine.dialect.name == "postgresql":
        buf = io.StringIO()
        out = frame.copy()
        out["fetched_at"] = now.isoformat(sep=" ") + "+00"
        out.to_csv(buf, index=False, header=False, na_rep="\\N")
        buf.seek(0)
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("CREATE TEMP TABLE bench_mdc (LIKE market_data_cache INCLUDING DEFAULTS) ON COMMIT DROP")
            copy_sql = f"COPY bench_mdc ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
            if hasattr(cur, "copy_expert"):  # psycopg2
                cur.copy_expert(copy_sql, buf)
            else:  # psycopg 3
                with cur.copy(copy_sql) as cp:
                    cp.write(buf.getvalue())
            cur.execute(
                f"INSERT INTO market_data_cache ({', '.join(COLUMNS)}) SELECT {', '.join(COLUMNS)} FROM bench_mdc "
                "ON CONFLICT (symbol, date) DO NOTHING"
            )
            inserted = cur.rowcount
            raw.commit()
        finally:
            raw.close()
    else:
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        rows = [
            (s, d.isoformat(), _f(o), _f(h), _f(lo), _f(c), float(a), _f(v), src, stamp)
            for s, d, o, h, lo, c, a, v, src in frame.itertuples(index=False, name=None)
        ]
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            dbapi = raw.driver_connection
            before = dbapi.total_changes
            cur.execute("BEGIN")
            cur.executemany(
                f"INSERT OR IGNORE INTO market_data_cache ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                rows,
            )
            cur.execute("COMMIT")
            inserted = dbapi.total_changes - before
        finally:
            raw.close()
    return {"rows": int(inserted), "symbols": int(frame["symbol"].nunique()), "fetch_s": round(t_fetch, 2),
            "write_s": round(time.perf_counter() - t1, 2), "failures": len(result.failures)}
