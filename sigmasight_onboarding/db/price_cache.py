"""The shared price cache `market_data_cache`: what is missing, bulk upserts, price matrices."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine, and_, bindparam, select, text
from sqlalchemy.exc import IntegrityError

from sigmasight_onboarding.db.bulk import dbapi_cursor, insert_ignore_conflicts
from sigmasight_onboarding.db.models import MarketDataCache, MarketDataGap, utcnow

# Known gaps this recent are asked for again (a provider may publish a session late).
GAP_RECHECK_SESSIONS = 5


def cached_dates(engine: Engine, symbols: Sequence[str], start: date, end: date) -> dict[str, set[date]]:
    """Sessions with a cached price, per symbol, within [start, end]."""
    have: dict[str, set[date]] = {s: set() for s in symbols}
    if not symbols:
        return have
    with engine.connect() as conn:
        rows = conn.execute(
            select(MarketDataCache.symbol, MarketDataCache.date).where(
                MarketDataCache.symbol.in_(list(symbols)), MarketDataCache.date >= start, MarketDataCache.date <= end
            )
        )
        for sym, day in rows:
            have[sym].add(day)
    return have


def missing_ranges(sessions: Sequence[date], have: set[date]) -> list[tuple[date, date]]:
    """Contiguous runs of `sessions` (sorted) that are not in `have`, as inclusive (start, end)."""
    runs: list[tuple[date, date]] = []
    start = prev = None
    for day in sessions:
        if day in have:
            if start is not None:
                runs.append((start, prev))
                start = None
            continue
        if start is None:
            start = day
        prev = day
    if start is not None:
        runs.append((start, prev))
    return runs


def plan_fetches(
    engine: Engine, symbols: Sequence[str], sessions: Sequence[date], cached: dict[str, set[date]] | None = None
) -> dict[tuple[date, date], list[str]]:
    """Group symbols by the (start, end) span of their missing sessions: one provider call per group.

    Missing = not cached and not a known gap (gaps of the last GAP_RECHECK_SESSIONS sessions are
    asked for again). A symbol with several holes is asked for the span from its first to its
    last missing session; rows already cached are ignored on insert. `cached` (from
    `cached_sessions` of a matrix read already) saves the cache query.
    """
    if not sessions:
        return {}
    if cached is None:
        cached = cached_dates(engine, symbols, sessions[0], sessions[-1])
    gaps = known_gaps(engine, symbols, sessions[0], sessions[-1])
    recent = set(sessions[-GAP_RECHECK_SESSIONS:])
    groups: dict[tuple[date, date], list[str]] = {}
    for sym in symbols:
        present = cached.get(sym, set()) | (gaps.get(sym, set()) - recent)
        runs = missing_ranges(sessions, present)
        if runs:
            groups.setdefault((runs[0][0], runs[-1][1]), []).append(sym)
    return groups


def known_gaps(engine: Engine, symbols: Sequence[str], start: date, end: date) -> dict[str, set[date]]:
    """Sessions recorded in market_data_gaps, per symbol, within [start, end]."""
    out: dict[str, set[date]] = {}
    if not symbols:
        return out
    with engine.connect() as conn:
        for sym, day in conn.execute(
            select(MarketDataGap.symbol, MarketDataGap.date).where(
                MarketDataGap.symbol.in_(list(symbols)), MarketDataGap.date >= start, MarketDataGap.date <= end
            )
        ):
            out.setdefault(sym, set()).add(day)
    return out


PRICE_STORE_COLUMNS = ("symbol", "date", "open", "high", "low", "close", "adj_close", "volume", "data_source", "fetched_at")
_LOAD_TABLE = "tmp_onb_prices_load"
# rows per SQLite executemany (bounds the Python tuples alive at once)
SQLITE_CHUNK_ROWS = 200_000
SQLITE_CACHE_KIB = 256 * 1024
# PostgreSQL: refresh the table's statistics after a bulk insert of at least this many rows
ANALYZE_AFTER_ROWS = 100_000


def store_prices(engine: Engine, prices: pd.DataFrame) -> int:
    """Bulk insert provider rows (PRICE_COLUMNS); rows already cached are left as they are.

    Returns the number of rows inserted. All rows go in one transaction, column-wise (NaN ->
    NULL): PostgreSQL streams the table as CSV written by Arrow (shortest round-trip float text,
    so every float64 arrives bit-exact) with COPY straight into onb_prices (or, when some rows are
    cached already, into a temporary table and then one INSERT … SELECT … ON CONFLICT (symbol, date)
    DO NOTHING); SQLite runs one executemany of INSERT OR IGNORE per chunk of SQLITE_CHUNK_ROWS rows.
    """
    if prices.empty:
        return 0
    with engine.begin() as conn:
        postgresql = conn.dialect.name == "postgresql"
        inserted = _store_prices_postgresql(conn, prices) if postgresql else _store_prices_sqlite(conn, prices)
    if postgresql and inserted >= ANALYZE_AFTER_ROWS:
        # fresh planner statistics: the window read then hashes the symbols instead of sorting
        # millions of rows on disk (autovacuum would get there, but only later)
        with engine.begin() as conn:
            conn.exec_driver_sql('ANALYZE "onb_prices"')
    return inserted


def _float_cells(values: np.ndarray) -> list:
    cells = values.astype(object)
    cells[~np.isfinite(values)] = None
    return cells.tolist()


def _sql_literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


_OPTIONAL_FLOATS = ("open", "high", "low", "close", "volume")


def _store_prices_sqlite(conn, prices: pd.DataFrame) -> int:
    """Chunked executemany; per chunk only the columns that vary are bound (all-NULL optional
    columns are left out, a single data_source and the fetched_at stamp are literals): half the
    binding work of ten parameters per row."""
    table = MarketDataCache.__table__
    # the dialect's own processors (the generic types have none): ISO text, bound once per distinct day
    date_bind = table.c.date.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    stamp_bind = table.c.fetched_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    now = utcnow()
    stamp = stamp_bind(now) if stamp_bind else now
    with dbapi_cursor(conn) as cursor:
        # a page cache big enough for the indexes being extended (the default 2 MB makes every
        # insert into the date index re-read pages): set for this connection, memory only as used
        previous_cache = cursor.execute("PRAGMA cache_size").fetchone()[0]
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        inserted = 0
        for lo in range(0, len(prices), SQLITE_CHUNK_ROWS):
            chunk = prices.iloc[lo : lo + SQLITE_CHUNK_ROWS]
            days = chunk["date"].to_numpy(dtype=object)
            text_days = {d: (date_bind(d) if date_bind else d) for d in pd.unique(days)}  # ~500 distinct
            names = ["symbol", "date", "adj_close"]
            columns = [chunk["symbol"].astype(str).tolist(), [text_days[d] for d in days],
                       _float_cells(chunk["adj_close"].to_numpy(dtype=float))]
            for col in _OPTIONAL_FLOATS:
                values = chunk[col].to_numpy(dtype=float)
                if np.isfinite(values).any():
                    names.append(col)
                    columns.append(_float_cells(values))
            literals = {"fetched_at": _sql_literal(stamp)}
            sources = pd.unique(chunk["data_source"].astype(str).to_numpy(dtype=object))
            if len(sources) == 1:
                literals["data_source"] = _sql_literal(sources[0])
            else:
                names.append("data_source")
                columns.append(chunk["data_source"].astype(str).tolist())
            quoted = ", ".join(f'"{c}"' for c in [*names, *literals])
            marks = ", ".join(["?"] * len(names) + list(literals.values()))
            cursor.executemany(f'INSERT OR IGNORE INTO "{table.name}" ({quoted}) VALUES ({marks})', zip(*columns))
            inserted += max(cursor.rowcount or 0, 0)
            del columns
        cursor.execute(f"PRAGMA cache_size = {int(previous_cache)}")  # the pooled connection gives the pages back
    return inserted


def _arrow_prices(prices: pd.DataFrame) -> "pa.Table":
    """The rows as Arrow columns: symbol, date (date32), the float columns (NaN -> null; an optional
    column that is NULL throughout is left out) and data_source. `fetched_at` is left to the
    server's default (the transaction's timestamp)."""
    import pyarrow as pa

    floats = {c: prices[c].to_numpy(dtype=float) for c in ("open", "high", "low", "close", "adj_close", "volume")}
    floats = {c: v for c, v in floats.items() if c == "adj_close" or np.isfinite(v).any()}
    return pa.table({
        "symbol": pa.array(prices["symbol"].astype(str).to_numpy(dtype=object), type=pa.string()),
        "date": pa.array(prices["date"].to_numpy(dtype=object), type=pa.date32()),
        **{c: pa.array(v, type=pa.float64(), from_pandas=True) for c, v in floats.items()},  # NaN -> null
        "data_source": pa.array(prices["data_source"].astype(str).to_numpy(dtype=object), type=pa.string()),
    })


COPY_CHUNK_ROWS = 65_536  # rows per CSV chunk: the next chunk is written while the server parses the last


def _csv_chunks(table: "pa.Table"):
    """The table as CSV (no header) in chunks of COPY_CHUNK_ROWS rows, written on demand."""
    import io

    import pyarrow.csv as pacsv

    options = pacsv.WriteOptions(include_header=False)
    for lo in range(0, table.num_rows, COPY_CHUNK_ROWS):
        buffer = io.BytesIO()
        pacsv.write_csv(table.slice(lo, COPY_CHUNK_ROWS), buffer, options)
        yield buffer.getvalue()


class _ChunkReader:
    """A file-like view of a chunk generator, for psycopg2's copy_expert."""

    def __init__(self, chunks):
        self._chunks, self._rest = chunks, b""

    def read(self, size: int = -1) -> bytes:
        while not self._rest:
            self._rest = next(self._chunks, None)
            if self._rest is None:
                return b""
        if size is None or size < 0:
            size = len(self._rest)
        out, self._rest = self._rest[:size], self._rest[size:]
        return out

    readline = read


def _copy_csv(conn, copy_sql: str, table: "pa.Table") -> None:
    """Stream the table as CSV through COPY … FROM STDIN (psycopg 3 or psycopg2), chunk by chunk."""
    with dbapi_cursor(conn) as cursor:
        if hasattr(cursor, "copy"):  # psycopg 3
            with cursor.copy(copy_sql) as copy:
                for chunk in _csv_chunks(table):
                    copy.write(chunk)
        else:  # psycopg2
            cursor.copy_expert(copy_sql, _ChunkReader(_csv_chunks(table)), size=1 << 20)


def _store_prices_postgresql(conn, prices: pd.DataFrame) -> int:
    """Fast path: one COPY straight into onb_prices inside a savepoint — the usual case, where none of
    the rows is cached yet (a cold fetch, a new session). If any row is already there (a fetch span
    around a hole, or a concurrent run that committed the same rows meanwhile) the COPY fails on the
    primary key, the savepoint is rolled back, and the rows go through a temporary table and one
    INSERT … ON CONFLICT (symbol, date) DO NOTHING (same result: cached rows are left as they are)."""
    table = _arrow_prices(prices)
    quoted = ", ".join(f'"{c}"' for c in table.column_names)
    integrity_error = conn.dialect.dbapi.IntegrityError
    try:
        with conn.begin_nested():
            _copy_csv(conn, f'COPY "onb_prices" ({quoted}) FROM STDIN WITH (FORMAT csv)', table)
        return table.num_rows
    except (integrity_error, IntegrityError):
        pass
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {_LOAD_TABLE} (symbol text, date date, open float8, high float8, low float8, "
        "close float8, adj_close float8, volume float8, data_source text) ON COMMIT DROP"
    )
    conn.exec_driver_sql(f"TRUNCATE {_LOAD_TABLE}")
    _copy_csv(conn, f"COPY {_LOAD_TABLE} ({quoted}) FROM STDIN WITH (FORMAT csv)", table)
    result = conn.exec_driver_sql(
        f'INSERT INTO "onb_prices" ({quoted}) SELECT {quoted} FROM {_LOAD_TABLE} ON CONFLICT (symbol, date) DO NOTHING'
    )
    return max(result.rowcount or 0, 0)


def record_gaps(engine: Engine, gaps: dict[str, Iterable[date]], reason: str) -> int:
    now = utcnow()
    rows = [
        {"symbol": sym, "date": day, "reason": reason[:255], "checked_at": now}
        for sym, days in gaps.items()
        for day in days
    ]
    with engine.begin() as conn:
        return insert_ignore_conflicts(conn, MarketDataGap.__table__, rows, ["symbol", "date"])


def load_prices(engine: Engine, symbols: Sequence[str], start: date, end: date) -> pd.DataFrame:
    """Long frame (symbol, date, adj_close, data_source) of cached prices in [start, end]."""
    if not symbols:
        return pd.DataFrame(columns=["symbol", "date", "adj_close", "data_source"])
    # A textual query returns raw driver values (no per-row type processing: millions of rows on
    # big books); SQLite's ISO date strings are converted once, column-wise.
    query = text(
        "SELECT symbol, date, adj_close, data_source FROM onb_prices "
        "WHERE symbol IN :symbols AND date >= :start AND date <= :end"
    ).bindparams(bindparam("symbols", expanding=True))
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        params = {"symbols": list(symbols), "start": start.isoformat() if sqlite else start, "end": end.isoformat() if sqlite else end}
        rows = conn.execute(query, params).all()
    frame = pd.DataFrame(rows, columns=["symbol", "date", "adj_close", "data_source"])
    if sqlite and len(frame):
        days = {text_day: date.fromisoformat(text_day) for text_day in frame["date"].unique()}  # ~500 distinct
        frame["date"] = frame["date"].map(days)
    return frame


def price_matrix(
    engine: Engine, symbols: Sequence[str], sessions: Sequence[date], long: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Adjusted closes as a session × symbol matrix (dollars; yields in percent); NaN where missing.

    Read column-wise straight into the matrix (`read_price_matrix`); `long`: an already loaded
    `load_prices` frame covering the sessions (pivoted instead of querying).
    """
    if long is None:
        return read_price_matrix(engine, symbols, sessions)[0]
    if not sessions:
        return pd.DataFrame(columns=list(symbols), dtype=float)
    matrix = long.pivot(index="date", columns="symbol", values="adj_close") if len(long) else pd.DataFrame()
    return matrix.reindex(index=pd.Index(list(sessions), name="date"), columns=list(symbols)).astype(float)


# --- columnar read --------------------------------------------------------------------------------
# One query returns four numeric columns per cached price: the symbol's position in the request,
# the day offset from the first session, adj_close (float64, bit-exact) and a synthetic flag. They
# are scattered straight into a preallocated session × symbol float64 array: no row objects, no
# long frame. PostgreSQL: COPY … TO STDOUT (FORMAT binary), fixed-width rows parsed by numpy;
# SQLite: the driver's cursor flattened into one float64 array (the index columns are small ints).

_PG_ROW = np.dtype([
    ("nfields", ">i2"), ("len_i", ">i4"), ("i", ">i4"), ("len_d", ">i4"), ("d", ">i4"),
    ("len_v", ">i4"), ("v", ">f8"), ("len_s", ">i4"), ("s", "u1"),
])
_PG_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def read_price_matrix(engine: Engine, symbols: Sequence[str], sessions: Sequence[date]) -> tuple[pd.DataFrame, set[str]]:
    """(session × symbol adj_close matrix, symbols with any synthetic price in the window).

    Same matrix as pivoting `load_prices` and reindexing to `sessions` × `symbols` (NaN where
    missing, cached rows on non-session dates ignored), read without Python row objects.
    """
    columns = list(symbols)
    if not sessions:
        return pd.DataFrame(columns=columns, dtype=float), set()
    unique = list(dict.fromkeys(columns))
    start, end = sessions[0], sessions[-1]
    values = np.full((len(sessions), len(unique)), np.nan)
    synthetic: set[str] = set()
    if unique:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                sym_i, day, adj, synth = _read_cells_postgresql(conn, unique, start, end)
            else:
                sym_i, day, adj, synth = _read_cells_sqlite(conn, unique, start, end)
        # day offset -> row of the matrix (-1: a cached date that is not a session of the window)
        row_of = np.full((end - start).days + 1, -1, dtype=np.int64)
        row_of[[(d - start).days for d in sessions]] = np.arange(len(sessions))
        flat = row_of[day] * len(unique) + sym_i  # position in the C-ordered matrix; < 0: not a session
        keep = flat >= 0
        if not keep.all():
            flat, adj = flat[keep], adj[keep]
        values.reshape(-1)[flat] = adj
        if synth.any():
            synthetic = {unique[k] for k in np.unique(sym_i[synth.astype(bool)])}
    index = pd.Index(list(sessions), name="date")
    matrix = pd.DataFrame(values, index=index, columns=pd.Index(unique, name="symbol"), copy=False)
    if len(unique) != len(columns):
        matrix = matrix[columns]
    return matrix, synthetic


def _sql_text_array(symbols: Sequence[str]) -> str:
    for sym in symbols:
        if "\x00" in sym:
            raise ValueError(f"invalid symbol {sym!r}")
    return "ARRAY[" + ",".join("'" + s.replace("'", "''") + "'" for s in symbols) + "]::text[]"


#: From this many symbols on, the wanted list goes into an analysed temporary table first: the planner knows
#: nothing of an unnest()'s distinct values, so on a large list it hashed the 4.2 M-row onb_prices side instead of
#: the list (64 batches spilled to disk at the default work_mem) — 1.99 s vs 1.16 s of execution for 8,370 symbols ×
#: 500 sessions (EXPLAIN ANALYZE); a short list keeps the one-statement form (no temp-table round trips).
TEMP_TABLE_SYMBOLS = 1000


def _read_cells_postgresql(conn, symbols: Sequence[str], start: date, end: date):
    import io

    wanted = "unnest({array}) WITH ORDINALITY AS s(symbol, i)".format(array=_sql_text_array(symbols))
    setup = []
    if len(symbols) >= TEMP_TABLE_SYMBOLS:  # dropped with the read's transaction (the connection is not committed)
        setup = ["DROP TABLE IF EXISTS pg_temp.onb_matrix_symbols",
                 f"CREATE TEMP TABLE onb_matrix_symbols ON COMMIT DROP AS SELECT s.symbol, s.i FROM {wanted}",
                 "ANALYZE onb_matrix_symbols"]
        wanted = "onb_matrix_symbols AS s"
    query = (
        "COPY (SELECT (s.i - 1)::int4, (p.date - DATE '{start}')::int4, p.adj_close, p.data_source = 'synthetic' "
        "FROM {wanted} JOIN onb_prices p ON p.symbol = s.symbol "
        "WHERE p.date >= DATE '{start}' AND p.date <= DATE '{end}' AND p.adj_close IS NOT NULL) "
        "TO STDOUT (FORMAT binary)"
    ).format(start=start.isoformat(), end=end.isoformat(), wanted=wanted)
    with dbapi_cursor(conn) as cursor:
        for statement in setup:
            cursor.execute(statement)
        if hasattr(cursor, "copy"):  # psycopg 3
            buffer = bytearray()
            with cursor.copy(query) as copy:
                for chunk in copy:
                    buffer += chunk
            data = memoryview(buffer)
        else:  # psycopg2
            sink = io.BytesIO()
            cursor.copy_expert(query, sink)
            data = sink.getbuffer()
    if bytes(data[:11]) != _PG_SIGNATURE:
        raise RuntimeError("unexpected COPY binary header from PostgreSQL")
    ext = int.from_bytes(data[15:19], "big")
    body = data[19 + ext : len(data) - 2]  # header, extension; trailer int16 -1
    if len(body) % _PG_ROW.itemsize:
        raise RuntimeError("unexpected COPY binary row layout from PostgreSQL")
    cells = np.frombuffer(body, dtype=_PG_ROW)
    if len(cells) and not ((cells["nfields"] == 4).all() and (cells["len_v"] == 8).all() and (cells["len_s"] == 1).all()):
        raise RuntimeError("unexpected COPY binary row layout from PostgreSQL")
    out = (cells["i"].astype(np.int64), cells["d"].astype(np.int64), cells["v"].astype(np.float64), cells["s"].astype(np.uint8))
    del cells, body, data
    return out


def _read_cells_sqlite(conn, symbols: Sequence[str], start: date, end: date):
    """(symbol position, day offset, adj_close, synthetic flag) of every cached price in the window.

    Two values per row leave SQLite: adj_close and one integer that packs the symbol's position and
    the day offset — ``position × days + offset`` — so the sqlite3 module builds half the Python
    objects of three columns (packed values stay below 2**53, exact in the float64 array they are
    fetched into). The synthetic rows (normally none) come from a second query through their
    partial index, so no row's label is tested in the main scan.
    """
    import itertools
    import json
    import sqlite3

    width = (end - start).days + 1
    # day offset of the ISO date text: unixepoch() (SQLite ≥ 3.38) is integer arithmetic, a little
    # cheaper per row than julianday()'s floating point
    offset = ("(unixepoch(p.date) - unixepoch(?)) / 86400" if sqlite3.sqlite_version_info >= (3, 38)
              else "CAST(julianday(p.date) - julianday(?) AS INTEGER)")
    join = "FROM json_each(?) AS j CROSS JOIN onb_prices AS p {} ON p.symbol = j.value WHERE p.date >= ? AND p.date <= ?"
    # adj_close is NOT NULL; the table is clustered by (symbol, date)
    query = f"SELECT CAST(j.key AS INTEGER) * ? + {offset}, p.adj_close {join.format('')}"
    # the synthetic rows through their partial index: one probe per symbol (without statistics the planner
    # would pick the primary key and test every row)
    synthetic_query = (f"SELECT CAST(j.key AS INTEGER) * ? + {offset} {join.format('INDEXED BY ix_onb_prices_synthetic')} "
                       "AND p.data_source = 'synthetic'")
    if len(symbols) * width >= 2**52:
        raise ValueError("price window too large for the packed SQLite read")
    params = (width, start.isoformat(), json.dumps(list(symbols)), start.isoformat(), end.isoformat())
    with dbapi_cursor(conn) as cursor:
        cursor.arraysize = 65536
        cursor.execute(query, params)
        flat = np.fromiter(itertools.chain.from_iterable(cursor), dtype=np.float64)
        synthetic_cells = np.fromiter((c for (c,) in cursor.execute(synthetic_query, params)), dtype=np.int64)
    cells = flat.reshape(-1, 2)
    packed = cells[:, 0].astype(np.int64)
    synthetic = np.isin(packed, synthetic_cells) if len(synthetic_cells) else np.zeros(len(packed), dtype=bool)
    symbol_position, day_offset = np.divmod(packed, width)
    return symbol_position, day_offset, cells[:, 1], synthetic.astype(np.uint8)


def cached_sessions(matrix: pd.DataFrame) -> dict[str, set[date]]:
    """Sessions with a price per symbol, from a `price_matrix` (the `cached` argument of `plan_fetches`)."""
    present = matrix.notna().to_numpy()
    index = np.asarray(matrix.index, dtype=object)
    return {sym: set(index[present[:, k]]) for k, sym in enumerate(matrix.columns)}


def latest_cached_date(engine: Engine, symbol: str) -> date | None:
    from sqlalchemy import func

    with engine.connect() as conn:
        return conn.execute(select(func.max(MarketDataCache.date)).where(MarketDataCache.symbol == symbol)).scalar_one()


def window_start(as_of: date, lookback_days: int) -> date:
    return as_of - timedelta(days=lookback_days)


def coverage(matrix: pd.DataFrame, last_n: int) -> pd.Series:
    """Share (0..1) of the last `last_n` sessions with a price, per symbol."""
    tail = matrix.tail(last_n)
    if len(tail) == 0:
        return pd.Series(0.0, index=matrix.columns)
    return tail.notna().sum() / len(tail)


def jump_flags(matrix: pd.DataFrame, bound: float) -> list[dict]:
    """Day-over-day |return| above `bound` (decimal), e.g. unadjusted splits; one dict per jump."""
    values = matrix.to_numpy(dtype=float)
    if len(values) < 2:
        return []
    with np.errstate(divide="ignore", invalid="ignore"):
        rets = values[1:] / values[:-1] - 1.0
    rows, cols = np.nonzero(np.abs(np.nan_to_num(rets)) > bound)
    return [
        {"symbol": matrix.columns[c], "date": matrix.index[r + 1], "return": float(rets[r, c])}
        for r, c in zip(rows, cols)
    ]
