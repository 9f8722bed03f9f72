"""`price_history`: gap-aware backfill from the real shipped data, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from sigmasight_onboarding.calendar import sessions_between
from sigmasight_onboarding.cli import main, run_onboarding
from sigmasight_onboarding.config import SHIPPED_MARKET_DATA, get_settings
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.models import MarketDataCache, Position
from sigmasight_onboarding.resources.market_data_resource import resolve_as_of
from sigmasight_onboarding.ephemeral_instance import ephemeral_instance

from .conftest import client_tables, copy_demo, write_drop

HF = "demo_hedgefundstyle@sigmasight.com"


def materialization_meta(result, asset: str) -> dict:
    for event in result.get_asset_materialization_events():
        if event.asset_key.to_user_string() == asset:
            return {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}
    raise AssertionError(f"{asset} not materialised")


def checks(result) -> dict[str, bool]:
    return {c.check_name: c.passed for c in result.get_asset_check_evaluations()}


def test_demo_backfill_from_real_file_then_noop(env):
    copy_demo(env["imports"], HF)
    instance = ephemeral_instance()
    first = run_onboarding(HF, instance)
    assert first.success
    meta = materialization_meta(first, "price_history")
    assert meta["as_of"] == "2026-08-03"  # newest session of the shipped real data, not today
    assert meta["provider_calls"] >= 1 and meta["rows_added"] > 10_000
    assert meta["symbols_failed"] == 0
    assert all(checks(first).values())
    engine = get_engine(env["db_url"])
    with engine.connect() as conn:
        sources = conn.execute(select(MarketDataCache.data_source).distinct()).scalars().all()
        n_rows = conn.execute(select(func.count()).select_from(MarketDataCache)).scalar_one()
    assert sources == ["file"]
    # the stored prices are exactly the real data (independent read of the shipped file)
    truth = pd.read_parquet(SHIPPED_MARKET_DATA, filters=[("symbol", "==", "NVDA")])
    truth = truth[(truth["date"] >= date(2024, 8, 3)) & (truth["date"] <= date(2026, 8, 3))]
    with engine.connect() as conn:
        stored = dict(conn.execute(select(MarketDataCache.date, MarketDataCache.adj_close).where(MarketDataCache.symbol == "NVDA")).all())
    assert len(stored) == len(truth) == len(sessions_between(date(2024, 8, 3), date(2026, 8, 3)))
    assert np.allclose([stored[d] for d in truth["date"]], truth["adj_close"].to_numpy(), rtol=0, atol=1e-9)

    second = run_onboarding(HF, instance)
    assert second.success
    meta2 = materialization_meta(second, "price_history")
    assert (meta2["provider_calls"], meta2["rows_added"]) == (0, 0)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(MarketDataCache)).scalar_one() == n_rows


def test_equity_positions_valued_at_as_of_price(env):
    copy_demo(env["imports"], HF)
    assert run_onboarding(HF, ephemeral_instance()).success
    truth = pd.read_parquet(SHIPPED_MARKET_DATA, filters=[("symbol", "in", ["TSLA", "NVDA"]), ("date", "==", date(2026, 8, 3))])
    price = dict(zip(truth["symbol"], truth["adj_close"]))
    with get_engine(env["db_url"]).connect() as conn:
        rows = {r.symbol: r for r in conn.execute(select(Position.__table__))}
    assert float(rows["TSLA"].market_value) == pytest.approx(-1500 * round(price["TSLA"], 4), abs=0.01)
    assert float(rows["TSLA"].unrealized_pnl) == pytest.approx(-1500 * (round(price["TSLA"], 4) - 240.0), abs=0.01)
    assert float(rows["NVDA"].last_price) == pytest.approx(price["NVDA"], abs=1e-4)


def test_symbol_absent_from_data_fails_coverage_naming_it(env):
    """Issue 12: a symbol no provider has is named by the pre-flight, before the client is written
    (it used to be written first and then fail held_symbols_coverage)."""
    write_drop(env["imports"], "unh@example.com", "UNH,10,500,LONG,2024-01-15,,,,\nAAPL,10,150,LONG,2024-01-15,,,,\n")
    result = run_onboarding("unh@example.com", ephemeral_instance())
    assert not result.success
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    assert [c.check_name for c in failed] == ["drop_passes_schema"]
    rules = [(r.data["line"], r.data["value"], r.data["rule"]) for r in failed[0].metadata["problems"].value.records]
    assert len(rules) == 1 and rules[0][:2] == (2, "UNH") and "no prices" in rules[0][2]
    assert client_tables(env["db_url"])["users"] == 0
    with get_engine(env["db_url"]).connect() as conn:
        assert conn.execute(select(func.count()).where(MarketDataCache.symbol == "UNH")).scalar_one() == 0


def test_known_gaps_are_not_refetched(env, monkeypatch, tmp_path):
    """A symbol with a hole in the real feed: the hole is asked for once, then remembered."""
    frame = pd.read_parquet(SHIPPED_MARKET_DATA, filters=[("date", ">=", date(2024, 6, 1))])
    hole = (frame["symbol"] == "AAPL") & (frame["date"] >= date(2025, 3, 3)) & (frame["date"] <= date(2025, 3, 7))
    folder = tmp_path / "csv"
    folder.mkdir()
    frame[~hole].to_csv(folder / "prices.csv", index=False)
    monkeypatch.setenv("SIGMASIGHT_MARKET_DATA_FILE", str(folder))
    write_drop(env["imports"], "gap@example.com", "AAPL,10,150,LONG,2024-01-15,,,,\n")
    instance = ephemeral_instance()
    first = run_onboarding("gap@example.com", instance)
    assert first.success  # 5 missing sessions out of 500 is above 95 % over the last 90 anyway
    assert materialization_meta(first, "price_history")["known_gaps_recorded"] == 5
    second = run_onboarding("gap@example.com", instance)
    assert materialization_meta(second, "price_history")["provider_calls"] == 0


def test_synthetic_prices_only_when_enabled_and_labelled(env, monkeypatch):
    write_drop(env["imports"], "syn@example.com", "UNH,10,500,LONG,2024-01-15,,,,\n")
    monkeypatch.setenv("SIGMASIGHT_ALLOW_SYNTHETIC", "1")
    result = run_onboarding("syn@example.com", ephemeral_instance())
    assert result.success
    meta = materialization_meta(result, "price_history")
    assert meta["synthetic_symbols"] == 1
    with get_engine(env["db_url"]).connect() as conn:
        labels = dict(conn.execute(select(MarketDataCache.symbol, MarketDataCache.data_source).distinct()).all())
    assert labels["UNH"] == "synthetic" and labels["SPY"] == "file"
    monkeypatch.setenv("SIGMASIGHT_ENV", "production")
    with pytest.raises(ValueError, match="refused in production"):
        from sigmasight_onboarding.resources.market_data_resource import MarketDataResource

        MarketDataResource().chain()


def test_as_of_resolution(monkeypatch):
    monkeypatch.delenv("SIGMASIGHT_AS_OF", raising=False)
    monkeypatch.delenv("SIGMASIGHT_PROVIDERS", raising=False)
    monkeypatch.delenv("SIGMASIGHT_MARKET_DATA_FILE", raising=False)
    assert resolve_as_of(get_settings(), today=date(2026, 11, 25)) == date(2026, 8, 3)
    monkeypatch.setenv("SIGMASIGHT_AS_OF", "2025-12-25")  # a holiday rolls back to the previous session
    assert resolve_as_of(get_settings()) == date(2025, 12, 24)


def test_prices_cli(env, capsys):
    assert main(["prices", "AAPL", "BRK.B", "--fetch", "--start", "2026-07-01", "--end", "2026-07-31"]) == 0
    out = capsys.readouterr().out
    assert "BRK.B" in out and "100.0%" in out and "file:" in out
    assert main(["prices", "UNH", "--fetch", "--start", "2026-07-01", "--end", "2026-07-31"]) == 3
    assert "not in market data file" in capsys.readouterr().out
