"""Reference tests for analytics.rates: explicit normal equations on real ^TNX data are the oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sigmasight_onboarding.analytics.rates import interest_rate_betas, portfolio_rate_shock_pnl, rate_shock_significance

DATA = Path(__file__).resolve().parents[1] / "data" / "market" / "daily_adj_close_extract.parquet"
ASSETS = ["TLT", "IEF", "SHY", "BND", "SPY", "AAPL", "XLF", "VNQ"]


def load_prices(symbols: list[str]) -> pd.DataFrame:
    df = pd.read_parquet(DATA, filters=[("symbol", "in", list(symbols))])
    return df.pivot(index="date", columns="symbol", values="adj_close").sort_index()[list(symbols)]


@pytest.fixture(scope="module")
def px() -> pd.DataFrame:
    return load_prices(ASSETS + ["^TNX"])


def hand_ols(y: np.ndarray, x: np.ndarray) -> dict[str, float]:
    """OLS with intercept through the explicit normal equations (XᵀX) b = Xᵀy."""
    keep = np.isfinite(y) & np.isfinite(x)
    y, x = y[keep], x[keep]
    X = np.column_stack([np.ones_like(x), x])
    xtx = X.T @ X
    b = np.linalg.solve(xtx, X.T @ y)
    resid = y - X @ b
    n = len(y)
    s2 = resid @ resid / (n - 2)
    se = np.sqrt(s2 * np.linalg.inv(xtx)[1, 1])
    r2 = 1 - resid @ resid / np.sum((y - y.mean()) ** 2)
    with np.errstate(divide="ignore"):  # a regression of TLT on itself has se = 0
        t = b[1] / se
    return {"alpha": b[0], "beta": b[1], "t": t, "r2": r2, "n": n}


def test_rate_betas_match_normal_equations_on_real_tnx(px):
    window = 252
    rets = px[ASSETS].pct_change().iloc[1:]  # independent of returns.simple_returns
    tnx = px["^TNX"]
    out = interest_rate_betas(rets, tnx, rets["TLT"], window=window)
    dbp_full = np.diff(tnx.to_numpy()) * 100.0  # percent → bp
    dbp = dbp_full[-window:]
    tlt = rets["TLT"].to_numpy()[-window:]
    for sym in ASSETS:
        y = rets[sym].to_numpy()[-window:]
        ref = hand_ols(y, dbp)
        row = out.loc[sym]
        assert row.rate_beta == pytest.approx(ref["beta"], rel=1e-8)
        assert row.alpha == pytest.approx(ref["alpha"], rel=1e-7, abs=1e-12)
        assert row.t_stat == pytest.approx(ref["t"], rel=1e-8)
        assert row.r2 == pytest.approx(ref["r2"], rel=1e-8)
        assert row.n_obs == window and row.quality_flag == "full_history"
        assert row.implied_duration == pytest.approx(-1e4 * ref["beta"], rel=1e-8)
        ref_tlt = hand_ols(y, tlt)
        assert row.tlt_beta == pytest.approx(ref_tlt["beta"], rel=1e-8)
        if sym != "TLT":  # TLT on itself: R² = 1 exactly up to rounding
            assert row.tlt_r2 == pytest.approx(ref_tlt["r2"], rel=1e-8)
    # Economics on real data: long bonds lose when yields rise; duration ordering TLT > IEF > SHY.
    assert 10 < out.loc["TLT", "implied_duration"] < 25
    assert 4 < out.loc["IEF", "implied_duration"] < 10
    assert 0 < out.loc["SHY", "implied_duration"] < 4
    assert out.loc["TLT", "tlt_beta"] == pytest.approx(1.0, rel=1e-10)


def test_pct_change_times_10000_is_the_wrong_regressor(px):
    window = 252
    rets = px[ASSETS].pct_change().iloc[1:]
    tnx = px["^TNX"]
    out = interest_rate_betas(rets, tnx, rets["TLT"], window=window)
    wrong_x = (tnx.pct_change() * 10000).to_numpy()[1:][-window:]
    y = rets["TLT"].to_numpy()[-window:]
    wrong = hand_ols(y, wrong_x)["beta"]
    right = out.loc["TLT", "rate_beta"]
    # pct_change×10000 ≈ Δbp × 100 / yield(%) ≈ 20–25 × Δbp at 4–5 % yields → beta ~20× too small.
    ratio = wrong / right
    assert 0.01 < ratio < 0.1
    assert abs(wrong - right) > 0.5 * abs(right)
    mv = pd.Series({"TLT": 1_000_000.0})
    right_pnl = portfolio_rate_shock_pnl(mv, out, 100)
    wrong_pnl = portfolio_rate_shock_pnl(mv, pd.Series({"TLT": wrong}), 100)
    assert -250_000 < right_pnl < -100_000  # ~ −17 % for a duration-17 bond on +100 bp
    assert abs(wrong_pnl) < 0.1 * abs(right_pnl)


def test_rate_history_flags_and_missing_data(px):
    window = 252
    rets = px[ASSETS].pct_change().iloc[1:].copy()
    idx = rets.index[-window:]
    rets.loc[idx[:180], "AAPL"] = np.nan  # 72 obs → limited
    rets.loc[idx[:230], "XLF"] = np.nan  # 22 obs → insufficient
    out = interest_rate_betas(rets, px["^TNX"], rets["TLT"], window=window, min_obs=60)
    assert out.loc["AAPL", "quality_flag"] == "limited_history" and out.loc["AAPL", "n_obs"] == 72
    assert out.loc["XLF", "quality_flag"] == "insufficient_history" and np.isnan(out.loc["XLF", "rate_beta"])
    dbp = np.diff(px["^TNX"].to_numpy())[-window:] * 100
    ref = hand_ols(rets["AAPL"].to_numpy()[-window:], dbp)
    assert out.loc["AAPL", "rate_beta"] == pytest.approx(ref["beta"], rel=1e-8)
    assert out.loc["AAPL", "tlt_n_obs"] == 72


def test_portfolio_rate_shock_pnl_hand_example():
    betas = pd.Series({"TLT": -0.0017, "SPY": 0.0001, "AAPL": np.nan})
    mv = pd.Series({"TLT": 200_000.0, "SPY": -50_000.0, "AAPL": 80_000.0, "GLD": 10_000.0})
    per_bp = 200_000 * -0.0017 + -50_000 * 0.0001
    assert portfolio_rate_shock_pnl(mv, betas, 100) == pytest.approx(per_bp * 100)
    assert portfolio_rate_shock_pnl(mv, betas, -100) == pytest.approx(-per_bp * 100)
    s = portfolio_rate_shock_pnl(mv, betas, [-100, 0, 50])
    np.testing.assert_allclose(s.to_numpy(), [-100 * per_bp, 0.0, 50 * per_bp])
    assert list(s.index) == [-100.0, 0.0, 50.0]


def test_perfect_fit_and_low_significance_flags(px):
    """A 'position' that is an exact linear function of Δbp is a perfect fit (NULL t, flag); weak betas
    (|t| < 2 by hand OLS) are flagged; no |t| > 1e6 anywhere."""
    window = 252
    rets = px[ASSETS].pct_change().iloc[1:].copy()
    dbp_full = px["^TNX"].diff() * 100
    rets["EXACT"] = (-0.0007 * dbp_full).reindex(rets.index)
    out = interest_rate_betas(rets, px["^TNX"], rets["TLT"], window=window, min_obs=60)
    assert out.loc["EXACT", "quality_flag"] == "perfect_fit" and np.isnan(out.loc["EXACT", "t_stat"])
    assert out.loc["EXACT", "rate_beta"] == pytest.approx(-0.0007, rel=1e-9)
    assert not bool(out.loc["EXACT", "low_significance"])
    assert not (out["t_stat"].abs() > 1e6).any() and not (out["tlt_t_stat"].abs() > 1e6).any()
    dbp = np.diff(px["^TNX"].to_numpy())[-window:] * 100
    for sym in ASSETS:
        ref = hand_ols(rets[sym].to_numpy()[-window:], dbp)
        assert bool(out.loc[sym, "low_significance"]) == (abs(ref["t"]) < 2.0), sym


def test_rate_shock_significance_hand_example():
    betas = pd.DataFrame({"rate_beta": [-0.0017, 0.0001, 0.00005], "t_stat": [-9.0, 1.2, np.nan]}, index=["TLT", "SPY", "GLD"])
    expo = pd.Series({"TLT": 200_000.0, "SPY": -50_000.0, "GLD": 10_000.0})
    out = rate_shock_significance(expo, betas, 300)
    tlt, spy, gld = 200_000 * -0.0017 * 300, -50_000 * 0.0001 * 300, 10_000 * 0.00005 * 300
    assert out.total == pytest.approx(tlt + spy + gld)
    assert out.from_low_significance == pytest.approx(spy + gld)
    assert out.from_significant == pytest.approx(tlt)
    assert out.share_low_significance == pytest.approx((abs(spy) + abs(gld)) / (abs(tlt) + abs(spy) + abs(gld)))
