"""Reference tests for analytics.risk: closed forms, hand cases, numpy/scipy/QuantLib references."""

from __future__ import annotations

import dataclasses
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sigmasight_onboarding.analytics import risk

from .references import MARKET, ql_european


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    df = pd.read_parquet(MARKET)
    return df.pivot(index="date", columns="symbol", values="adj_close").sort_index()


def ql_price(spot, strike, as_of: date, expiry: date, rate, vol, is_call, q=0.0):
    """Independent Black–Scholes reference (QuantLib, see references.ql_european)."""
    return ql_european(spot, strike, as_of, expiry, rate, vol, is_call, q)[0]


# ---------------------------------------------------------------- historical VaR / ES


def test_historical_var_matches_numpy_quantile_on_real_pnl(prices):
    spy = prices["SPY"].to_numpy()
    pnl = 1_000_000.0 * (spy[1:] / spy[:-1] - 1.0)[-252:]
    for c in (0.95, 0.975, 0.99):
        assert risk.historical_var(pnl, c) == pytest.approx(-np.quantile(pnl, 1 - c), rel=1e-12)
        es = risk.historical_es(pnl, c)
        q = np.quantile(pnl, 1 - c)
        assert es == pytest.approx(-pnl[pnl <= q].mean(), rel=1e-12)
        assert es >= risk.historical_var(pnl, c)


def test_historical_es_hand_case():
    pnl = np.array([4.0, -8.0, 0.0, 9.0, -1.0, 2.0, -10.0, 3.0, 6.0, -5.0])
    # sorted: -10, -8, -5, -1, 0, 2, 3, 4, 6, 9 ; c = 0.8 → quantile 0.2, rank h = 9 × 0.2 = 1.8
    # q = x(1) + 0.8 (x(2) − x(1)) = −8 + 0.8 × 3 = −5.6 → VaR = 5.6
    # tail {pnl ≤ −5.6} = {−10, −8} → ES = 9
    assert risk.historical_var(pnl, 0.8) == pytest.approx(5.6)
    assert risk.historical_es(pnl, 0.8) == pytest.approx(9.0)


def test_historical_contributions_sum_to_var():
    rng = np.random.default_rng(1)
    m = rng.normal(0, 1000, size=(300, 5))
    total = m.sum(axis=1)
    for c in (0.95, 0.99):
        contrib = risk.historical_var_contributions(m, c)
        assert contrib.sum() == pytest.approx(risk.historical_var(total, c), rel=1e-10)


# ---------------------------------------------------------------- parametric / MC / Euler


def test_parametric_var_two_asset_closed_form():
    w1, w2 = 1_000_000.0, -500_000.0
    s1, s2, rho = 0.01, 0.02, 0.3
    cov = np.array([[s1 * s1, rho * s1 * s2], [rho * s1 * s2, s2 * s2]])
    # σ_p² = w1²σ1² + w2²σ2² + 2 w1 w2 ρ σ1 σ2 = 1e8 + 1e8 − 6e7 = 1.4e8
    sigma_p = math.sqrt(w1**2 * s1**2 + w2**2 * s2**2 + 2 * w1 * w2 * rho * s1 * s2)
    assert sigma_p == pytest.approx(math.sqrt(1.4e8))
    for c in (0.95, 0.99):
        z = stats.norm.ppf(c)
        assert risk.parametric_var([w1, w2], cov, c) == pytest.approx(z * sigma_p, rel=1e-12)
        assert risk.parametric_es([w1, w2], cov, c) == pytest.approx(sigma_p * stats.norm.pdf(z) / (1 - c), rel=1e-12)
    # 10-day square-root-of-time scaling
    assert risk.scale_var(100.0, 10) == pytest.approx(100.0 * math.sqrt(10))


def test_labelled_exposures_align_with_covariance():
    cov = pd.DataFrame([[4e-4, 1e-4], [1e-4, 1e-4]], index=["A", "B"], columns=["A", "B"])
    exp_ba = pd.Series({"B": 2.0e5, "A": 1.0e5})
    assert risk.parametric_var(exp_ba, cov, 0.99) == pytest.approx(risk.parametric_var([1.0e5, 2.0e5], cov.to_numpy(), 0.99))


def test_euler_contributions_sum_to_total():
    rng = np.random.default_rng(7)
    a = rng.normal(size=(5, 5)) * 0.01
    cov = a @ a.T
    w = pd.Series(rng.normal(0, 1e5, 5), index=list("ABCDE"))
    for c in (0.95, 0.99):
        contrib = risk.euler_contributions(w, cov, c)
        assert list(contrib.index) == list("ABCDE")
        assert contrib.sum() == pytest.approx(risk.parametric_var(w, cov, c), rel=1e-12)


def test_monte_carlo_converges_to_parametric_for_linear_portfolio():
    s = np.array([0.01, 0.015, 0.02])
    corr = np.array([[1.0, 0.5, 0.2], [0.5, 1.0, 0.4], [0.2, 0.4, 1.0]])
    cov = corr * np.outer(s, s)
    w = np.array([3e5, -1e5, 2e5])
    n = 20_000
    sigma_p = risk.portfolio_sigma(w, cov)
    for c in (0.95, 0.99):
        mc = risk.monte_carlo_var(w, cov, c, n_paths=n, seed=11)
        # Std error of a sample p-quantile of N(0, σ²): σ sqrt(p(1−p)/n) / φ(z_p); allow 4 s.e.
        se = sigma_p * math.sqrt(c * (1 - c) / n) / stats.norm.pdf(stats.norm.ppf(c))
        assert abs(mc["var"] - risk.parametric_var(w, cov, c)) < 4 * se
        assert mc["es"] == pytest.approx(risk.parametric_es(w, cov, c), rel=0.06)
    # seeded → reproducible
    assert risk.monte_carlo_var(w, cov, 0.99, seed=3)["var"] == risk.monte_carlo_var(w, cov, 0.99, seed=3)["var"]
    with pytest.raises(ValueError):
        risk.monte_carlo_var(w, cov, 0.99, n_paths=500)


def test_seeded_draws_are_numpys_for_every_shape_in_any_order():
    """The cached stream serves every width: each (n_paths, k, seed) draw is bit for bit what a fresh
    numpy.random.default_rng(seed).standard_normal((n_paths, k)) gives — the widths of a range whose book grows and
    shrinks, two seeds and two path counts interleaved — and read-only (a caller cannot corrupt the next one's)."""
    for n, k, seed in [(10_000, 51, 42), (10_000, 52, 42), (10_000, 90, 42), (10_000, 60, 42), (12_000, 60, 42),
                       (10_000, 7, 3), (10_000, 300, 42), (10_000, 1, 42), (10_000, 90, 3)]:
        z = risk.standard_normal_draws(n, k, seed)
        assert z.shape == (n, k) and not z.flags.writeable
        assert np.array_equal(z, np.random.default_rng(seed).standard_normal((n, k))), (n, k, seed)


def test_cholesky_eigen_fallback_for_singular_covariance():
    s = np.array([0.01, 0.02])
    cov = np.outer(s, s)  # perfectly correlated → singular, Cholesky fails
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(cov)
    L = risk.cholesky_factor(cov)
    np.testing.assert_allclose(L @ L.T, cov, atol=1e-15)
    sims = risk.simulate_normal_returns(cov, 10_000, seed=0)
    np.testing.assert_allclose(np.cov(sims.T), cov, rtol=0.05, atol=1e-7)


# ---------------------------------------------------------------- full revaluation


def test_option_full_revaluation_matches_quantlib():
    as_of, expiry = date(2026, 8, 3), date(2026, 12, 18)
    spot, strike, rate, vol = 755.0, 760.0, 0.037, 0.18
    positions = pd.DataFrame(
        [
            dict(symbol="SPY", position_type="LONG", quantity=10),
            dict(symbol="SPYC", position_type="LC", quantity=3, underlying_symbol="SPY", strike=strike, expiration_date=expiry),
            dict(symbol="SPYP", position_type="SP", quantity=-2, underlying_symbol="SPY", strike=700.0, expiration_date=expiry),
        ],
        index=["stk", "call", "put"],
    )
    rets = pd.DataFrame({"SPY": [-0.05, 0.0, 0.03]})
    pnl = risk.scenario_pnl_full_revaluation(positions, {"SPY": spot}, rets, as_of, rate, {"SPY": vol})
    next_day = date(2026, 8, 4)  # T − 1 calendar day
    for i, r in enumerate(rets["SPY"]):
        call = 3 * 100 * (ql_price(spot * (1 + r), strike, next_day, expiry, rate, vol, True) - ql_price(spot, strike, as_of, expiry, rate, vol, True))
        put = -2 * 100 * (ql_price(spot * (1 + r), 700.0, next_day, expiry, rate, vol, False) - ql_price(spot, 700.0, as_of, expiry, rate, vol, False))
        assert pnl.loc[i, "call"] == pytest.approx(call, rel=1e-8, abs=1e-6)
        assert pnl.loc[i, "put"] == pytest.approx(put, rel=1e-8, abs=1e-6)
        assert pnl.loc[i, "stk"] == pytest.approx(10 * spot * r)
    # zero return: the call loses exactly one day of time value (theta < 0)
    assert pnl.loc[1, "call"] < 0


# ---------------------------------------------------------------- ratios


def test_max_drawdown_hand_case():
    # peak 120, trough after it 80 → 1 − 80/120 = 1/3 (the 100 → 90 dip is smaller: 25 %)
    assert risk.max_drawdown([100, 120, 90, 110, 80, 130]) == pytest.approx(1 / 3)
    assert risk.max_drawdown([1, 2, 3]) == 0.0


def test_vol_beta_sharpe_sortino_by_hand():
    r = np.array([0.01, -0.02, 0.015, 0.005, -0.01])
    b = np.array([0.008, -0.015, 0.01, 0.002, -0.012])
    assert risk.annualised_volatility(r) == pytest.approx(math.sqrt(252) * np.std(r, ddof=1))
    assert risk.beta(r, b) == pytest.approx(np.polyfit(b, r, 1)[0])
    rf = 0.0001
    ex = r - rf
    assert risk.sharpe_ratio(r, rf) == pytest.approx(math.sqrt(252) * ex.mean() / ex.std(ddof=1))
    downside = math.sqrt(np.mean(np.minimum(ex, 0) ** 2))
    assert risk.sortino_ratio(r, rf) == pytest.approx(math.sqrt(252) * ex.mean() / downside)


# ---------------------------------------------------------------- back-testing


def _kupiec_by_hand(x, n, c):
    p = 1 - c
    pi = x / n
    ll0 = (n - x) * math.log(1 - p) + (x * math.log(p) if x else 0.0)
    ll1 = ((n - x) * math.log(1 - pi) if x < n else 0.0) + (x * math.log(pi) if x else 0.0)
    lr = -2 * (ll0 - ll1)
    return lr, 1 - stats.chi2.cdf(lr, 1)


@pytest.mark.parametrize("x,n,c", [(5, 250, 0.99), (17, 250, 0.95), (12, 250, 0.95), (0, 250, 0.99), (1, 100, 0.99)])
def test_kupiec_matches_formula(x, n, c):
    lr, p = risk.kupiec_pof(x, n, c)
    lr_ref, p_ref = _kupiec_by_hand(x, n, c)
    assert lr == pytest.approx(lr_ref, rel=1e-10, abs=1e-12)
    assert p == pytest.approx(p_ref, rel=1e-9, abs=1e-12)


def test_kupiec_zero_exceedances_limit():
    lr, p = risk.kupiec_pof(0, 250, 0.99)
    assert lr == pytest.approx(-2 * 250 * math.log(0.99))
    assert 0 < p < 1


def test_var_backtest_rolling_no_lookahead():
    rng = np.random.default_rng(5)
    pnl = rng.normal(0, 100, 600)
    pnl[-1] = -10_000.0  # a catastrophic last day must not enter its own VaR window
    bt = risk.var_backtest(pd.Series(pnl), confidences=(0.95, 0.99), window=252, test_sessions=250)
    s = bt["series"]
    assert bt["n_test"] == 250 and len(s) == 250
    for t in (350, 420, 599):
        k = t - 350
        assert s["var_99"].iloc[k] == pytest.approx(risk.historical_var(pnl[t - 252 : t], 0.99))
    assert bool(s["exceed_99"].iloc[-1])
    assert bt["exceedances_99"] == int((s["pnl"] < -s["var_99"]).sum())
    lr, p = risk.kupiec_pof(bt["exceedances_95"], 250, 0.95)
    assert bt["kupiec_p_95"] == pytest.approx(p)


# ---------------------------------------------------------------- one-call metrics on real data


def test_compute_risk_metrics_real_data(prices):
    positions = pd.DataFrame(
        [
            dict(symbol="AAPL", position_type="LONG", quantity=200),
            dict(symbol="MSFT", position_type="LONG", quantity=100),
            dict(symbol="NVDA", position_type="LONG", quantity=150),
            dict(symbol="TSLA", position_type="SHORT", quantity=-40),
            dict(symbol="TLT", position_type="LONG", quantity=300),
            dict(symbol="SPYC", position_type="LC", quantity=2, underlying_symbol="SPY", strike=760.0, expiration_date=date(2026, 12, 18)),
        ]
    )
    m = risk.compute_risk_metrics(positions, prices, n_paths=10_000, seed=1)
    assert m.quality_flag is risk.QualityFlag.OK and m.quality_flag == "ok"
    assert m.n_observations == 252
    h = m.historical
    assert h.var[0.99] >= h.var[0.95] >= 0
    assert h.es[0.975] >= h.var[0.95]
    for est in (m.parametric, m.monte_carlo):
        assert est.var[0.99] >= est.var[0.95] >= 0
        assert est.es[0.975] >= est.var[0.95]
    assert h.var_10d[0.99] == pytest.approx(h.var[0.99] * math.sqrt(10))
    assert sum(m.parametric.components[0.99].values()) == pytest.approx(m.parametric.var[0.99], rel=1e-10)
    assert sum(h.components[0.95].values()) == pytest.approx(h.var[0.95], rel=1e-10)
    assert m.monte_carlo.components == {}
    assert 0 <= m.ratios.max_drawdown < 1
    assert 0 < m.ratios.annualised_volatility < 1
    assert m.ratios.benchmark == "SPY" and m.ratios.beta > 0
    assert m.backtest.n_test == 250
    assert 0 <= m.backtest.levels[0.99].kupiec_p <= 1


def test_compute_risk_metrics_limited_history(prices):
    positions = pd.DataFrame([dict(symbol="AAPL", position_type="LONG", quantity=10)])
    short = prices.iloc[-30:]
    m = risk.compute_risk_metrics(positions, short)
    assert m.quality_flag == "limited_history"
    assert m.n_observations == 29
    assert m.historical is None and m.ratios is None and m.backtest is None
    assert m.gross_exposure == pytest.approx(10 * short["AAPL"].iloc[-1])


def test_compute_risk_metrics_missing_price_flagged(prices):
    positions = pd.DataFrame([dict(symbol="AAPL", position_type="LONG", quantity=10)])
    px = prices.copy()
    px.iloc[-1, px.columns.get_loc("AAPL")] = np.nan
    m = risk.compute_risk_metrics(positions, px)
    assert m.quality_flag == "missing_prices" and m.missing_symbols == ("AAPL",)
    assert m.historical is None and m.rate is None


# ---------------------------------------------------------------- fast paths vs straightforward references


def _loop_backtest_reference(x, c, window, test_sessions, min_window):
    """Per-window loop: VaR_t = −np.quantile(non-NaN x[max(0, t − window) : t], 1 − c) (NaN if empty)."""
    n = x.size
    n_test = min(test_sessions, n - min_window)
    var = []
    for t in range(n - n_test, n):
        w = x[max(0, t - window): t]
        w = w[~np.isnan(w)]
        var.append(-np.quantile(w, 1.0 - c) if w.size else np.nan)
    var = np.array(var)
    pnl = x[n - n_test:]
    return var, int((pnl < -var).sum())


def _real_book_pnl(prices: pd.DataFrame) -> np.ndarray:
    """Daily dollar P&L of a fixed long/short book under the extract's real returns (≈ 1150 days)."""
    book = {"AAPL": 200_000.0, "MSFT": 150_000.0, "NVDA": 120_000.0, "TSLA": -80_000.0, "TLT": 100_000.0, "SPY": -50_000.0}
    px = prices[list(book)]
    rets = px.to_numpy()[1:] / px.to_numpy()[:-1] - 1.0
    return rets @ np.array(list(book.values()))


@pytest.mark.parametrize("case", ["complete", "nan_gaps", "short_history"])
def test_var_backtest_fast_path_equals_loop_reference_on_real_data(prices, case):
    x = _real_book_pnl(prices)
    window, test_sessions, min_window = 252, 250, 60
    if case == "nan_gaps":
        x = x.copy()
        x[[-400, -300, -299, -120, -5]] = np.nan  # inside look-back windows and on test days
    elif case == "short_history":
        x = x[-300:]  # the first test days have fewer than `window` prior days
    bt = risk.var_backtest(pd.Series(x), confidences=(0.95, 0.99), window=window, test_sessions=test_sessions,
                           min_window=min_window)
    for c, lab in ((0.95, "95"), (0.99, "99")):
        ref_var, ref_k = _loop_backtest_reference(x, c, window, test_sessions, min_window)
        np.testing.assert_allclose(bt["series"][f"var_{lab}"].to_numpy(), ref_var, rtol=1e-12, atol=0.0)
        assert bt[f"exceedances_{lab}"] == ref_k
        lr, p = risk.kupiec_pof(ref_k, bt["n_test"], c)
        assert bt[f"kupiec_lr_{lab}"] == pytest.approx(lr, rel=1e-12, abs=1e-12)
        assert bt[f"kupiec_p_{lab}"] == pytest.approx(p, rel=1e-12)
    if case == "nan_gaps":
        assert not bool(bt["series"]["exceed_99"].iloc[-5])  # a NaN P&L day is never an exceedance
        assert np.isfinite(bt["series"]["var_99"]).all()


def test_var_backtest_all_nan_window_gives_nan_var():
    x = np.full(80, np.nan)
    x[-5:] = [-1.0, 2.0, -3.0, 4.0, -5.0]
    bt = risk.var_backtest(x, confidences=(0.95,), window=10, test_sessions=20, min_window=5)
    var = bt["series"]["var_95"].to_numpy()
    ref, k = _loop_backtest_reference(x, 0.95, 10, 20, 5)
    np.testing.assert_array_equal(np.isnan(var), np.isnan(ref))
    np.testing.assert_allclose(var[~np.isnan(var)], ref[~np.isnan(ref)], rtol=1e-12)
    assert bt["exceedances_95"] == k


def test_compute_risk_metrics_fast_pricing_equals_generic_pricer(prices):
    """The price-only Black–Scholes grid used by default equals going through the full pricer."""
    from sigmasight_onboarding.analytics.greeks import black_scholes

    positions = pd.DataFrame(
        [
            dict(symbol="AAPL", position_type="LONG", quantity=200),
            dict(symbol="TSLA", position_type="SHORT", quantity=-40),
            dict(symbol="SPYC", position_type="LC", quantity=2, underlying_symbol="SPY", strike=760.0, expiration_date=date(2026, 12, 18)),
            dict(symbol="SPYP", position_type="SP", quantity=-3, underlying_symbol="SPY", strike=650.0, expiration_date=date(2026, 8, 4)),
            dict(symbol="QQQP", position_type="LP", quantity=1, underlying_symbol="QQQ", strike=600.0, expiration_date=date(2027, 1, 15)),
        ]
    )
    fast = risk.compute_risk_metrics(positions, prices, n_paths=10_000, seed=3)
    generic = risk.compute_risk_metrics(positions, prices, n_paths=10_000, seed=3, pricer=lambda **kw: black_scholes(**kw))
    assert fast.quality_flag == generic.quality_flag == "ok"

    def check(a, b, path):
        if dataclasses.is_dataclass(b):
            assert type(a) is type(b), path
            for f in dataclasses.fields(b):
                check(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
        elif isinstance(b, dict):
            assert list(a) == list(b), path
            for k, v in b.items():
                check(a[k], v, f"{path}[{k}]")
        elif isinstance(b, float):
            assert a == pytest.approx(b, rel=1e-12, abs=1e-9), path
        else:
            assert a == b, path

    check(fast, generic, "metrics")
    # the public revaluation agrees with compute_risk_metrics' grid as well
    rets = pd.DataFrame({"AAPL": [-0.05, 0.02], "TSLA": [0.01, -0.03], "SPY": [-0.04, 0.0], "QQQ": [0.03, -0.2]})
    spots = prices.iloc[-1]
    vols = {"SPY": 0.2, "QQQ": 0.25}
    a = risk.scenario_pnl_full_revaluation(positions, spots, rets, date(2026, 8, 3), 0.04, vols)
    b = risk.scenario_pnl_full_revaluation(positions, spots, rets, date(2026, 8, 3), 0.04, vols, pricer=lambda **kw: black_scholes(**kw))
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-12, atol=1e-9)


def test_monte_carlo_pnl_equals_the_explicit_simulation(prices):
    """The simulated P&L (R = Z Lᵀ never formed: linear positions through Lᵀ w, options through their
    underlyings' columns) equals the definition computed the long way: draw Z ~ N(0, 1) with
    default_rng(seed), R = Z Lᵀ for every symbol, revalue every position on its symbol's column (stocks
    mv × r, options Black–Scholes through the generic pricer), sum per path."""
    from sigmasight_onboarding.analytics.greeks import black_scholes

    as_of = prices.index[-1]
    positions = pd.DataFrame([
        dict(symbol="AAPL", position_type="LONG", quantity=200),
        dict(symbol="TSLA", position_type="SHORT", quantity=-40),
        dict(symbol="SPY", position_type="LONG", quantity=10),
        dict(symbol="SPYC", position_type="LC", quantity=2, underlying_symbol="SPY", strike=760.0, expiration_date=date(2026, 12, 18)),
        dict(symbol="QQQP", position_type="LP", quantity=1, underlying_symbol="QQQ", strike=600.0, expiration_date=date(2027, 1, 15)),
    ])
    symbols = ["AAPL", "TSLA", "SPY", "QQQ"]
    rets = prices[symbols].pct_change().iloc[-252:].to_numpy(float)
    cov = np.cov(rets.T, ddof=1)
    from sigmasight_onboarding.analytics.snapshots import prepare_positions, valuation_arrays

    pos = prepare_positions(positions)
    spots = prices.loc[as_of, symbols].astype(float)
    vols = {"SPY": 0.18, "QQQ": 0.22}
    valued = valuation_arrays(pos, spots, pd.Timestamp(as_of), 0.04, vols=vols)
    reval = risk.Revaluation(pos, valued, 0.04, None, 1.0, None)
    symbol_index = np.array([symbols.index(s) for s in pos["price_symbol"]])
    got = risk.simulated_portfolio_pnl(reval, risk.cholesky_factor(cov), None, symbol_index, 10_000, 7)

    z = np.random.default_rng(7).standard_normal((10_000, len(symbols)))
    r = z @ np.linalg.cholesky(cov).T
    generic = risk.Revaluation(pos, valued, 0.04, None, 1.0, lambda **kw: black_scholes(**kw))
    expected = generic.pnl(r[:, symbol_index]).sum(axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-6)

    stocks = pos.loc[~pos["is_option"]]
    s_valued = valuation_arrays(stocks, spots, pd.Timestamp(as_of), 0.04)
    s_reval = risk.Revaluation(stocks, s_valued, 0.04, None, 1.0, None)
    s_index = np.array([symbols.index(s) for s in stocks["price_symbol"]])
    w = np.bincount(s_index, weights=s_valued["market_value"], minlength=len(symbols))
    linear = risk.simulated_portfolio_pnl(s_reval, risk.cholesky_factor(cov), w, s_index, 10_000, 7)
    np.testing.assert_allclose(linear, r @ w, rtol=1e-9, atol=1e-6)


def test_more_symbols_than_sample_days_use_the_exact_sample_space_factor(prices):
    """With k ≥ n symbols the covariance has rank < k: the factor is X̃ᵀ/√(n−1) (k × n), whose F Fᵀ equals
    numpy's ddof=1 covariance, and the simulated P&L of a linear book has the closed-form σ_p = √(wᵀΣw)
    (normal, zero mean) up to sampling error — no k × k eigendecomposition."""
    from scipy.stats import norm

    symbols = [s for s in prices.columns if prices[s].iloc[-80:].notna().all()][:60]
    lookback = 40
    window = risk.returns_window(prices[symbols], symbols, (), lookback, 0)
    cov = risk.returns_covariance(window)
    n = int(window.lookback_mask.sum())
    assert n < len(symbols)
    factor = risk.covariance_factor(window, cov)
    assert factor.shape == (len(symbols), n)
    np.testing.assert_allclose(factor @ factor.T, np.cov(prices[symbols].pct_change().iloc[-n:].to_numpy(float).T, ddof=1),
                               rtol=1e-9, atol=1e-15)
    w = np.linspace(-50_000, 100_000, len(symbols))
    pos = pd.DataFrame({"symbol": symbols, "position_type": "LONG", "quantity": 1.0})
    from sigmasight_onboarding.analytics.snapshots import prepare_positions, valuation_arrays

    prepared = prepare_positions(pos)
    valued = valuation_arrays(prepared, prices[symbols].iloc[-1].astype(float), pd.Timestamp(prices.index[-1]), 0.04)
    reval = risk.Revaluation(prepared, valued, 0.04, None, 1.0, None)
    pnl = risk.simulated_portfolio_pnl(reval, factor, w, np.arange(len(symbols)), 200_000, 11)
    sigma = float(np.sqrt(w @ cov @ w))
    assert abs(pnl.std() / sigma - 1.0) < 0.01  # 200,000 paths: the sample σ is within ~0.3 % (3 s.e. ≈ 0.5 %)
    assert abs(-np.quantile(pnl, 0.01) / (norm.ppf(0.99) * sigma) - 1.0) < 0.02
    # the delta-normal estimates from Σw = F(Fᵀw) (Σ never formed) equal those from Σ
    low_rank = risk.parametric_from_sigma_w(w, factor @ (factor.T @ w), symbols, (0.95, 0.99), (0.975,))
    direct = risk.parametric_estimates(w, cov, symbols, (0.95, 0.99), (0.975,))
    assert low_rank.var == pytest.approx(direct.var, rel=1e-9) and low_rank.es == pytest.approx(direct.es, rel=1e-9)
    for c in (0.95, 0.99):
        assert low_rank.components[c] == pytest.approx(direct.components[c], rel=1e-9, abs=1e-6)
    assert direct.var[0.99] == pytest.approx(norm.ppf(0.99) * sigma, rel=1e-12)  # closed form
