"""Reference tests for analytics.stress and the scenario file/loader."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from sigmasight_onboarding.analytics import stress
from sigmasight_onboarding.scenarios import FACTOR_NAMES, Scenario, ScenarioFileError, load_scenarios

from .references import MARKET, ql_european


def ql_price(spot, strike, as_of: date, expiry: date, rate, vol, is_call, q=0.0):
    """Independent Black–Scholes reference (QuantLib, see references.ql_european)."""
    return ql_european(spot, strike, as_of, expiry, rate, vol, is_call, q)[0]


# ---------------------------------------------------------------- scenario file


def test_all_18_scenarios_load():
    scenarios = load_scenarios()
    assert len(scenarios) == 18
    assert len({s.id for s in scenarios}) == 18
    by_id = {s.id: s for s in scenarios}
    assert by_id["market_crash_35"].factor_shocks == {"Market": -0.35}
    assert by_id["rates_up_300"].rates_bp == 300
    assert by_id["volatility_spike"].volatility_multiplier == 2.0
    assert by_id["liquidity_crisis"].factor_shocks["Size"] < by_id["liquidity_crisis"].factor_shocks["Market"]
    for s in scenarios:
        assert set(s.factor_shocks) <= set(FACTOR_NAMES)
        assert s.factor_shocks or s.rates_bp


def test_loader_rejects_unknown_factor(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(
        "version: 1\nscenarios:\n"
        "  - {id: ok, name: OK, category: market, shocks: {Market: -0.1}}\n"
        "  - {id: bad_one, name: Bad, category: market, shocks: {Beta: -0.1}}\n"
    )
    with pytest.raises(ScenarioFileError, match="bad_one.*Beta"):
        load_scenarios(p)


def test_loader_rejects_wrong_version_and_duplicates(tmp_path):
    p = tmp_path / "v2.yaml"
    p.write_text("version: 2\nscenarios:\n  - {id: a, name: A, category: m, shocks: {Market: 0.1}}\n")
    with pytest.raises(ScenarioFileError, match="version"):
        load_scenarios(p)
    p.write_text(
        "version: 1\nscenarios:\n  - {id: a, name: A, category: m, shocks: {Market: 0.1}}\n"
        "  - {id: a, name: B, category: m, shocks: {Market: 0.2}}\n"
    )
    with pytest.raises(ScenarioFileError, match="duplicate"):
        load_scenarios(p)


def test_loader_accepts_user_file(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text("version: 1\nscenarios:\n  - {id: x, name: X, category: custom, shocks: {Momentum: -0.2, rates_bp: 10}}\n")
    (s,) = load_scenarios(p)
    assert s.factor_shocks == {"Momentum": -0.2} and s.rates_bp == 10.0 and s.volatility_multiplier == 1.0


# ---------------------------------------------------------------- factor stress


def test_three_position_hand_case():
    scenario = Scenario(id="s", name="S", category="test", factor_shocks={"Market": -0.10, "Value": -0.04}, rates_bp=50)
    # Factor moves: Market −0.10; Value spread = −0.04 − (−0.10) = +0.06; Growth not listed → 0.
    positions = pd.DataFrame(
        {"symbol": ["A", "B", "C"], "market_value": [100_000.0, -50_000.0, 20_000.0]}, index=["pa", "pb", "pc"]
    )
    betas = pd.DataFrame(
        {"Market": [1.2, 0.8, 0.3], "Value": [0.5, 0.0, 1.0], "Growth": [0.0, 0.4, 0.0]}, index=["A", "B", "C"]
    )
    rate_betas = {"A": -0.0001, "C": 0.0002}  # B missing → 0
    # A: 1.2(−0.10) + 0.5(0.06) − 0.0001(50) = −0.12 + 0.03 − 0.005 = −0.095 → −9 500
    # B: 0.8(−0.10) + 0.4(0) = −0.08 on a −50 000 short → +4 000
    # C: 0.3(−0.10) + 1.0(0.06) + 0.0002(50) = −0.03 + 0.06 + 0.01 = +0.04 → +800
    res = stress.run_stress_tests(positions, betas, rate_betas, [scenario])
    np.testing.assert_allclose(res.position_pnl.loc["s"].to_numpy(), [-9_500.0, 4_000.0, 800.0], atol=1e-9)
    row = res.summary.loc["s"]
    assert row["portfolio_pnl"] == pytest.approx(-4_700.0)
    assert row["gross_exposure"] == pytest.approx(170_000.0)
    assert row["net_value"] == pytest.approx(70_000.0)
    assert row["pnl_to_gross"] == pytest.approx(-4_700.0 / 170_000.0)
    assert row["pnl_to_net"] == pytest.approx(-4_700.0 / 70_000.0)
    long = res.to_long()
    assert set(long.columns) == {"scenario_id", "position_id", "applied_return", "pnl"} and len(long) == 3


def test_high_beta_floor_long_and_unbounded_short():
    crash = Scenario(id="crash", name="crash", category="t", factor_shocks={"Market": -0.45})
    rally = Scenario(id="rally", name="rally", category="t", factor_shocks={"Market": 0.45})
    positions = pd.DataFrame({"symbol": ["HB", "HB"], "market_value": [10_000.0, -10_000.0]}, index=["long", "short"])
    betas = pd.DataFrame({"Market": [2.5]}, index=["HB"])
    res = stress.run_stress_tests(positions, betas, None, [crash, rally])
    # 2.5 × −45 % = −112.5 % → floored at −100 %: the long loses exactly its value
    assert res.position_pnl.loc["crash", "long"] == pytest.approx(-10_000.0)
    assert res.position_returns.loc["crash", "long"] == -1.0
    # the short's gain is capped at its value (price cannot go below zero)
    assert res.position_pnl.loc["crash", "short"] == pytest.approx(10_000.0)
    # 2.5 × +45 % = +112.5 %: the short loses more than its value
    assert res.position_pnl.loc["rally", "short"] == pytest.approx(-11_250.0)
    assert res.position_pnl.loc["rally", "short"] < -10_000.0


def test_option_revaluation_matches_quantlib():
    as_of, expiry = date(2026, 8, 3), date(2026, 12, 18)
    spot, rate, vol = 755.0, 0.037, 0.18
    scenario = Scenario(
        id="v", name="v", category="t", factor_shocks={"Market": -0.10}, rates_bp=100, volatility_multiplier=2.0
    )
    positions = pd.DataFrame(
        {
            "symbol": ["SPYC", "SPYP"],
            "market_value": [0.0, 0.0],  # option P&L uses model prices, not market_value
            "is_option": [True, True],
            "underlying_symbol": ["SPY", "SPY"],
            "quantity": [3.0, -2.0],
            "strike": [760.0, 700.0],
            "expiration_date": [expiry, expiry],
            "is_call": [True, False],
        },
        index=["c", "p"],
    )
    betas = pd.DataFrame({"Market": [1.0]}, index=["SPY"])
    res = stress.run_stress_tests(
        positions, betas, None, [scenario], as_of=as_of, spots={"SPY": spot}, rate=rate, vols={"SPY": vol}
    )
    s1 = spot * 0.9
    call = 3 * 100 * (ql_price(s1, 760.0, as_of, expiry, rate + 0.01, 2 * vol, True) - ql_price(spot, 760.0, as_of, expiry, rate, vol, True))
    put = -2 * 100 * (ql_price(s1, 700.0, as_of, expiry, rate + 0.01, 2 * vol, False) - ql_price(spot, 700.0, as_of, expiry, rate, vol, False))
    assert res.position_pnl.loc["v", "c"] == pytest.approx(call, rel=1e-8)
    assert res.position_pnl.loc["v", "p"] == pytest.approx(put, rel=1e-8)


def test_default_scenarios_run():
    positions = pd.DataFrame({"symbol": ["A", "TLT"], "market_value": [50_000.0, 30_000.0]})
    betas = pd.DataFrame({"Market": [1.1, 0.0], "Growth": [0.6, 0.0]}, index=["A", "TLT"])
    res = stress.run_stress_tests(positions, betas, {"TLT": -0.0017})
    assert len(res.summary) == 18
    s = res.summary["portfolio_pnl"]
    assert s["market_down_10"] == pytest.approx(-5_500.0)
    assert s["rates_up_100"] == pytest.approx(30_000 * -0.0017 * 100)
    # growth spread in the dot-com replay: −0.69 − (−0.49) = −0.20
    assert res.position_pnl.loc["replay_dotcom", 0] == pytest.approx(50_000 * (1.1 * -0.49 + 0.6 * -0.20))


def test_missing_betas_named():
    positions = pd.DataFrame({"symbol": ["ZZZ"], "market_value": [1.0]})
    with pytest.raises(ValueError, match="ZZZ"):
        stress.run_stress_tests(positions, pd.DataFrame({"Market": [1.0]}, index=["A"]), None, load_scenarios()[:1])


def test_symbol_returns_by_hand_with_absent_nan_and_reordered_betas():
    """r = Σ β f + rate_beta × bp, by hand: betas given with their factor columns in another order and only
    two of them, a NaN beta counting 0, a symbol with no betas row that a realised return covers (its model
    return would be 0), the realised return overriding the model where given."""
    betas = pd.DataFrame({"Value": [0.5, np.nan], "Market": [1.2, 0.8]}, index=["AAA", "BBB"])
    market_only = Scenario(id="m", name="m", category="t", factor_shocks={"Market": -0.10}, rates_bp=50.0,
                           symbol_returns={"CCC": 0.02})
    replay = Scenario(id="r", name="r", category="t", factor_shocks={"Market": -0.10},
                      symbol_returns={"CCC": -0.30, "AAA": -0.05})
    value = Scenario(id="v", name="v", category="t", factor_shocks={"Value": 0.02}, symbol_returns={"CCC": 0.01})
    got = stress.scenario_symbol_returns(["BBB", "AAA", "CCC", "AAA"], betas, {"AAA": 1e-4}, [market_only, replay, value])
    assert got.columns.tolist() == ["BBB", "AAA", "CCC"]
    with pytest.raises(ValueError, match="CCC"):  # CCC has no betas row and one scenario without a realised return
        stress.scenario_symbol_returns(["CCC"], betas, None, [Scenario(id="x", name="x", category="t")])
    # legacy spread model (no loadings): f_Value = s_Value − f_Market, f_Market = s_Market (0 when absent)
    expected = pd.DataFrame(
        [[0.8 * -0.10, 1.2 * -0.10 + 1e-4 * 50.0, 0.02],
         [0.8 * -0.10, -0.05, -0.30],
         [0.0, 0.5 * 0.02, 0.01]],
        index=["m", "r", "v"], columns=["BBB", "AAA", "CCC"])
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-15)


# ---------------------------------------------------------------- historical replay


def test_historical_replay_worst_window_real_data():
    df = pd.read_parquet(MARKET)
    prices = df.pivot(index="date", columns="symbol", values="adj_close").sort_index()
    (sc,) = stress.historical_replay_scenarios(prices, lookback=252, window=20)
    px = prices.iloc[-253:]
    spy = px["SPY"].to_numpy()
    brute = [(spy[t + 20] / spy[t] - 1.0, t) for t in range(len(spy) - 20)]
    worst, t = min(brute)
    assert sc.factor_shocks["Market"] == pytest.approx(worst)
    assert sc.symbol_returns["SPY"] == pytest.approx(worst)
    assert sc.symbol_returns["AAPL"] == pytest.approx(px["AAPL"].iloc[t + 20] / px["AAPL"].iloc[t] - 1.0)
    assert sc.rates_bp == pytest.approx((px["^TNX"].iloc[t + 20] - px["^TNX"].iloc[t]) * 100)
    assert "^TNX" not in sc.symbol_returns
    # realised symbol returns replace the factor model in the stress run
    positions = pd.DataFrame({"symbol": ["AAPL"], "market_value": [10_000.0]})
    res = stress.run_stress_tests(positions, pd.DataFrame({"Market": [5.0]}, index=["AAPL"]), None, [sc])
    assert res.summary["portfolio_pnl"].iloc[0] == pytest.approx(10_000.0 * sc.symbol_returns["AAPL"])
    two = stress.historical_replay_scenarios(prices, lookback=252, window=20, n_scenarios=2)
    assert len(two) == 2 and two[1].factor_shocks["Market"] >= two[0].factor_shocks["Market"]


def test_replay_volatility_multiplier_by_hand():
    """volatility_multiplier = sample stdev of the benchmark's daily returns inside the worst window / over the
    `lookback` returns ending with the window, reaching before the look-back's own rows (statistics.stdev)."""
    import statistics

    closes = [100, 101, 99, 102, 103, 101, 104, 103, 105, 96, 90, 95, 97, 98, 99]  # worst 2-session window: 105 → 90
    days = pd.bdate_range("2026-01-05", periods=len(closes))
    prices = pd.DataFrame({"SPY": closes, "AAPL": np.linspace(50, 64, len(closes))}, index=days)
    (sc,) = stress.historical_replay_scenarios(prices, lookback=6, window=2)
    start, end = closes.index(105), closes.index(90)
    assert sc.id == f"replay_worst_2d_{days[start]:%Y%m%d}" and end == start + 2
    assert sc.factor_shocks["Market"] == pytest.approx(90 / 105 - 1)
    ret = {j: closes[j] / closes[j - 1] - 1 for j in range(1, len(closes))}  # return into row j
    in_window = [ret[start + 1], ret[start + 2]]
    to_window_end = [ret[j] for j in range(end - 5, end + 1)]  # 6 returns over rows 4..10; the look-back is rows 8..14
    assert sc.volatility_multiplier == pytest.approx(statistics.stdev(in_window) / statistics.stdev(to_window_end), rel=1e-12)


def test_a_replay_window_is_one_definition_whichever_session_finds_it():
    """The sessions of a range find the same worst window and must describe it identically (the stored
    definition of a replay id is shared by every session and client): the multiplier too, not only the moves."""
    df = pd.read_parquet(MARKET)
    prices = df.pivot(index="date", columns="symbol", values="adj_close").sort_index()
    found = []
    for newest in (0, 1, 5, 40):  # the frame a session's run reads: 507 sessions ending on that session
        frame = prices.iloc[: len(prices) - newest].iloc[-507:]
        (sc,) = stress.historical_replay_scenarios(frame, lookback=252, window=20)
        found.append(sc)
    assert len({sc.id for sc in found}) == 1
    assert all(sc == found[0] for sc in found[1:]), [sc.volatility_multiplier for sc in found]


def test_loader_cache_returns_independent_copies_and_rereads_changed_file(tmp_path):
    import os

    a, b = load_scenarios(), load_scenarios()
    assert a == b and a is not b and a[0] is not b[0]
    a[0].factor_shocks["Market"] = 0.99  # mutating a result must not leak into later calls
    a.append(a[0])
    c = load_scenarios()
    assert c == b and len(c) == 18 and c[0].factor_shocks != {"Market": 0.99}

    p = tmp_path / "mine.yaml"
    p.write_text("version: 1\nscenarios:\n  - {id: x, name: X, category: c, shocks: {Market: -0.1}}\n")
    assert load_scenarios(p)[0].factor_shocks == {"Market": -0.1}
    st = p.stat()
    p.write_text("version: 1\nscenarios:\n  - {id: x, name: X, category: c, shocks: {Market: -0.2}}\n")
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a new version even on coarse clocks
    assert load_scenarios(p)[0].factor_shocks == {"Market": -0.2}
    p.write_text("version: 1\nscenarios:\n  - {id: x, name: X, category: c, shocks: {Beta: -0.2}}\n")
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000))
    with pytest.raises(ScenarioFileError):
        load_scenarios(p)


def test_orthogonal_loadings_move_every_listed_proxy_by_its_shock():
    """Orthogonal model on the real extract: the style ETFs' own betas (perfect fits) with the model's
    loadings reproduce each listed proxy's total shock exactly; an unlisted style moves as the market implies."""
    from pathlib import Path

    from sigmasight_onboarding.analytics.factors import FACTOR_ETFS, betas_wide, multivariate_betas
    from sigmasight_onboarding.analytics.returns import simple_returns

    data = Path(__file__).resolve().parents[1] / "data" / "market" / "daily_adj_close_extract.parquet"
    etfs = list(FACTOR_ETFS.values())
    px = pd.read_parquet(data, filters=[("symbol", "in", etfs)]).pivot(index="date", columns="symbol", values="adj_close")
    rets = simple_returns(px.sort_index())
    betas, diag = multivariate_betas(rets[etfs], rets[etfs], window=252)
    wide = betas_wide(betas)
    sc = Scenario(id="s", name="S", category="t", factor_shocks={"Market": -0.10, "Value": -0.04, "Growth": -0.15})
    r = stress.scenario_symbol_returns(etfs, wide, None, [sc], diag.loadings).loc["s"]
    assert r["SPY"] == pytest.approx(-0.10, abs=1e-9)
    assert r["VTV"] == pytest.approx(-0.04, abs=1e-9)
    assert r["VUG"] == pytest.approx(-0.15, abs=1e-9)
    # MTUM not listed: OLS of MTUM on SPY, VTV⊥, VUG⊥ (numpy, independent of the model code) predicts its move.
    win = rets[etfs].iloc[-252:]
    x = np.column_stack([np.ones(252), win["SPY"]])
    v = win["VTV"] - x @ np.linalg.lstsq(x, win["VTV"], rcond=None)[0]
    x2 = np.column_stack([x, v])
    g = win["VUG"] - x2 @ np.linalg.lstsq(x2, win["VUG"], rcond=None)[0]
    x3 = np.column_stack([x2, g])
    c = np.linalg.lstsq(x3, win["MTUM"], rcond=None)[0]
    f_value = -0.04 - np.linalg.lstsq(x, win["VTV"], rcond=None)[0][1] * -0.10
    b_vug = np.linalg.lstsq(x2, win["VUG"], rcond=None)[0]
    f_growth = -0.15 - (b_vug[1] * -0.10 + b_vug[2] * f_value)
    assert r["MTUM"] == pytest.approx(c[1] * -0.10 + c[2] * f_value + c[3] * f_growth, abs=1e-9)
