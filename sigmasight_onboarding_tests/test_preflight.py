"""Pre-flight (issue 12): drops the reader accepts but that would fail after the write are refused
before any client row exists — through the CLI and through the Dagster asset, on SQLite and
PostgreSQL, against the real market-data extract in data/market."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import select

from sigmasight_onboarding.cli import main, run_onboarding
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.models import OnboardingAuditLog, Position, User
from sigmasight_onboarding.db.onboarding_state import INCOMPLETE, READY, REJECTED, onboarding_state
from sigmasight_onboarding.drops.preflight import (
    MarketFacts,
    alias_spellings,
    canonical_symbol,
    partition_key_problems,
    password_hash_problems,
    static_problems,
)
from sigmasight_onboarding.drops.reader import ClientDrop, ClientInfo
from sigmasight_onboarding.security import hash_password
from sigmasight_onboarding.ephemeral_instance import ephemeral_instance

from .conftest import client_tables, write_drop
from .hostile_corpus import CORPUS, EMAIL, HostileCase

PREFLIGHT = [c for c in CORPUS if c.category == "preflight"]


def _audit(url: str, key: str) -> list[tuple[str, str, dict]]:
    with get_engine(url).connect() as conn:
        rows = conn.execute(select(OnboardingAuditLog.action, OnboardingAuditLog.outcome, OnboardingAuditLog.details)
                            .where(OnboardingAuditLog.client_email == key).order_by(OnboardingAuditLog.id)).all()
    return [tuple(r) for r in rows]


# --- pure rules ---------------------------------------------------------------------------------

def test_canonical_symbol_and_aliases():
    assert canonical_symbol("BRK.B") == canonical_symbol("BRK/B") == canonical_symbol("BRK-B") == "BRK-B"
    assert alias_spellings("BRK/B") == ["BRK-B", "BRK.B"]
    assert alias_spellings("AAPL") == []


def test_partition_key_rule():
    assert partition_key_problems("john@example.com") == []
    assert "Dagster" in partition_key_problems("a|b@example.com")[0].rule
    assert partition_key_problems("a...b@example.com")


def test_password_hash_rule_runs_bcrypt():
    assert password_hash_problems(hash_password("Correct-Horse-Battery-9", 4)) == []
    assert password_hash_problems(None) == []
    for bad in ("$2b$12$" + "a" * 53, "$2b$99$" + "a" * 53, "$2b$03$" + "e" * 53):
        (problem,) = password_hash_problems(bad)
        assert problem.column == "password_hash" and problem.value == "<redacted>" and "bcrypt" in problem.rule


def _drop(rows: list[dict], email="x@example.com") -> ClientDrop:
    frame = pd.DataFrame(rows, index=pd.Index(range(2, 2 + len(rows)), name="line"))
    for col in ("underlying_symbol", "strike_price", "expiration_date"):
        if col not in frame:
            frame[col] = None
    frame["tags"] = [[] for _ in rows]
    client = ClientInfo(email=email, full_name="X", portfolio_name="P", portfolio_description=None, currency="USD")
    return ClientDrop(folder=None, client=client, positions=frame, content_hash="", warnings=[])


def test_exact_decimal_rule_matches_what_sqlite_returns():
    ok = {"symbol": "F", "position_type": "LONG", "quantity": Decimal("999999999999.9999"), "entry_price": Decimal("1"),
          "entry_date": date(2024, 1, 2)}
    # 16 significant digits: SQLite's float gives back 894120449492.8206 (SQLAlchemy formats it at the column's scale)
    assert f"{float(Decimal('894120449492.8205')):.4f}" == "894120449492.8206"
    fifteen = {**ok, "quantity": Decimal("99999999999.9999")}
    assert static_problems(_drop([fifteen]), date(2026, 8, 3)) == []
    assert [p.column for p in static_problems(_drop([{**ok, "quantity": Decimal("894120449492.8205")}]), date(2026, 8, 3))] == ["quantity"]


def test_outage_needs_every_symbol_failed_for_a_provider_reason():
    down = MarketFacts(as_of=date(2026, 8, 3), coverage={"AAPL": 0.0, "SPY": 0.0},
                       failures={"AAPL": "fmp: provider error (ConnectError: refused)", "SPY": "fmp: provider error (ConnectError: refused)"})
    assert "ConnectError" in down.outage()
    unknown = MarketFacts(as_of=date(2026, 8, 3), coverage={"ZZZZ": 0.0, "SPY": 1.0}, failures={"ZZZZ": "file: not in market data file"})
    assert unknown.outage() is None


# --- the corpus' pre-flight cases end to end (CLI), SQLite and PostgreSQL -------------------------

@pytest.mark.parametrize("case", PREFLIGHT, ids=[c.name for c in PREFLIGHT])
def test_preflight_case_through_cli(case: HostileCase, env, monkeypatch, capsys):
    for name, value in case.env:
        monkeypatch.setenv(name, value)
    folder = case.materialise(env["imports"], env["tmp"] / "scratch")
    code = main(["onboard", str(folder), "--sessions", "0"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if case.preflight:
        assert code == 1, (case.name, out, err)
        assert "nothing was written" in err
        for expected in case.preflight:
            where = f"line {expected.line}" if isinstance(expected.line, int) else expected.file
            assert any(expected.words in line and where in line for line in err.splitlines()), (case.name, err)
        assert client_tables(env["db_url"]) == dict.fromkeys(client_tables(env["db_url"]), 0), case.name
        assert [o for _a, o, _d in _audit(env["db_url"], case.key)] == ["rejected"]
        assert onboarding_state(get_engine(env["db_url"]), case.key).state == REJECTED
    else:
        assert code == 0, (case.name, out, err)
        # --sessions 0: written but not verified -> visibly INCOMPLETE, never silently "success"
        assert onboarding_state(get_engine(env["db_url"]), case.key).state == INCOMPLETE
        for key, value in case.stored:
            if key == "warning":
                assert value in out, (case.name, out)
            else:
                with get_engine(env["db_url"]).connect() as conn:
                    assert conn.execute(select(Position.symbol)).scalars().all() == [value]


def test_expired_warning_uses_the_as_of_date(env, capsys):
    """D7: an option expiring after the as-of date is priced live by the analytics: no 'expired' warning."""
    folder = write_drop(env["imports"], "d7@example.com",
                        "SPY260918C00500000,2,7.00,LC,2026-01-05,,SPY,500,2026-09-18\n"
                        "SPY260717C00500000,2,7.00,LC,2026-01-05,,SPY,500,2026-07-17\n")
    if date.today() <= date(2026, 9, 18):
        pytest.skip("needs today after 2026-09-18")
    assert main(["onboard", str(folder), "--sessions", "0"]) == 0
    out = capsys.readouterr().out
    assert "SPY260918C00500000 expires on 2026-09-18, after the as-of date 2026-08-03" in out
    assert "SPY260918C00500000 expired" not in out
    assert "SPY260717C00500000 expired on 2026-07-17, before the as-of date 2026-08-03" in out


# --- the Dagster asset refuses the same drops (UI / sensor path) -----------------------------------

def test_asset_rejects_before_writing_and_names_the_symbols(env):
    key = "d1@example.com"
    write_drop(env["imports"], key, "ZZZZ,100,10.00,LONG,2025-06-02,Core,,,\n^TNX,10,4.5,LONG,2025-06-02,,,,\n"
                                    "BRK.B,10,400,LONG,2025-06-02,,,,\nBRK-B,5,410,LONG,2025-06-02,,,,\n"
                                    "AAPL,999999999999,150.00,LONG,2025-06-02,,,,\n")
    result = run_onboarding(key, ephemeral_instance())
    assert not result.success
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == "drop_passes_schema"]
    assert not check.passed
    rules = {(r.data["line"], r.data["column"]): r.data["rule"] for r in check.metadata["problems"].value.records}
    assert "ZZZZ" in rules[(2, "symbol")] and "no prices" in rules[(2, "symbol")]
    assert "index or a yield" in rules[(3, "symbol")]
    assert "same listing" in rules[(5, "symbol")]
    assert "market value" in rules[(6, "quantity")]
    assert client_tables(env["db_url"]) == dict.fromkeys(client_tables(env["db_url"]), 0)
    assert [o for _a, o, _d in _audit(env["db_url"], key)] == ["rejected"]


# --- D13: provider chain unreachable: a fast, clear failure before anything is written -------------

def test_unreachable_provider_chain_fails_fast_naming_the_cause(env, monkeypatch):
    import httpx

    from sigmasight_onboarding.config import get_settings
    from sigmasight_onboarding.drops.market_facts import preflight_drop
    from sigmasight_onboarding.drops.problems import DropValidationError
    from sigmasight_onboarding.drops.reader import read_drop
    from sigmasight_onboarding.resources.price_providers import build_provider_chain

    monkeypatch.setenv("SIGMASIGHT_PROVIDERS", "fmp")
    monkeypatch.setenv("FMP_API_KEY", "test-key-123456")
    requests: list[str] = []

    def refuse(request: httpx.Request):
        requests.append(str(request.url.path))
        raise httpx.ConnectError("connection refused", request=request)

    sleeps: list[float] = []
    settings = get_settings()
    chain = build_provider_chain(settings, transport=httpx.MockTransport(refuse), sleep=sleeps.append)
    folder = write_drop(env["imports"], "d13@example.com", "AAPL,10,150,LONG,2024-01-15,,,,\nMSFT,5,300,LONG,2024-01-15,,,,\n")
    drop = read_drop(folder, settings)
    with pytest.raises(DropValidationError) as info:
        preflight_drop(drop, get_engine(env["db_url"]), chain, settings, date(2026, 8, 3))
    (problem,) = info.value.problems
    assert problem.file == "market data" and "fmp" in problem.rule and "ConnectError" in problem.rule
    assert len(requests) == 2  # one probe request and its single retry: not the full retry budget per symbol
    assert sum(sleeps) < 1.0
    assert client_tables(env["db_url"]) == dict.fromkeys(client_tables(env["db_url"]), 0)


def _rename_client(folder, case: HostileCase, name: str) -> None:
    """Each case its own client: the email in client.json follows the folder name (when it is the default)."""
    import json

    try:
        data = json.loads(case.client_json)
    except ValueError:
        return
    if isinstance(data, dict) and data.get("email") == EMAIL and folder.is_dir() and not folder.is_symlink():
        target = folder / "client.json"
        if target.is_file() and not target.is_symlink():
            target.write_text(json.dumps({**data, "email": name}))


# --- the property: every drop ends READY, or with 0 client rows, or visibly INCOMPLETE ---------------

def test_property_every_drop_is_ready_rejected_or_visibly_incomplete(env, monkeypatch):
    """Every pre-flight case and a sample of the hostile corpus through the Dagster job, one
    database: a drop either left no row of its client (state REJECTED) or its state says READY or
    INCOMPLETE (with stage and reason) — never a silently half-written client."""
    from .hostile_corpus import LIMITS
    from .test_hostile_drops import DB_SAMPLE

    for name, value in LIMITS.items():
        monkeypatch.setenv(name, value)
    instance = ephemeral_instance()
    engine = get_engine(env["db_url"])
    cases = [c for c in PREFLIGHT if not c.env] + list(DB_SAMPLE)
    for i, case in enumerate(cases):
        name = case.folder_name if case.folder_name != EMAIL else f"prop-{i:03d}@example.com"
        folder = case.materialise(env["imports"], env["tmp"] / f"scratch-{i}", folder_name=name)
        if case.category == "preflight":  # the other cases keep their exact bytes (and are rejected anyway)
            _rename_client(folder, case, name)
        key = name.lower()
        run_onboarding(key, instance)
        with engine.connect() as conn:
            has_user = conn.execute(select(User.id).where(User.email == key)).first() is not None
        state = onboarding_state(engine, key)
        if has_user:
            assert state.state in (READY, INCOMPLETE) and (state.state == READY or state.stage), (case.name, state)
        else:
            assert state.state == REJECTED, (case.name, state)
        if case.preflight or case.expected:
            assert not has_user, f"{case.name}: a rejected drop wrote its client"
