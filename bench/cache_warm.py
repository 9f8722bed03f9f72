"""Bench-only fast path that fills ``onb_prices`` with what a cold onboarding run would store.

Used for setup only — never inside a timed section: to give a warm measurement a warm cache when
the cold run was skipped (predicted beyond the cold cap), and to set up scenarios D and E.

Rows are those the pipeline's file provider would store for the same symbols and sessions: the
Parquet file's ``adj_close`` (the real file has no OHLC/volume: NULL, as the provider stores
them), ``data_source`` = ``'file'``. Read with pyarrow filters; written with PostgreSQL ``COPY``
(temp table + ``INSERT … ON CONFLICT DO NOTHING``) or a raw SQLite ``executemany`` of
``INSERT OR IGNORE``.
"""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime

COLUMNS = ("symbol", "date", "open", "high", "low", "close", "adj_close", "volume", "data_source", "fetched_at")
OPTIONAL = ("open", "high", "low", "close", "volume")


def _read(path: str, symbols: list[str], sessions: list) -> dict:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    names = set(ds.dataset(path, format="parquet").schema.names)
    cols = ["date", "symbol", "adj_close"] + [c for c in OPTIONAL if c in names]
    table = pq.read_table(path, columns=cols, filters=[("symbol", "in", symbols), ("date", ">=", sessions[0]),
                                                      ("date", "<=", sessions[-1])])
    table = table.filter(pc.is_in(table.column("date"), value_set=pa.array(sessions, type=pa.date32())))
    table = table.filter(pc.and_(pc.is_valid(table.column("adj_close")), pc.greater(table.column("adj_close"), 0)))
    out = {"symbol": table.column("symbol").to_pylist(), "date": table.column("date").to_pylist(),
           "adj_close": table.column("adj_close").to_pylist()}
    n = table.num_rows
    for c in OPTIONAL:
        out[c] = table.column(c).to_pylist() if c in cols else [None] * n
    return out


def warm_cache(engine, symbols: list[str], sessions: list, path: str | None = None) -> dict:
    from sigmasight_onboarding.config import get_settings

    path = path or str(get_settings().market_data_file)
    t0 = time.perf_counter()
    data = _read(path, sorted(set(symbols)), list(sessions))
    n = len(data["symbol"])
    t_read = time.perf_counter() - t0
    now = datetime.now(UTC)
    timings: dict = {}
    t1 = time.perf_counter()
    if engine.dialect.name == "postgresql":
        buf = _csv_buffer(data, now.isoformat(sep=" "))
        timings["encode_s"] = round(time.perf_counter() - t1, 2)
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("SELECT EXISTS (SELECT 1 FROM onb_prices)")
            empty = not cur.fetchone()[0]
            # empty cache (fresh benchmark database): COPY straight in; else via a temp table + ON CONFLICT
            target = "onb_prices" if empty else "bench_mdc"
            if not empty:
                cur.execute("CREATE TEMP TABLE bench_mdc (LIKE onb_prices INCLUDING DEFAULTS) ON COMMIT DROP")
            copy_sql = f"COPY {target} ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv)"
            if hasattr(cur, "copy_expert"):  # psycopg2
                cur.copy_expert(copy_sql, buf)
            else:  # psycopg 3
                with cur.copy(copy_sql) as cp:
                    cp.write(buf.getvalue())
            timings["copy_s"] = round(time.perf_counter() - t1, 2)
            if empty:
                cur.execute("SELECT count(*) FROM onb_prices")
                count = cur.fetchone()[0]
            else:
                cur.execute(f"INSERT INTO onb_prices ({', '.join(COLUMNS)}) SELECT {', '.join(COLUMNS)} "
                            "FROM bench_mdc ORDER BY symbol, date ON CONFLICT (symbol, date) DO NOTHING")
                count = cur.rowcount
            inserted = count
            raw.commit()
            cur.execute("ANALYZE onb_prices")  # what autovacuum does soon after a bulk load
            raw.commit()
        finally:
            raw.close()
    else:
        stamp = now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite DATETIME format
        dates = [d.isoformat() for d in data["date"]]
        rows = zip(data["symbol"], dates, data["open"], data["high"], data["low"], data["close"], data["adj_close"],
                   data["volume"], ["file"] * n, [stamp] * n)
        raw = engine.raw_connection()
        try:
            dbapi = raw.driver_connection
            before = dbapi.total_changes
            cur = dbapi.cursor()
            # setup-only connection settings: a big page cache for the index inserts, no fsync
            cur.execute("PRAGMA cache_size=-1000000")
            cur.execute("PRAGMA synchronous=OFF")
            cur.execute("BEGIN")
            cur.executemany(
                f"INSERT OR IGNORE INTO onb_prices ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                rows,
            )
            cur.execute("COMMIT")
            inserted = dbapi.total_changes - before
            cur.execute("PRAGMA cache_size=-2000")
            cur.execute("PRAGMA synchronous=FULL")
        finally:
            raw.close()
    return {"rows": int(inserted), "rows_read": n, "symbols": len(set(data["symbol"])), "read_s": round(t_read, 2),
            "write_s": round(time.perf_counter() - t1, 2), **timings}


def _csv_buffer(data: dict, stamp: str) -> io.BytesIO:
    """The rows as CSV (COPY … FORMAT csv: an empty unquoted field is NULL), encoded by pyarrow."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    n = len(data["symbol"])
    table = pa.table({
        "symbol": pa.array(data["symbol"], pa.string()),
        "date": pa.array(data["date"], pa.date32()),
        **{c: pa.array(data[c], pa.float64()) for c in ("open", "high", "low", "close", "adj_close", "volume")},
        "data_source": pa.array(["file"] * n, pa.string()),
        "fetched_at": pa.array([stamp] * n, pa.string()),
    }).select(list(COLUMNS))
    out = io.BytesIO()
    pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    out.seek(0)
    return out
