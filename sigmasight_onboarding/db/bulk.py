"""Bulk writes that work on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

# SQLite allows 32,766 bound parameters per statement; PostgreSQL 65,535.
_MAX_PARAMS = 30_000


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
    if not rows:
        return 0
    # executemany: SQLAlchemy batches it ("insertmanyvalues") without compiling one giant statement
    conn.execute(table.insert(), list(rows))
    return len(rows)
