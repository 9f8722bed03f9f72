"""Position analytics assets on the hedge-fund demo, on SQLite and PostgreSQL.

Stored numbers are checked against independent references computed here from the real shipped
prices (statsmodels OLS, the closed-form Black–Scholes), not against the engines themselves.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.stats import norm
from sqlalchemy import func, select, text

from sigmasight_onboarding.cli import run_onboarding
from sigmasight_onboarding.config import SHIPPED_MARKET_DATA
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.models import Base
from sigmasight_onboarding.ephemeral_instance import ephemeral_instance

from .conftest import copy_demo, write_drop

HF = "demo_hedgefundstyle@sigmasight.com"
AS_OF = date(2026, 8, 3)
ANALYTICS_TABLES = [
    "onb_position_greeks", "onb_factor_definitions", "onb_position_factor_exposures", "onb_factor_exposures",
    "onb_position_interest_rate_betas", "onb_correlation_calculations", "onb_pairwise_correlations",
    "onb_correlation_clusters", "onb_correlation_cluster_positions",
]


def counts(url: str) -> dict[str, int]:
    with get_engine(url).connect() as conn:
        return {t: conn.execute(select(func.count()).select_from(Base.metadata.tables[t])).scalar_one() for t in ANALYTICS_TABLES}


def real_prices(symbols: list[str]) -> pd.DataFrame:
    frame = pd.read_parquet(SHIPPED_MARKET_DATA, filters=[("symbol", "in", symbols), ("date", "<=", AS_OF)])
    return frame.pivot(index="date", columns="symbol", values="adj_close").sort_index()


@pytest.fixture
def onboarded(env):
    copy_demo(env["imports"], HF)
    instance = ephemeral_instance()
    result = run_onboarding(HF, instance)
    assert result.success, [c.check_name for c in result.get_asset_check_evaluations() if not c.passed]
    return env, instance, result


def test_hedge_fund_fills_all_nine_tables_and_rerun_is_stable(onboarded):
    env, instance, result = onboarded
    assert all(c.passed for c in result.get_asset_check_evaluations())
    first = counts(env["db_url"])
    assert all(n > 0 for n in first.values()), first
    assert first["onb_position_greeks"] == 8  # the 8 options
    assert first["onb_position_factor_exposures"] == 30 * 7 * 2  # every position × 7 factors × 2 models
    assert first["onb_factor_exposures"] == 7 * 2
    assert first["onb_position_interest_rate_betas"] == 30
    with get_engine(env["db_url"]).connect() as conn:
        options = conn.execute(text("SELECT symbol, last_price, market_value FROM positions WHERE position_type IN ('LC','LP','SC','SP')")).all()
        values_before = conn.execute(text("SELECT position_id, delta, unit_price FROM onb_position_greeks ORDER BY position_id")).all()
    assert len(options) == 8 and all(o.last_price is not None and o.market_value is not None for o in options)
    assert run_onboarding(HF, instance).success
    assert counts(env["db_url"]) == first
    with get_engine(env["db_url"]).connect() as conn:
        values_after = conn.execute(text("SELECT position_id, delta, unit_price FROM onb_position_greeks ORDER BY position_id")).all()
    assert values_after == values_before


def test_stored_greeks_match_closed_form(onboarded):
    env, _, _ = onboarded
    with get_engine(env["db_url"]).connect() as conn:
        rows = conn.execute(text(
            "SELECT p.symbol, p.strike_price, p.expiration_date, p.position_type, p.quantity, g.* FROM onb_position_greeks g "
            "JOIN positions p ON p.id = g.position_id")).mappings().all()
    spot_truth = real_prices(["SPY", "NVDA", "AAPL", "QQQ", "IWM", "TSLA", "META", "AMZN", "^IRX"]).loc[AS_OF]
    for r in rows:
        underlying = r["symbol"][: len(r["symbol"]) - 15]
        S, K = spot_truth[underlying], float(r["strike_price"])
        T = (pd.Timestamp(r["expiration_date"]) - pd.Timestamp(AS_OF)).days / 365.0
        sigma, rate = r["implied_volatility"], spot_truth["^IRX"] / 100.0
        assert r["underlying_price"] == pytest.approx(S, rel=1e-12)
        assert r["risk_free_rate"] == pytest.approx(rate, rel=1e-12)  # ^IRX percent -> decimal
        d1 = (math.log(S / K) + (rate + 0.5 * sigma**2) * T) / (sigma * math.sqrt(T))
        d2 = d1 - sigma * math.sqrt(T)
        if r["position_type"] in ("LC", "SC"):
            price, delta = S * norm.cdf(d1) - K * math.exp(-rate * T) * norm.cdf(d2), norm.cdf(d1)
        else:
            price, delta = K * math.exp(-rate * T) * norm.cdf(-d2) - S * norm.cdf(-d1), norm.cdf(d1) - 1
        assert r["unit_price"] == pytest.approx(price, rel=1e-8)
        assert r["delta"] == pytest.approx(delta, rel=1e-8)
        assert r["position_value"] == pytest.approx(price * float(r["quantity"]) * 100, rel=1e-8)
        assert r["volatility_source"] == "realised_63d" and r["price_source"] == "model"


def test_stored_single_factor_beta_matches_statsmodels(onboarded):
    env, _, _ = onboarded
    prices = real_prices(["NVDA", "SPY", "TSLA", "VTV"])
    window = prices[prices.index > date(2024, 8, 3)]
    returns = window.pct_change().dropna().tail(252)
    with get_engine(env["db_url"]).connect() as conn:
        stored = dict(conn.execute(text(
            "SELECT p.symbol || '/' || f.name, e.exposure_value FROM onb_position_factor_exposures e "
            "JOIN positions p ON p.id = e.position_id JOIN onb_factor_definitions f ON f.id = e.factor_id "
            "WHERE e.model = 'single' AND p.symbol IN ('NVDA', 'TSLA')")).all())
    for sym in ("NVDA", "TSLA"):
        for factor, etf in (("Market", "SPY"), ("Value", "VTV")):
            ols = sm.OLS(returns[sym], sm.add_constant(returns[etf])).fit()
            assert stored[f"{sym}/{factor}"] == pytest.approx(ols.params[etf], abs=1e-8)


def test_limited_history_is_flagged_not_invented(env, monkeypatch, tmp_path):
    frame = pd.read_parquet(SHIPPED_MARKET_DATA, filters=[("date", ">=", date(2024, 6, 1))])
    late = (frame["symbol"] == "PLTR") & (frame["date"] < date(2026, 2, 2))  # ~125 sessions of history
    folder = tmp_path / "csv"
    folder.mkdir()
    frame[~late].to_csv(folder / "prices.csv", index=False)
    monkeypatch.setenv("SIGMASIGHT_MARKET_DATA_FILE", str(folder))
    write_drop(env["imports"], "young@example.com", "PLTR,100,30,LONG,2024-01-15,,,,\nAAPL,100,150,LONG,2024-01-15,,,,\n")
    result = run_onboarding("young@example.com", ephemeral_instance())
    assert result.success
    with get_engine(env["db_url"]).connect() as conn:
        flags = dict(conn.execute(text(
            "SELECT p.symbol, e.quality_flag FROM onb_position_factor_exposures e JOIN positions p ON p.id = e.position_id "
            "WHERE e.model = 'multivariate'")).all())
        n_obs = conn.execute(text(
            "SELECT DISTINCT e.n_obs FROM onb_position_factor_exposures e JOIN positions p ON p.id = e.position_id WHERE p.symbol = 'PLTR'")).scalars().all()
    assert flags == {"PLTR": "limited_history", "AAPL": "full_history"}
    assert n_obs == [int(((frame["symbol"] == "PLTR") & ~late).sum()) - 1]


def test_other_clients_rows_untouched(env):
    copy_demo(env["imports"], HF)
    copy_demo(env["imports"], "demo_individual@sigmasight.com")
    instance = ephemeral_instance()
    assert run_onboarding("demo_individual@sigmasight.com", instance).success
    with get_engine(env["db_url"]).connect() as conn:
        before = conn.execute(text("SELECT * FROM onb_position_factor_exposures ORDER BY id")).all()
    assert run_onboarding(HF, instance).success
    with get_engine(env["db_url"]).connect() as conn:
        individual_after = conn.execute(text(
            "SELECT e.* FROM onb_position_factor_exposures e JOIN portfolios p ON p.id = e.portfolio_id "
            "JOIN users u ON u.id = p.user_id WHERE u.email = 'demo_individual@sigmasight.com' ORDER BY e.id")).all()
    assert individual_after == before


def test_no_huge_t_statistic_is_stored_and_market_betas_reconcile(onboarded):
    """Issue 15: perfect fits (SPY options on SPY, IWM options on IWM) store NULL t with a flag; no |t| > 1e6;
    the orthogonal multivariate Market beta equals the single-factor one for full-history positions;
    every rate beta carries its significance flag."""
    env, _, _ = onboarded
    with get_engine(env["db_url"]).connect() as conn:
        worst = [conn.execute(text(f"SELECT MAX(ABS(t_stat)) FROM {t}")).scalar_one()
                 for t in ("onb_position_factor_exposures", "onb_position_interest_rate_betas")]
        spy_opt = conn.execute(text(
            "SELECT e.quality_flag, e.t_stat, e.model FROM onb_position_factor_exposures e JOIN positions p ON p.id = e.position_id "
            "JOIN onb_factor_definitions f ON f.id = e.factor_id WHERE p.underlying_symbol = 'SPY' AND f.name = 'Market'")).all()
        market = conn.execute(text(
            "SELECT p.symbol, e.model, e.exposure_value, e.quality_flag FROM onb_position_factor_exposures e "
            "JOIN positions p ON p.id = e.position_id JOIN onb_factor_definitions f ON f.id = e.factor_id "
            "WHERE f.name = 'Market'")).all()
        low = conn.execute(text("SELECT low_significance FROM onb_position_interest_rate_betas")).scalars().all()
        greeks = conn.execute(text("SELECT dividend_yield, dividend_yield_source, volatility_source, price_source "
                                   "FROM onb_position_greeks")).all()
        repriced = conn.execute(text("SELECT pnl_up_100bp_repriced FROM onb_position_interest_rate_betas")).scalars().all()
    assert all(w is not None and w <= 1e6 for w in worst), worst
    assert spy_opt and all(r.quality_flag == "perfect_fit" and r.t_stat is None for r in spy_opt)
    by = {}
    for r in market:
        by.setdefault(r.symbol, {})[r.model] = (r.exposure_value, r.quality_flag)
    for sym, m in by.items():
        if m["single"][1] in ("full_history", "perfect_fit"):
            assert m["multivariate"][0] == pytest.approx(m["single"][0], rel=1e-9, abs=1e-12), sym
    assert low and all(v is not None for v in low)
    # the file provider has no dividends and no option quotes: q = 0 flagged, realised vol labelled
    assert greeks and all(g.dividend_yield == 0.0 and g.dividend_yield_source == "unavailable_assumed_0"
                          and g.volatility_source == "realised_63d" and g.price_source == "model" for g in greeks)
    assert repriced and all(v is not None for v in repriced)


# ------------------------------------------------------------------ a multi-client run's pandera checks, validated at once

def _batch_markets(n: int):
    """`n` clients of one multi-client run (ClientMarkets sharing a BatchMarket; only what the checks use is filled)."""
    import uuid

    from sigmasight_onboarding.assets.client_market import BatchMarket, ClientMarket
    from sigmasight_onboarding.db.portfolio_reads import ClientPortfolio

    batch = BatchMarket(pd.DataFrame(), [])
    return {f"c{i}@batch.test": ClientMarket(ClientPortfolio(f"c{i}@batch.test", uuid.uuid4(), uuid.uuid4()), AS_OF, [AS_OF],
                                             pd.DataFrame(), pd.DataFrame(), 0.04, batch=batch) for i in range(n)}


def _greeks_frame(rows: int, delta: float = 0.5) -> pd.DataFrame:
    return pd.DataFrame({"unit_price": [3.0] * rows, "delta": [delta] * rows, "gamma": [0.01] * rows, "theta": [-0.02] * rows,
                         "vega": [0.1] * rows, "rho": [0.05] * rows, "underlying_price": [100.0] * rows,
                         "implied_volatility": [0.3] * rows})


@pytest.mark.parametrize("odd_one", ["none", "delta out of range", "integer column", "non-finite row"])
def test_a_batch_of_schema_checks_gives_each_client_the_result_it_gets_alone(odd_one):
    """Three clients' greeks frames (2, 0 and 3 rows) checked in one batch: whatever one client's frame holds, every
    client gets the result a run of that client alone gives it — the placeholders handed out meanwhile fail, and
    only the odd client fails (delta 1.5 outside [-1, 1]; an integer delta where floats are declared; an infinite theta)."""
    from sigmasight_onboarding.assets.position_analytics import GREEKS_SCHEMA, _schema_check, validate_batch_schema_checks

    markets = _batch_markets(3)
    frames = [_greeks_frame(2), _greeks_frame(0), _greeks_frame(3)]
    if odd_one == "delta out of range":
        frames[2].loc[1, "delta"] = 1.5
    elif odd_one == "integer column":
        frames[2]["delta"] = 0
    elif odd_one == "non-finite row":
        frames[2].loc[0, "theta"] = np.inf
    placeholders = [_schema_check("greeks_schema", "position_greeks", GREEKS_SCHEMA, f, m) for f, m in zip(frames, markets.values())]
    assert not any(p.passed for p in placeholders)
    got = validate_batch_schema_checks(markets)
    alone = [_schema_check("greeks_schema", "position_greeks", GREEKS_SCHEMA, f) for f in frames]
    assert [got[(k, "greeks_schema")].passed for k in markets] == [True, True, odd_one == "none"]
    for key, expected in zip(markets, alone):
        result = got[(key, "greeks_schema")]
        assert (result.passed, result.metadata) == (expected.passed, expected.metadata)
    assert validate_batch_schema_checks(markets) == {}  # each deferred check is handed out once
