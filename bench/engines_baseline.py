"""Predecessor-style baseline for benchmarking the factor engine.

SigmaSight's original method: one ``statsmodels`` OLS fit per position per factor, in Python loops.
``statsmodels_loop_baseline`` reproduces it (same window / min_obs / missing-data rule as
``sigmasight_onboarding.analytics.factors.single_factor_betas``: last ``window`` common dates,
per-position rows with both series present) so results can be compared and timed.

Run ``python bench/engines_baseline.py`` from the repo root for a timing comparison on the real extract.
Test/bench-only: needs statsmodels (dev extra).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm

from sigmasight_onboarding.analytics.factors import FACTOR_ETFS

_ETF_TO_FACTOR = {v: k for k, v in FACTOR_ETFS.items()}


def statsmodels_loop_baseline(
    asset_returns: pd.DataFrame,
    factor_returns: pd.DataFrame,
    window: int = 252,
    min_obs: int = 60,
) -> pd.DataFrame:
    """Univariate OLS with intercept of each asset's daily simple return (decimal) on each factor ETF
    return, one ``sm.OLS(...).fit()`` per (position, factor). Returns long rows: symbol, factor, beta,
    alpha, r2, t_stat, n_obs (NaN estimates when n_obs < min_obs)."""
    idx = asset_returns.index.intersection(factor_returns.index).sort_values()[-window:]
    assets = asset_returns.loc[idx]
    factors = factor_returns.loc[idx].rename(columns=_ETF_TO_FACTOR)
    rows = []
    for symbol in assets.columns:
        for factor in factors.columns:
            frame = pd.concat([assets[symbol], factors[factor]], axis=1, keys=["y", "x"]).dropna()
            n = len(frame)
            if n < min_obs:
                rows.append({"symbol": symbol, "factor": factor, "beta": np.nan, "alpha": np.nan, "r2": np.nan, "t_stat": np.nan, "n_obs": n})
                continue
            fit = sm.OLS(frame["y"], sm.add_constant(frame["x"])).fit()
            rows.append(
                {
                    "symbol": symbol,
                    "factor": factor,
                    "beta": float(fit.params.iloc[1]),
                    "alpha": float(fit.params.iloc[0]),
                    "r2": float(fit.rsquared),
                    "t_stat": float(fit.tvalues.iloc[1]),
                    "n_obs": n,
                }
            )
    return pd.DataFrame(rows)


if __name__ == "__main__":  # pragma: no cover - manual benchmark
    import time
    from pathlib import Path

    from sigmasight_onboarding.analytics.factors import single_factor_betas
    from sigmasight_onboarding.analytics.returns import simple_returns

    path = Path(__file__).resolve().parents[1] / "data" / "market" / "daily_adj_close_extract.parquet"
    long = pd.read_parquet(path)
    prices = long.pivot(index="date", columns="symbol", values="adj_close").sort_index()
    rets = simple_returns(prices)
    etfs = list(FACTOR_ETFS.values())
    assets = rets.drop(columns=[c for c in rets.columns if c.startswith("^")])
    t0 = time.perf_counter()
    base = statsmodels_loop_baseline(assets, rets[etfs])
    t1 = time.perf_counter()
    fast = single_factor_betas(assets, rets[etfs])
    t2 = time.perf_counter()
    merged = base.merge(fast, on=["symbol", "factor"], suffixes=("_sm", ""))
    print(f"{assets.shape[1]} positions x {len(etfs)} factors")
    print(f"statsmodels loop: {t1 - t0:.3f}s   vectorised lstsq: {t2 - t1:.3f}s   speed-up x{(t1 - t0) / (t2 - t1):.0f}")
    print("max |beta diff|:", float(np.nanmax(np.abs(merged["beta_sm"] - merged["beta"]))))
