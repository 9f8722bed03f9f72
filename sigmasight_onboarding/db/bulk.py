"""Bulk writes that work on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime
import enum
import io
import operator
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.sql import sqltypes
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

# SQLite allows 32,766 bound parameters per statement; PostgreSQL 65,535.
_MAX_PARAMS = 30_000


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

    PostgreSQL: multi-row VALUES batches (faster than executemany + ON CONFLICT with psycopg2 here,
    and the row count stays exact); SQLite: executemany.
    """
    if not rows:
        return 0
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
    return inserted


def replace_rows(conn: Connection, table: Table, where, rows: Sequence[dict]) -> int:
    """Delete the rows matching `where`, then bulk insert `rows` (idempotent re-materialisation)."""
    conn.execute(table.delete().where(where))
    return insert_rows(conn, table, rows)


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict]) -> int:
    """Plain INSERT of new rows (every row with the same keys); returns the number of rows.

    Stores what SQLAlchemy's executemany stores (Python-side column defaults included), faster, when
    every column is of a plain type (`_columns`); otherwise (JSON, …) it is SQLAlchemy's executemany.
    PostgreSQL: COPY … FROM STDIN in the connection's transaction, no SQL compiled per row (about 2.4×
    faster than executemany for 100,000 positions). psycopg 3 adapts each Python value (`write_row`);
    psycopg2 gets CSV text (`copy_expert`; NULL an unquoted empty cell, every value quoted text as PostgreSQL
    reads it: ISO dates and timestamps with their offset, Decimal and UUID as text). Enum members are sent by name, as SQLAlchemy's
    Enum stores them. SQLite: one DBAPI executemany of tuples, each column through its type's bind
    processor (SQLAlchemy's text for dates and timestamps, UUID hex, Enum name, Numeric float).
    """
    if not rows:
        return 0
    dialect = conn.dialect.name
    prepared = _columns(table, rows) if dialect in ("postgresql", "sqlite") else None
    if prepared is None:
        conn.execute(table.insert(), list(rows))
        return len(rows)
    names, columns = prepared
    prep = conn.dialect.identifier_preparer
    target = f"{prep.format_table(table)} ({', '.join(prep.quote(n) for n in names)})"
    if dialect == "sqlite":
        for i, name in enumerate(names):
            process = table.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
            if process is not None:
                columns[i] = [process(v) for v in columns[i]]
        with dbapi_cursor(conn) as cursor:
            cursor.executemany(f"INSERT INTO {target} VALUES ({', '.join('?' * len(names))})", list(zip(*columns)))
        return len(rows)
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
            buffer.writelines(",".join(map(_csv_cell, values)) + "\n" for values in zip(*columns))
            buffer.seek(0)
            cursor.copy_expert(f"COPY {target} FROM STDIN WITH (FORMAT csv)", buffer)
    return len(rows)


# Column types the fast paths write as SQLAlchemy would (JSON and any other type go through SQLAlchemy).
_FAST_TYPES = (sqltypes.Integer, sqltypes.Float, sqltypes.Numeric, sqltypes.String, sqltypes.Boolean,
               sqltypes.Date, sqltypes.DateTime, sqltypes.Uuid, sqltypes.Enum)


def _columns(table: Table, rows: Sequence[dict]) -> tuple[list[str], list[list]] | None:
    """(column names, values column by column) of ``rows``: their keys (the first row's) plus the
    columns left out that have a Python-side default (a scalar, or a callable called per row, as
    SQLAlchemy does). None when a column is not of a `_FAST_TYPES` type or has a SQL-expression default."""
    names = list(rows[0])
    if any(n not in table.c for n in names):
        return None
    given = set(names)
    defaulted = [c for c in table.c if c.name not in given and c.default is not None]
    if any(not (c.default.is_scalar or c.default.is_callable) for c in defaulted):
        return None
    names += [c.name for c in defaulted]
    if any(not isinstance(table.c[n].type, _FAST_TYPES) for n in names):
        return None
    values_of = operator.itemgetter(*names[: len(given)])
    if len(given) == 1:
        columns = [[values_of(r) for r in rows]]
    else:
        columns = [list(col) for col in zip(*map(values_of, rows))]
    for c in defaulted:
        columns.append([c.default.arg] * len(rows) if c.default.is_scalar else [c.default.arg(None) for _ in rows])
    return names, columns


def _csv_cell(value) -> str:
    """One cell for PostgreSQL's COPY (FORMAT csv): NULL is an unquoted empty cell, every value is quoted
    (so an empty string stays an empty string), quotes doubled."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, (datetime.date, datetime.datetime)) else str(value)
    return '"' + text.replace('"', '""') + '"'
