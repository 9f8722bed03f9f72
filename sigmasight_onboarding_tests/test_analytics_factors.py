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


def test_multivariate_betas_match_statsmodels(rets):
    window = 252
    assets = rets[ASSETS].copy()
    idx = assets.index[-window:]
    assets.loc[idx[:100], "KO"] = np.nan  # a second availability mask → second lstsq group
    out, diag = multivariate_betas(assets, rets[ETFS], window=window)
    win = rets.loc[idx]
    design = pd.DataFrame({"Market": win["SPY"]})
    for factor, etf in FACTOR_ETFS.items():
        if factor != "Market":
            design[factor] = win[etf] - win["SPY"]
    for sym in ASSETS:
        fit = sm_fit(assets.loc[idx, sym], design)
        rows = out[out.symbol == sym].set_index("factor").loc[list(design.columns)]
        np.testing.assert_allclose(rows["beta"], fit.params.iloc[1:], rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(rows["t_stat"], fit.tvalues.iloc[1:], rtol=1e-8)
        np.testing.assert_allclose(rows["std_err"], fit.bse.iloc[1:], rtol=1e-8)
        assert rows["alpha"].iloc[0] == pytest.approx(fit.params.iloc[0], rel=1e-8)
        assert rows["r2"].iloc[0] == pytest.approx(fit.rsquared, rel=1e-8)
        assert rows["residual_vol"].iloc[0] == pytest.approx(np.sqrt(fit.mse_resid * 252), rel=1e-8)
        assert rows["n_obs"].iloc[0] == fit.nobs
    ko = out[out.symbol == "KO"].iloc[0]
    assert ko.quality_flag == "limited_history" and ko.n_obs == 152
    assert out[out.factor == "Value"].regressor.iloc[0] == "VTV-SPY"

    # Diagnostics vs statsmodels VIF (design with constant) and pandas correlations.
    exog = sm.add_constant(design).to_numpy()
    for j, factor in enumerate(design.columns, start=1):
        regressor = "SPY" if factor == "Market" else f"{FACTOR_ETFS[factor]}-SPY"
        assert diag["vif"][regressor] == pytest.approx(variance_inflation_factor(exog, j), rel=1e-8)
    corr = design.corr().to_numpy()
    ev = np.linalg.eigvalsh(corr)
    assert diag["condition_number"] == pytest.approx(np.sqrt(ev.max() / ev.min()), rel=1e-8)
    raw_corr = win[ETFS].corr().to_numpy()
    np.fill_diagonal(raw_corr, -np.inf)
    assert diag["max_raw_etf_correlation"] == pytest.approx(raw_corr.max(), rel=1e-12)
    assert diag["max_raw_etf_correlation"] > 0.9  # the style ETFs are highly collinear with SPY
    a, b = diag["max_raw_etf_correlation_pair"]
    assert win[a].corr(win[b]) == pytest.approx(raw_corr.max(), rel=1e-12)
    assert diag["n_obs"] == window


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
