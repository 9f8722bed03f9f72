"""`clients_transaction`: the one transaction in which a multi-client run stores every client's rows."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.onboarding_writer import (
    PositionsChangedError,
    client_lock_key,
    clients_transaction,
    write_audit,
)
from sigmasight_onboarding.db.portfolio_reads import positions_versions

A, B, C = "a@batch.test", "b@batch.test", "c@batch.test"


def _onboarded(engine, *emails) -> None:
    with engine.begin() as conn:
        for email in emails:
            write_audit(conn, email, "onboard", "success", None, actor="test")


def test_only_the_clients_whose_book_was_rewritten_are_left_out(db_url):
    """Versions read, then B re-onboarded: the transaction names B alone (with the versions it read and found), and
    what the caller writes for the others in it is committed."""
    engine = get_engine(db_url)
    _onboarded(engine, A, B, C)
    read = positions_versions(engine, [A, B, C])
    _onboarded(engine, B)  # B's book re-written after the run read it
    with clients_transaction(engine, {A: read[A], B: read[B], C: None}) as (conn, changed):
        write_audit(conn, A, "probe", "success", None)
    assert list(changed) == [B]
    assert isinstance(changed[B], PositionsChangedError) and changed[B].email == B
    now = positions_versions(engine, [B])[B]
    assert now > read[B] and f"version {read[B]} read, {now} now" in str(changed[B])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM onb_audit_log WHERE action = 'probe'")).scalar_one() == 1


def test_an_error_inside_stores_nothing(db_url):
    engine = get_engine(db_url)
    _onboarded(engine, A)
    with pytest.raises(RuntimeError, match="boom"):
        with clients_transaction(engine, {A: positions_versions(engine, [A])[A]}) as (conn, _changed):
            write_audit(conn, A, "probe", "success", None)
            raise RuntimeError("boom")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM onb_audit_log WHERE action = 'probe'")).scalar_one() == 0


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_every_clients_lock_is_held_until_the_commit(db_url):
    """PostgreSQL: while the transaction is open, another session can take no client's lock of the batch (so a
    client's own run waits for it), but can take a client's outside it; after the commit, all are free."""
    engine = get_engine(db_url)

    def free(email: str) -> bool:
        with engine.connect() as other:
            return other.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": client_lock_key(email)}).scalar_one()

    with clients_transaction(engine, {A: None, B: None}) as (_conn, changed):
        assert changed == {}
        assert (free(A), free(B), free(C)) == (False, False, True)
    assert (free(A), free(B)) == (True, True)


def test_as_of_replacements_of_many_portfolios_replace_exactly_their_rows_of_the_date(db_url):
    """Rows of portfolios P and Q on D collected (Q's given column by column, P's as rows) and written together: they
    replace P's and Q's old rows of D; R's rows of D and P's rows of another date stay; writing the same again stores
    the same rows (no duplicate)."""
    import datetime
    import uuid

    from sqlalchemy import Column, Date, Float, MetaData, Table, Uuid

    from sigmasight_onboarding.db.analytics_tables import AsOfReplacements
    from sigmasight_onboarding.db.bulk import insert_rows

    engine = get_engine(db_url)
    table = Table(f"asof_probe_{uuid.uuid4().hex[:8]}", MetaData(), Column("portfolio_id", Uuid), Column("calculation_date", Date),
                  Column("value", Float))
    table.create(engine)
    day, other_day = datetime.date(2026, 8, 3), datetime.date(2026, 7, 31)
    p, q, r = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    try:
        with engine.begin() as conn:
            insert_rows(conn, table, [{"portfolio_id": pid, "calculation_date": d, "value": v}
                                      for pid, d, v in [(p, day, -1.0), (p, day, -2.0), (q, day, -3.0), (r, day, 7.0), (p, other_day, 9.0)]])

        def replace():
            batch = AsOfReplacements(day)
            batch.rows(table, p, [{"portfolio_id": p, "calculation_date": day, "value": 1.0}])
            batch.columns(table, q, {"portfolio_id": [q, q], "calculation_date": [day, day], "value": [2.0, 3.0]})
            with engine.begin() as conn:
                assert batch.write(conn) == 3

        for _ in range(2):
            replace()
            with engine.connect() as conn:
                stored = sorted((str(row.portfolio_id), row.calculation_date, row.value) for row in conn.execute(table.select()))
            assert stored == sorted([(str(p), day, 1.0), (str(q), day, 2.0), (str(q), day, 3.0), (str(r), day, 7.0),
                                     (str(p), other_day, 9.0)])
    finally:
        table.drop(engine)
