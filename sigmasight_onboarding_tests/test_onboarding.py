"""Onboarding through the real Dagster job, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from sigmasight_onboarding.cli import run_onboarding
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.models import OnboardingAuditLog, Portfolio, Position, PositionTag, Tag, User
from sigmasight_onboarding.security import deterministic_uuid
from sigmasight_onboarding.ephemeral_instance import ephemeral_instance

from .conftest import client_tables, copy_demo, table_snapshot, write_drop

JOHN = "john.smith@example.com"


def onboard(key: str, instance=None):
    return run_onboarding(key, instance or ephemeral_instance())


def positions_by_symbol(url: str, email: str, include_deleted: bool = False) -> dict[str, dict]:
    engine = get_engine(url)
    with engine.connect() as conn:
        stmt = (
            select(Position)
            .join(Portfolio, Portfolio.id == Position.portfolio_id)
            .join(User, User.id == Portfolio.user_id)
            .where(User.email == email)
        )
        rows = {r["symbol"]: dict(r) for r in conn.execute(stmt).mappings()}
        tags = conn.execute(
            select(Position.symbol, Tag.name)
            .join(PositionTag, PositionTag.position_id == Position.id)
            .join(Tag, Tag.id == PositionTag.tag_id)
        ).all()
    for sym, name in tags:
        if sym in rows:
            rows[sym].setdefault("tags", []).append(name)
    for r in rows.values():
        r["tags"] = sorted(r.get("tags", []))
    return {s: r for s, r in rows.items() if include_deleted or r["deleted_at"] is None}


def test_runbook_example_onboards_exactly(env):
    copy_demo(env["imports"], JOHN)
    result = onboard(JOHN)
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert {"drop_passes_schema", "stored_positions_schema", "db_matches_csv", "held_symbols_coverage"} <= set(checks)
    assert all(checks.values()), checks
    counts = client_tables(env["db_url"])
    assert counts == {"users": 1, "portfolios": 1, "positions": 5, "tags": 4, "position_tags": 8}
    pos = positions_by_symbol(env["db_url"], JOHN)
    lc = pos["SPY250919C00460000"]
    assert lc["position_type"].value == "LC" and lc["underlying_symbol"] == "SPY"
    assert lc["strike_price"] == Decimal("460") and str(lc["expiration_date"]) == "2025-09-19"
    assert pos["TSLA"]["quantity"] == Decimal("-300") and pos["TSLA"]["position_type"].value == "SHORT"
    assert pos["AAPL"]["tags"] == ["Core Holdings", "Tech Growth"]
    assert pos["SPY250919C00460000"]["tags"] == ["Options Overlay"]
    assert pos["TSLA"]["tags"] == ["Short Value Traps"]
    # development ids follow the runbook: md5 of "{email}_user" / "{email}_portfolio"
    engine = get_engine(env["db_url"])
    with engine.connect() as conn:
        user = conn.execute(select(User)).mappings().one()
        portfolio = conn.execute(select(Portfolio)).mappings().one()
    assert user["id"] == deterministic_uuid(f"{JOHN}_user")
    assert portfolio["id"] == deterministic_uuid(f"{JOHN}_portfolio")
    assert user["hashed_password"].startswith("$2b$")
    # materialisation metadata carries the counts
    mats = {e.asset_key.to_user_string(): e for e in result.get_asset_materialization_events()}
    meta = mats["portfolio_positions"].event_specific_data.materialization.metadata
    assert meta["positions"].value == 5
    assert meta["gross_entry_notional_usd"].value == pytest.approx(1000 * 150.25 + 800 * 320.5 + 500 * 125.75 + 200 * 7 * 100 + 300 * 250)


def test_rerun_changes_no_row(env):
    copy_demo(env["imports"], JOHN)
    instance = ephemeral_instance()
    assert onboard(JOHN, instance).success
    before = table_snapshot(env["db_url"])
    assert onboard(JOHN, instance).success
    after = table_snapshot(env["db_url"])
    audit_before, audit_after = before.pop("onb_audit_log"), after.pop("onb_audit_log")
    assert len(audit_after) == len(audit_before) + 1  # the re-run is audited
    # account and price rows are untouched; analytics rows are recomputed in place: same count
    untouched = ("users", "portfolios", "positions", "tags", "position_tags", "onb_prices", "onb_price_gaps")
    assert {t: before[t] for t in untouched} == {t: after[t] for t in untouched}
    assert {t: len(rows) for t, rows in before.items()} == {t: len(rows) for t, rows in after.items()}


def test_redrop_reconciles(env):
    folder = copy_demo(env["imports"], JOHN)
    assert onboard(JOHN).success
    original = positions_by_symbol(env["db_url"], JOHN)
    csv = (folder / "portfolio.csv").read_text()
    csv = csv.replace("MSFT,800,320.50", "MSFT,900,321.00")  # changed quantity and price
    csv = "\n".join(line for line in csv.splitlines() if not line.startswith("GOOGL")) + "\n"  # removed
    csv += 'NVDA,50,120.00,LONG,2024-03-01,"Tech Growth,AI",,,\n'  # added
    csv = csv.replace('"Short Value Traps"', '"Short Value Traps,Hedges"')  # re-tagged
    (folder / "portfolio.csv").write_text(csv)
    result = onboard(JOHN)
    assert result.success
    active = positions_by_symbol(env["db_url"], JOHN)
    everything = positions_by_symbol(env["db_url"], JOHN, include_deleted=True)
    assert set(active) == {"AAPL", "MSFT", "SPY250919C00460000", "TSLA", "NVDA"}
    assert everything["GOOGL"]["deleted_at"] is not None
    assert active["MSFT"]["quantity"] == Decimal("900") and active["MSFT"]["entry_price"] == Decimal("321")
    assert active["MSFT"]["id"] == original["MSFT"]["id"]
    assert active["NVDA"]["tags"] == ["AI", "Tech Growth"]
    assert active["TSLA"]["tags"] == ["Hedges", "Short Value Traps"]
    assert active["AAPL"]["updated_at"] == original["AAPL"]["updated_at"]
    meta = {
        e.asset_key.to_user_string(): e.event_specific_data.materialization.metadata
        for e in result.get_asset_materialization_events()
    }["portfolio_positions"]
    assert (meta["inserted"].value, meta["updated"].value, meta["soft_deleted"].value) == (1, 1, 1)
    # dropping GOOGL back in revives the same row
    (folder / "portfolio.csv").write_text(csv + 'GOOGL,500,125.75,LONG,2024-01-20,"Core Holdings,Tech Growth",,,\n')
    assert onboard(JOHN).success
    revived = positions_by_symbol(env["db_url"], JOHN)
    assert revived["GOOGL"]["id"] == original["GOOGL"]["id"]
    with get_engine(env["db_url"]).connect() as conn:
        actions = [r.action for r in conn.execute(select(OnboardingAuditLog.action).order_by(OnboardingAuditLog.id))]
    assert actions == ["onboard", "reconcile", "reconcile"]


def test_bad_drop_fails_run_and_writes_nothing(env):
    copy_demo(env["imports"], JOHN)
    assert onboard(JOHN).success
    before = table_snapshot(env["db_url"])
    folder = env["imports"] / JOHN
    (folder / "portfolio.csv").write_text((folder / "portfolio.csv").read_text() + "META,10,0,LONGG,2024-01-01,,,,\n")
    result = onboard(JOHN)
    assert not result.success
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    assert [c.check_name for c in failed] == ["drop_passes_schema"]
    after = table_snapshot(env["db_url"])
    audit_rows = after.pop("onb_audit_log")
    before.pop("onb_audit_log")
    assert before == after
    assert any("rejected" in str(row) for row in audit_rows)
    assert result.get_asset_materialization_events() == []


def test_new_client_with_bad_drop_leaves_no_rows(env):
    write_drop(env["imports"], "bad@example.com", "AAPL,10,150,LONG,2024-01-15,,,,\nTSLA,5,200,SHORT,2024-01-15,,,,\n")
    result = onboard("bad@example.com")
    assert not result.success
    assert client_tables(env["db_url"]) == {"users": 0, "portfolios": 0, "positions": 0, "tags": 0, "position_tags": 0}


def test_failure_inside_the_transaction_rolls_back_everything(env):
    """A real database error during the tag links (a trigger) must leave no trace of the client."""
    copy_demo(env["imports"], JOHN)
    engine = get_engine(env["db_url"])
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("CREATE OR REPLACE FUNCTION refuse_links() RETURNS trigger AS $$ "
                              "BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql"))
            conn.execute(text("CREATE TRIGGER refuse_links BEFORE INSERT ON position_tags "
                              "FOR EACH ROW EXECUTE FUNCTION refuse_links()"))
        else:
            conn.execute(text("CREATE TRIGGER refuse_links BEFORE INSERT ON position_tags "
                              "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"))
    try:
        result = onboard(JOHN)
        assert not result.success
        assert client_tables(env["db_url"]) == {"users": 0, "portfolios": 0, "positions": 0, "tags": 0, "position_tags": 0}
        with engine.connect() as conn:
            outcomes = [r.outcome for r in conn.execute(select(OnboardingAuditLog.outcome))]
        assert outcomes == ["failed"]
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER IF EXISTS refuse_links" + (" ON position_tags" if conn.dialect.name == "postgresql" else "")))


def test_production_uses_random_uuids(env, monkeypatch):
    monkeypatch.setenv("SIGMASIGHT_ENV", "production")
    write_drop(env["imports"], "prod@example.com", "AAPL,10,150,LONG,2024-01-15,Core,,,\n",
               {"password": "Str0ng!Passphrase-x"})
    assert onboard("prod@example.com").success
    with get_engine(env["db_url"]).connect() as conn:
        user_id = conn.execute(select(User.id)).scalar_one()
        portfolio_id = conn.execute(select(Portfolio.id)).scalar_one()
    assert user_id != deterministic_uuid("prod@example.com_user")
    assert portfolio_id != deterministic_uuid("prod@example.com_portfolio")
    assert uuid.UUID(str(user_id)).version == 4


def test_demo_drops_onboard(env):
    for email in ("demo_individual@sigmasight.com", "demo_hnw@sigmasight.com", "demo_hedgefundstyle@sigmasight.com"):
        copy_demo(env["imports"], email)
        assert onboard(email).success, email
    counts = client_tables(env["db_url"])
    assert counts["users"] == 3 and counts["positions"] == 16 + 17 + 30


def test_password_never_stored_or_logged(env):
    copy_demo(env["imports"], JOHN)
    result = onboard(JOHN)
    assert result.success
    secret = "secure_client_password_123"
    assert secret not in str(table_snapshot(env["db_url"]))
    for event in result.all_events:
        assert secret not in str(event)
