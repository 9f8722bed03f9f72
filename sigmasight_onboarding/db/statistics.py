"""Fresh planner statistics after a bulk load (PostgreSQL).

A client's onboarding bulk-loads thousands of rows per table and reads them back seconds later (the
report, the publication). Until a table is ANALYSEd the planner guesses its size, and on tables that
have one index on `position_id` and one on `portfolio_id` the guess picks a nested loop that scans the
portfolio's whole index once per position: the report's position-factor read of a 1000-position book
took 1.2 s with 4 clients stored instead of 9 ms once analysed (EXPLAIN ANALYZE; 2 s per client in
scenario F). Autovacuum analyses a table after 10 % of it changed, but only on its next round (and not
at all where it is switched off), so the writer does it itself, right after its transaction commits,
with the same 10 % rule: only young tables are analysed; a large table takes one client's rows without,
and a write of fewer than MIN_ROWS rows is never looked at.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, Engine, text

from sigmasight_onboarding.db.bulk import ROWS_WRITTEN

#: ANALYZE a table when a transaction inserted more than this share of its estimated rows (+ BASE_ROWS),
#: autovacuum's default rule (autovacuum_analyze_scale_factor 0.1, autovacuum_analyze_threshold 50)
SCALE_FACTOR = 0.1
BASE_ROWS = 50
#: ... and only when it inserted at least this many rows into the table: a plan goes wrong on thousands of rows, and
#: small writes (a 30-position book's analytics) then cost no catalogue query at all (the daily refresh runs 800 of
#: these transactions for 200 clients)
MIN_ROWS = 1_000


def take_rows_written(conn: Connection) -> dict[str, int]:
    """{table name: rows inserted} by `db.bulk` on this connection since the last call (and reset)."""
    return conn.info.pop(ROWS_WRITTEN, None) or {}


def tables_to_analyse(estimates: Mapping[str, float], written: Mapping[str, int]) -> list[str]:
    """The tables with at least MIN_ROWS inserted rows that exceed SCALE_FACTOR × estimated rows + BASE_ROWS;
    a table never analysed (estimate < 0, or missing) qualifies with MIN_ROWS."""
    return sorted(t for t, n in written.items()
                  if n >= MIN_ROWS and (estimates.get(t, -1.0) < 0 or n > SCALE_FACTOR * estimates[t] + BASE_ROWS))


def refresh_statistics(engine: Engine, written: Mapping[str, int]) -> list[str]:
    """PostgreSQL: ANALYZE the `written` tables that `tables_to_analyse` picks, each in its own short
    transaction (ANALYZE holds a lock that conflicts with another ANALYZE of the table until commit, so
    never inside a client's write transaction). Returns the tables analysed; nothing on SQLite."""
    names = sorted(t for t, n in written.items() if n >= MIN_ROWS)
    if engine.dialect.name != "postgresql" or not names:
        return []
    with engine.connect() as conn:  # the planner's row estimates (pg_class.reltuples: −1 = never analysed)
        estimates = {name: float(tuples) for name, tuples in conn.execute(text(
            "SELECT n, c.reltuples FROM unnest(CAST(:names AS text[])) AS n JOIN pg_class c ON c.oid = to_regclass(quote_ident(n))"),
            {"names": names}).all()}
    stale = tables_to_analyse(estimates, written)
    for name in stale:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'ANALYZE "{name}"')
    return stale
