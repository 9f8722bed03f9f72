"""Bulk writes that work on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime
import enum
import io
import operator
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Select, Table
from sqlalchemy.sql import sqltypes
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

# SQLite allows 32,766 bound parameters per statement; PostgreSQL 65,535.
_MAX_PARAMS = 30_000

#: ``Connection.info`` key: {table name: rows inserted} by this module on the connection (PostgreSQL only), taken by
#: `db.statistics` after the transaction commits to refresh the planner statistics of freshly bulk-loaded tables
ROWS_WRITTEN = "onb_rows_written"


def _noted(conn: Connection, table: Table, n: int) -> int:
    """`n`, after adding it to the connection's `ROWS_WRITTEN` count of ``table`` (PostgreSQL)."""
    if n and conn.dialect.name == "postgresql":
        written = conn.info.setdefault(ROWS_WRITTEN, {})
        written[table.name] = written.get(table.name, 0) + n
    return n


@contextmanager
def dbapi_cursor(conn: Connection) -> Iterator[Any]:
    """A cursor on the DBAPI connection under ``conn`` (COPY, executemany, bulk reads), closed afterwards."""
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def insert_ignore_conflicts(conn: Connection, table: Table, rows: Sequence[dict], conflict_columns: Sequence[str]) -> int:
    """INSERT … ON CONFLICT (conflict_columns) DO NOTHING; returns rows inserted.

    Every column of a plain type (`_fast_path_ok`): the rows go column-wise like `insert_rows`
    (SQLite: one DBAPI executemany of INSERT … ON CONFLICT DO NOTHING; PostgreSQL: COPY into a
    temporary table, then one INSERT … SELECT … ON CONFLICT DO NOTHING), no SQL compiled per row —
    800,000 price-gap rows through compiled multi-row VALUES made a PostgreSQL backfill take 77 s
    instead of 13.5 s. Otherwise: PostgreSQL multi-row VALUES batches, SQLite SQLAlchemy's executemany.
    """
    if not rows:
        return 0
    names = list(rows[0])
    if _fast_path_ok(conn, table, names):
        return _noted(conn, table, _insert_columns(conn, table, names, _columns_of(rows, names), len(rows),
                                                   conflict_columns=list(conflict_columns)))
    if conn.dialect.name == "sqlite":  # executemany is fastest on SQLite and reports the rows inserted
        stmt = sqlite_insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))
        return max(conn.execute(stmt, list(rows)).rowcount or 0, 0)
    dialect_insert = pg_insert
    width = max(1, len(rows[0]))
    batch = max(1, _MAX_PARAMS // width)
    inserted = 0
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        stmt = dialect_insert(table).values(list(chunk)).on_conflict_do_nothing(index_elements=list(conflict_columns))
        result = conn.execute(stmt)
        inserted += max(result.rowcount or 0, 0)
    return _noted(conn, table, inserted)


def replace_rows(conn: Connection, table: Table, where, rows: Sequence[dict]) -> int:
    """Delete the rows matching `where`, then bulk insert `rows` (idempotent re-materialisation)."""
    conn.execute(table.delete().where(where))
    return insert_rows(conn, table, rows)


def replace_columns(conn: Connection, table: Table, where, columns: Mapping[str, Sequence]) -> int:
    """`replace_rows` with the new rows given column by column ({column name: values})."""
    conn.execute(table.delete().where(where))
    return insert_columns(conn, table, columns)


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict]) -> int:
    """Plain INSERT of new rows (every row with the same keys); returns the number of rows.

    Stores what SQLAlchemy's executemany stores (Python-side column defaults included), faster, when
    every column is of a plain type or JSON (`_fast_path_ok`; JSON through the dialect's own bind processor);
    otherwise it is SQLAlchemy's executemany.
    PostgreSQL: COPY … FROM STDIN in the connection's transaction, no SQL compiled per row (about 2.4×
    faster than executemany for 100,000 positions). psycopg 3 adapts each Python value (`write_row`);
    psycopg2 gets CSV text (`copy_expert`; NULL an unquoted empty cell, every value quoted text as PostgreSQL
    reads it: ISO dates and timestamps with their offset, Decimal and UUID as text). Enum members are sent by name, as SQLAlchemy's
    Enum stores them. SQLite: one DBAPI executemany of tuples, each column through its type's bind
    processor (SQLAlchemy's text for dates and timestamps, UUID hex, Enum name, Numeric float).
    """
    if not rows:
        return 0
    names = list(rows[0])
    if not _fast_path_ok(conn, table, names):
        conn.execute(table.insert(), list(rows))
        return _noted(conn, table, len(rows))
    return _noted(conn, table, _insert_columns(conn, table, names, _columns_of(rows, names), len(rows)))


def _columns_of(rows: Sequence[dict], names: list[str]) -> list[list]:
    """The rows' values column by column (one list per name, in order)."""
    values_of = operator.itemgetter(*names)
    if len(names) == 1:
        return [[values_of(r) for r in rows]]
    return [list(col) for col in zip(*map(values_of, rows))]


def insert_columns(conn: Connection, table: Table, columns: Mapping[str, Sequence]) -> int:
    """`insert_rows` with the rows given column by column ({column name: values}, equal lengths)."""
    names = list(columns)
    n = len(columns[names[0]]) if names else 0
    if not n:
        return 0
    if not _fast_path_ok(conn, table, names):
        conn.execute(table.insert(), [dict(zip(names, values)) for values in zip(*columns.values())])
        return _noted(conn, table, n)
    return _noted(conn, table, _insert_columns(conn, table, names, [list(columns[k]) for k in names], n))


# Column types the fast paths write as SQLAlchemy would (any other type goes through SQLAlchemy).
_FAST_TYPES = (sqltypes.Integer, sqltypes.Float, sqltypes.Numeric, sqltypes.String, sqltypes.Boolean,
               sqltypes.Date, sqltypes.DateTime, sqltypes.Uuid, sqltypes.Enum, sqltypes.JSON)


def _fast_path_ok(conn: Connection, table: Table, names: Sequence[str]) -> bool:
    """PostgreSQL or SQLite, every key a column of a `_FAST_TYPES` type, and every column left out
    either without a Python-side default or with a scalar/callable one of such a type."""
    if conn.dialect.name not in ("postgresql", "sqlite") or any(n not in table.c for n in names):
        return False
    given = set(names)
    defaulted = [c for c in table.c if c.name not in given and c.default is not None]
    if any(not (c.default.is_scalar or c.default.is_callable) for c in defaulted):
        return False
    return all(isinstance(c.type, _FAST_TYPES) for c in [table.c[n] for n in names] + defaulted)


def _insert_columns(conn: Connection, table: Table, names: list[str], columns: list[list], n: int,
                    conflict_columns: list[str] | None = None) -> int:
    """The fast path of `insert_rows`: ``columns`` (one list per name) plus the Python-side defaults of the
    columns left out (a scalar, or a callable called per row, as SQLAlchemy does), by COPY (PostgreSQL)
    or one DBAPI executemany (SQLite). With ``conflict_columns``: rows that conflict on them are skipped
    (ON CONFLICT DO NOTHING) and the number of rows inserted is returned."""
    given = set(names)
    for c in table.c:
        if c.name not in given and c.default is not None:
            names = [*names, c.name]
            columns.append([c.default.arg] * n if c.default.is_scalar else [c.default.arg(None) for _ in range(n)])
    prep = conn.dialect.identifier_preparer
    column_list = ", ".join(prep.quote(name) for name in names)
    target = f"{prep.format_table(table)} ({column_list})"
    on_conflict = (f" ON CONFLICT ({', '.join(prep.quote(c) for c in conflict_columns)}) DO NOTHING"
                   if conflict_columns else "")
    if conn.dialect.name == "sqlite":
        for i, name in enumerate(names):
            process = table.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
            if process is not None:
                columns[i] = _processed(process, columns[i])
        with dbapi_cursor(conn) as cursor:
            cursor.executemany(f"INSERT INTO {target} VALUES ({', '.join('?' * len(names))}){on_conflict}",
                               list(zip(*columns)))
            return max(cursor.rowcount or 0, 0) if conflict_columns else n
    for i, name in enumerate(names):  # JSON: the dialect's own serialising (its json_serializer, None -> 'null')
        if isinstance(table.c[name].type, sqltypes.JSON):
            process = table.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
            if process is not None:
                columns[i] = [process(v) for v in columns[i]]
    if conflict_columns:  # COPY into a temporary copy of the table, then one INSERT … ON CONFLICT
        load = prep.quote(f"tmp_load_{table.name}")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {load}")
        conn.exec_driver_sql(f"CREATE TEMP TABLE {load} ON COMMIT DROP AS "
                             f"SELECT {column_list} FROM {prep.format_table(table)} WITH NO DATA")
        _copy_columns(conn, table, names, columns, f"{load} ({column_list})")
        result = conn.exec_driver_sql(f"INSERT INTO {target} SELECT {column_list} FROM {load}{on_conflict}")
        return max(result.rowcount or 0, 0)
    _copy_columns(conn, table, names, columns, target)
    return n


def _copy_columns(conn: Connection, table: Table, names: list[str], columns: list[list], target: str) -> None:
    """COPY ``columns`` (values of ``table``'s columns ``names``) into ``target`` ("table (columns)")."""
    for i, name in enumerate(names):
        if isinstance(table.c[name].type, sqltypes.Enum):
            columns[i] = [v.name if isinstance(v, enum.Enum) else v for v in columns[i]]
    with dbapi_cursor(conn) as cursor:
        if hasattr(cursor, "copy"):  # psycopg 3
            with cursor.copy(f"COPY {target} FROM STDIN") as copy:
                for values in zip(*columns):
                    copy.write_row(values)
        else:  # psycopg2
            buffer = io.StringIO()
            buffer.writelines(",".join(cells) + "\n" for cells in zip(*map(_csv_column, columns)))
            buffer.seek(0)
            cursor.copy_expert(f"COPY {target} FROM STDIN WITH (FORMAT csv)", buffer)


# Types whose equal values are bound alike, so a column of them is processed once per distinct value.
_MEMO_TYPES = frozenset({uuid.UUID, str, int, bool, datetime.date, type(None)})


def _processed(process, values: list) -> list:
    """``process`` applied to every value: once for a column of one object repeated, once per distinct
    value for a column of ids, dates or text (one of `_MEMO_TYPES`, and None), else value by value."""
    first = values[0]
    if all(v is first for v in values):
        return [process(first)] * len(values)
    types = {type(v) for v in values}
    if types <= _MEMO_TYPES and len(types - {type(None)}) <= 1:  # one type: equal values are alike (not True and 1)
        memo = {v: process(v) for v in set(values)}
        return [memo[v] for v in values]
    return [process(v) for v in values]


def _csv_column(values: list) -> list[str]:
    """`_csv_cell` of every value of a column (`_processed`; floats straight to their quoted repr)."""
    if {type(v) for v in values} <= {float, type(None)}:
        return ["" if v is None else f'"{v!r}"' for v in values]
    return _processed(_csv_cell, values)


def read_columns(conn: Connection, stmt: Select) -> list[list]:
    """The result of ``stmt`` column by column (one list per selected column, in order), holding the values
    SQLAlchemy's rows would hold: the DBAPI cursor's raw rows, each column through its type's result
    processor (`_processed`), without building a Row per result row."""
    result = conn.execute(stmt)
    if result.cursor is None:  # no DBAPI cursor to read from (never for a plain SELECT): SQLAlchemy's rows
        rows = result.all()
        return [list(col) for col in zip(*rows)] if rows else [[] for _ in stmt.selected_columns]
    try:
        raw = result.cursor.fetchall()
        description = result.cursor.description
    finally:
        result.close()
    columns = [list(col) for col in zip(*raw)] if raw else [[] for _ in stmt.selected_columns]
    for i, column in enumerate(stmt.selected_columns):
        process = column.type.dialect_impl(conn.dialect).result_processor(conn.dialect, description[i][1])
        if process is not None and columns[i]:
            columns[i] = _processed(process, columns[i])
    return columns


def _csv_cell(value) -> str:
    """One cell for PostgreSQL's COPY (FORMAT csv): NULL is an unquoted empty cell, every value is quoted
    (so an empty string stays an empty string), quotes doubled."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, (datetime.date, datetime.datetime)) else str(value)
    return '"' + text.replace('"', '""') + '"'
