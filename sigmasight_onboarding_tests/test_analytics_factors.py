"""Reference tests for analytics.factors: statsmodels OLS / VIF are the independent oracles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.outliers_influence import variance_inflation_factor

from sigmasight_onboarding.analytics.factors import (
    FACTOR_ETFS,
    betas_wide,
    multivariate_betas,
    portfolio_factor_exposure,
    single_factor_betas,
)
from sigmasight_onboarding.analytics.returns import simple_returns

DATA = Path(__file__).resolve().parents[1] / "data" / "market" / "daily_adj_close_extract.parquet"
ETFS = list(FACTOR_ETFS.values())
ASSETS = ["AAPL", "MSFT", "NVDA", "TSLA", "JPM", "XOM", "TLT", "KO"]


def load_prices(symbols: list[str]) -> pd.DataFrame:
    df = pd.read_parquet(DATA, filters=[("symbol", "in", list(symbols))])
    return df.pivot(index="date", columns="symbol", values="adj_close").sort_index()[list(symbols)]


@pytest.fixture(scope="module")
def rets() -> pd.DataFrame:
    return simple_returns(load_prices(ASSETS + ETFS))


def sm_fit(y: pd.Series, x: pd.DataFrame | pd.Series):
    return sm.OLS(y, sm.add_constant(x), missing="drop").fit()


def test_factor_map():
    assert FACTOR_ETFS == {"Market": "SPY", "Value": "VTV", "Growth": "VUG", "Momentum": "MTUM", "Quality": "QUAL", "Size": "IWM", "Low Volatility": "USMV"}


def test_single_factor_betas_match_statsmodels(rets):
    out = single_factor_betas(rets[ASSETS], rets[ETFS], window=252)
    assert len(out) == len(ASSETS) * len(ETFS)
    win = rets.iloc[-252:]
    for row in out.itertuples():
        fit = sm_fit(win[row.symbol], win[row.factor_symbol])
        params = fit.params.to_numpy()
        assert row.beta == pytest.approx(params[1], rel=1e-8, abs=1e-12)
        assert row.alpha == pytest.approx(params[0], rel=1e-8, abs=1e-12)
        assert row.t_stat == pytest.approx(fit.tvalues.iloc[1], rel=1e-8)
        assert row.std_err == pytest.approx(fit.bse.iloc[1], rel=1e-8)
        assert row.r2 == pytest.approx(fit.rsquared, rel=1e-8, abs=1e-12)
        assert row.n_obs == 252 and row.quality_flag == "full_history"
    # Sanity on real data: SPY-beta of NVDA > KO, TLT's market R² small.
    mkt = out[out.factor == "Market"].set_index("symbol")
    assert mkt.loc["NVDA", "beta"] > mkt.loc["KO", "beta"]
    assert mkt.loc["TLT", "r2"] < 0.3


def test_single_factor_missing_data_and_history_flags(rets):
    window = 252
    assets = rets[["AAPL", "MSFT", "NVDA", "TSLA", "JPM"]].copy()
    idx = assets.index[-window:]
    assets.loc[idx[:150], "AAPL"] = np.nan  # 102 obs → limited
    assets.loc[idx[:150], "MSFT"] = np.nan  # same mask as AAPL (same lstsq group)
    assets.loc[idx[:200], "NVDA"] = np.nan  # 52 obs → insufficient
    rng = np.random.default_rng(3)
    holes = rng.choice(window, 30, replace=False)
    assets.loc[idx[holes], "TSLA"] = np.nan  # 222 obs with scattered holes → limited
    out = single_factor_betas(assets, rets[ETFS], window=window, min_obs=60)
    mkt = out[out.factor == "Market"].set_index("symbol")
    assert mkt.loc["AAPL", "quality_flag"] == "limited_history" and mkt.loc["AAPL", "n_obs"] == 102
    assert mkt.loc["TSLA", "quality_flag"] == "limited_history" and mkt.loc["TSLA", "n_obs"] == 222
    assert mkt.loc["NVDA", "quality_flag"] == "insufficient_history" and np.isnan(mkt.loc["NVDA", "beta"])
    assert mkt.loc["JPM", "quality_flag"] == "full_history"
    win = rets.loc[idx]
    for sym in ["AAPL", "MSFT", "TSLA", "JPM"]:
        for factor, etf in FACTOR_ETFS.items():
            fit = sm_fit(assets.loc[idx, sym], win[etf])
            row = out[(out.symbol == sym) & (out.factor == factor)].iloc[0]
            assert row.beta == pytest.approx(fit.params.iloc[1], rel=1e-8)
            assert row.t_stat == pytest.approx(fit.tvalues.iloc[1], rel=1e-8)
            assert row.r2 == pytest.approx(fit.rsquared, rel=1e-8)
            assert row.n_obs == fit.nobs


def test_extreme_beta_is_flagged_not_clipped(rets):
    rng = np.random.default_rng(11)
    spy = rets["SPY"]
    synthetic = pd.DataFrame({"LEVERED": 5.0 * spy + rng.normal(0, 0.001, len(spy)), "AAPL": rets["AAPL"]}, index=rets.index)
    out = single_factor_betas(synthetic, rets[ETFS], window=252, extreme_threshold=3.0)
    row = out[(out.symbol == "LEVERED") & (out.factor == "Market")].iloc[0]
    assert row.beta == pytest.approx(5.0, abs=0.05)
    assert bool(row.extreme_beta)
    assert not out[(out.symbol == "AAPL") & (out.factor == "Market")].extreme_beta.iloc[0]
    mv, _ = multivariate_betas(synthetic, rets[ETFS], window=252)
    mrow = mv[(mv.symbol == "LEVERED") & (mv.factor == "Market")].iloc[0]
    assert mrow.beta == pytest.approx(5.0, abs=0.1) and bool(mrow.extreme_beta)
    # A higher threshold turns the flag off but the value is the same.
    out10 = single_factor_betas(synthetic, rets[ETFS], window=252, extreme_threshold=10.0)
    assert not out10.extreme_beta.any()
    assert out10.beta.to_numpy() == pytest.approx(out.beta.to_numpy(), rel=1e-15)


def sm_orthogonal_design(win: pd.DataFrame) -> pd.DataFrame:
    """Independent construction of the orthogonal design with statsmodels: Market = SPY; each style ETF
    regressed (OLS + constant) on SPY and the earlier styles' residuals, in the documented order."""
    order = ["Market", "Value", "Growth", "Momentum", "Quality", "Size", "Low Volatility"]
    design = pd.DataFrame({"Market": win["SPY"]})
    for factor in order[1:]:
        fit = sm.OLS(win[FACTOR_ETFS[factor]], sm.add_constant(design)).fit()
        design[factor] = fit.resid
    return design


def test_multivariate_betas_match_statsmodels(rets):
    window = 252
    assets = rets[ASSETS].copy()
    idx = assets.index[-window:]
    assets.loc[idx[:100], "KO"] = np.nan  # a second availability mask → second lstsq group
    out, diag = multivariate_betas(assets, rets[ETFS], window=window)
    win = rets.loc[idx]
    design = sm_orthogonal_design(win)
    for sym in ASSETS:
        fit = sm_fit(assets.loc[idx, sym], design)
        rows = out[out.symbol == sym].set_index("factor").loc[list(design.columns)]
        np.testing.assert_allclose(rows["beta"], fit.params.iloc[1:], rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(rows["t_stat"], fit.tvalues.iloc[1:], rtol=1e-7, atol=1e-8)
        np.testing.assert_allclose(rows["std_err"], fit.bse.iloc[1:], rtol=1e-7)
        assert rows["alpha"].iloc[0] == pytest.approx(fit.params.iloc[0], rel=1e-7, abs=1e-12)
        assert rows["r2"].iloc[0] == pytest.approx(fit.rsquared, rel=1e-8)
        assert rows["residual_vol"].iloc[0] == pytest.approx(np.sqrt(fit.mse_resid * 252), rel=1e-8)
        assert rows["n_obs"].iloc[0] == fit.nobs
    ko = out[out.symbol == "KO"].iloc[0]
    assert ko.quality_flag == "limited_history" and ko.n_obs == 152
    assert out[out.factor == "Value"].regressor.iloc[0] == "VTV⊥"

    # Diagnostics vs statsmodels VIF (design with constant) and pandas correlations.
    exog = sm.add_constant(design).to_numpy()
    for j, factor in enumerate(design.columns, start=1):
        regressor = "SPY" if factor == "Market" else f"{FACTOR_ETFS[factor]}⊥"
        assert diag.collinearity.vif[regressor] == pytest.approx(variance_inflation_factor(exog, j), rel=1e-8)
        assert variance_inflation_factor(exog, j) <= 5.0
    # The former SPY + spread design, for comparison, against statsmodels too: collinear (VIF > 5).
    spread = pd.DataFrame({"Market": win["SPY"]})
    for factor, etf in FACTOR_ETFS.items():
        if factor != "Market":
            spread[factor] = win[etf] - win["SPY"]
    sexog = sm.add_constant(spread).to_numpy()
    assert diag.vif_spread_model["VTV-SPY"] == pytest.approx(variance_inflation_factor(sexog, 2), rel=1e-8)
    assert max(variance_inflation_factor(sexog, j) for j in range(1, sexog.shape[1])) > 5.0
    corr = design.corr().to_numpy()
    ev = np.linalg.eigvalsh(corr)
    assert diag.collinearity.condition_number == pytest.approx(np.sqrt(ev.max() / ev.min()), rel=1e-8)
    raw_corr = win[ETFS].corr().to_numpy()
    np.fill_diagonal(raw_corr, -np.inf)
    assert diag.collinearity.max_raw_etf_correlation == pytest.approx(raw_corr.max(), rel=1e-12)
    assert diag.collinearity.max_raw_etf_correlation > 0.9  # the style ETFs are highly collinear with SPY
    a, b = diag.collinearity.max_raw_etf_correlation_pair
    assert win[a].corr(win[b]) == pytest.approx(raw_corr.max(), rel=1e-12)
    assert diag.collinearity.n_obs == window
    assert diag.order == ("Market", "Value", "Growth", "Momentum", "Quality", "Size", "Low Volatility")


def test_vif_at_most_5_on_every_window_of_the_real_data(rets):
    """Every client shares the ETF design; only the as-of date differs. statsmodels VIF of the orthogonal
    design on every quarter-end window of the extract (the one the demo clients are onboarded on included)."""
    etf = rets[ETFS].dropna()
    ends = list(range(252, len(etf) + 1, 63)) + [len(etf)]
    for end in ends:
        win = etf.iloc[end - 252:end]
        _, diag = multivariate_betas(rets[["KO"]].loc[win.index], win, window=252)
        exog = sm.add_constant(sm_orthogonal_design(win)).to_numpy()
        vifs = [variance_inflation_factor(exog, j) for j in range(1, exog.shape[1])]
        assert max(vifs) <= 5.0, (win.index[-1], vifs)
        assert max(diag.collinearity.vif.values()) <= 5.0


def test_multivariate_market_beta_reconciles_with_single_factor(rets):
    """With complete data the orthogonal model's market beta IS the single-factor SPY beta (statsmodels)."""
    window = 252
    out, _ = multivariate_betas(rets[ASSETS], rets[ETFS], window=window)
    win = rets.iloc[-window:]
    for sym in ASSETS:
        single = sm_fit(win[sym], win["SPY"]).params.iloc[1]
        multi = out[(out.symbol == sym) & (out.factor == "Market")].beta.iloc[0]
        assert multi == pytest.approx(single, rel=1e-9, abs=1e-12)
    # KO: the collinear spread model gave ~+0.59, the single factor (and now the multivariate) ≈ −0.29.
    ko = out[(out.symbol == "KO") & (out.factor == "Market")].beta.iloc[0]
    assert ko < 0


def test_perfect_fits_store_null_statistics_and_a_flag(rets):
    """SPY on SPY, IWM on SPY + IWM⊥, a 'position' that is exactly 2× SPY: R² = 1, t would be 1e13–1e16."""
    window = 252
    assets = rets[["SPY", "IWM", "KO"]].copy()
    assets["TWO_SPY"] = 2.0 * rets["SPY"]
    single = single_factor_betas(assets, rets[ETFS], window=window)
    multi, _ = multivariate_betas(assets, rets[ETFS], window=window)
    for frame in (single, multi):
        assert not (frame["t_stat"].abs() > 1e6).any()
        assert not (frame["std_err"].abs() > 1e6).any()
    m = multi.set_index(["symbol", "factor"])
    for sym in ("SPY", "IWM", "TWO_SPY"):
        assert (multi[multi.symbol == sym].quality_flag == "perfect_fit").all()
        assert multi[multi.symbol == sym].t_stat.isna().all()
    assert m.loc[("SPY", "Market"), "beta"] == pytest.approx(1.0, abs=1e-12)
    assert m.loc[("TWO_SPY", "Market"), "beta"] == pytest.approx(2.0, abs=1e-12)
    assert m.loc[("IWM", "Size"), "beta"] == pytest.approx(1.0, abs=1e-9)
    assert (multi[multi.symbol == "KO"].quality_flag == "full_history").all()
    s = single.set_index(["symbol", "factor"])
    assert s.loc[("SPY", "Market"), "quality_flag"] == "perfect_fit" and np.isnan(s.loc[("SPY", "Market"), "t_stat"])
    assert s.loc[("SPY", "Value"), "quality_flag"] == "full_history" and np.isfinite(s.loc[("SPY", "Value"), "t_stat"])


def test_portfolio_factor_exposure_hand_example():
    betas = pd.DataFrame(
        {"Market": [1.2, 0.9, 1.8], "Value": [-0.3, 0.1, -0.6]},
        index=pd.Index(["AAPL", "MSFT", "NVDA"], name="symbol"),
    )
    mv = pd.Series({"AAPL": 100_000.0, "MSFT": -50_000.0, "NVDA_C_2026": 5_000.0, "CASHLIKE": 20_000.0})
    delta_dollars = pd.Series({"NVDA_C_2026": 30_000.0})
    underlying = pd.Series({"NVDA_C_2026": "NVDA"})
    out = portfolio_factor_exposure(mv, betas, delta_dollars, beta_symbol=underlying)
    exp_market = 100_000 * 1.2 - 50_000 * 0.9 + 30_000 * 1.8  # CASHLIKE has no beta → 0
    exp_value = 100_000 * -0.3 - 50_000 * 0.1 + 30_000 * -0.6
    gross = 100_000 + 50_000 + 30_000 + 20_000
    net_mv = 100_000 - 50_000 + 5_000 + 20_000
    assert out.loc["Market", "dollar_exposure"] == pytest.approx(exp_market)
    assert out.loc["Value", "dollar_exposure"] == pytest.approx(exp_value)
    assert out.loc["Market", "beta_gross"] == pytest.approx(exp_market / gross)
    assert out.loc["Market", "beta_net"] == pytest.approx(exp_market / net_mv)
    assert out.loc["Market", "n_positions_missing_beta"] == 1
    # Long-form betas give the same answer.
    long = betas.reset_index().melt(id_vars="symbol", var_name="factor", value_name="beta")
    assert betas_wide(long).loc[betas.index, betas.columns].equals(betas)
    out2 = portfolio_factor_exposure(mv, long, delta_dollars, beta_symbol=underlying)
    pd.testing.assert_frame_equal(out, out2)
