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


def bulk_insert_ignore(
    conn: Connection, table: Table, names: Sequence[str], columns: Sequence[list], conflict_columns: Sequence[str]
) -> int:
    """Insert column-oriented data, skipping rows that conflict on `conflict_columns`; returns rows inserted.

    PostgreSQL: COPY into a temporary table, then one INSERT … SELECT … ON CONFLICT DO NOTHING
    (psycopg 3 or psycopg2). SQLite: executemany of INSERT OR IGNORE; values go through the
    columns' SQLAlchemy bind processors so dates are stored exactly as the ORM stores them.
    """
    n = len(columns[0]) if columns else 0
    if n == 0:
        return 0
    quoted = ", ".join(f'"{c}"' for c in names)
    if conn.dialect.name == "postgresql":
        temp = f"tmp_{table.name}_load"
        conn.exec_driver_sql(f'CREATE TEMP TABLE IF NOT EXISTS {temp} (LIKE "{table.name}" INCLUDING DEFAULTS) ON COMMIT DROP')
        conn.exec_driver_sql(f"TRUNCATE {temp}")
        rows = list(zip(*columns))
        raw = conn.connection.dbapi_connection
        cursor = raw.cursor()
        try:
            if hasattr(cursor, "copy"):  # psycopg 3
                with cursor.copy(f"COPY {temp} ({quoted}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:  # psycopg2
                import csv
                import io

                buffer = io.StringIO()
                writer = csv.writer(buffer)
                for row in rows:
                    writer.writerow(["\\N" if v is None else v for v in row])
                buffer.seek(0)
                cursor.copy_expert(f"COPY {temp} ({quoted}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer)
        finally:
            cursor.close()
        keys = ", ".join(f'"{c}"' for c in conflict_columns)
        result = conn.exec_driver_sql(
            f'INSERT INTO "{table.name}" ({quoted}) SELECT {quoted} FROM {temp} ON CONFLICT ({keys}) DO NOTHING'
        )
        return max(result.rowcount or 0, 0)
    processed = []
    for name, values in zip(names, columns):
        processor = table.c[name].type.bind_processor(conn.dialect)
        if processor is None:
            processed.append(values)
            continue
        cache: dict = {}
        processed.append([cache[v] if v in cache else cache.setdefault(v, processor(v)) for v in values])
    placeholders = ", ".join("?" for _ in names)
    result = conn.exec_driver_sql(
        f'INSERT OR IGNORE INTO "{table.name}" ({quoted}) VALUES ({placeholders})', list(zip(*processed))
    )
    return max(result.rowcount or 0, 0)
