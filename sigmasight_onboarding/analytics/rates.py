"""Interest-rate sensitivity of positions and parallel rate-shock P&L.

Conventions
-----------
* Asset returns: daily SIMPLE returns in decimals (date × symbol DataFrame).
* The rate factor is the daily change of the 10-year Treasury yield in BASIS POINTS. ``^TNX`` is
  quoted in percent (4.25 = 4.25 %), so Δbp_t = (y_t − y_{t−1}) × 100 (``returns.yield_changes_bp``).
  NOT ``pct_change() × 10000``: that is the relative change of the yield level (a 4.00 → 4.01 move is
  1 bp but pct_change × 10000 = 25).
* rate_beta = decimal asset return per +1 bp move in the 10y yield (bonds: negative).
  implied_duration = −rate_beta × 10 000 (years; the duration a bond with that sensitivity would have).
* Shock P&L in dollars: P&L = Σ_i market_value_i × rate_beta_i × shock_bp (shock_bp > 0 = yields up).

Missing data and history flags are handled exactly as in ``factors`` (per-position masks, positions
with identical masks solved in one lstsq call; full_history / limited_history / insufficient_history
/ degenerate).

No Dagster, no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sigmasight_onboarding.analytics.factors import align_window, masked_ols, univariate_statistics
from sigmasight_onboarding.analytics.returns import yield_changes_bp

#: |t| below this: the rate beta is not distinguishable from zero at the usual 5 % level (flagged, kept).
SIGNIFICANCE_T = 2.0

RATE_BETA_COLUMNS = [
    "rate_beta", "alpha", "std_err", "r2", "t_stat", "n_obs", "quality_flag", "low_significance", "implied_duration",
    "tlt_beta", "tlt_r2", "tlt_t_stat", "tlt_n_obs", "tlt_quality_flag",
]


def interest_rate_betas(
    asset_returns: pd.DataFrame,
    tnx_percent: pd.Series,
    tlt_returns: pd.Series,
    window: int = 252,
    min_obs: int = 60,
) -> pd.DataFrame:
    """Rate betas of every position, one lstsq for all positions (per distinct availability mask).

    Regression 1 (the rate beta): r_i,t = a_i + rate_beta_i · Δbp_t + e_i,t, with Δbp the daily change
    of ``tnx_percent`` (^TNX level in percent, converted with ``yield_changes_bp``: Δ × 100).
    Regression 2 (bond-proxy beta): r_i,t = a'_i + tlt_beta_i · r_TLT,t + e'_i,t (TLT daily simple return).

    Both use OLS with intercept over the last ``window`` dates common to all inputs.
    Δbp is computed from consecutive rows of ``tnx_percent`` as given, so pass it on the same session
    calendar as the returns (a missing yield makes the two adjacent changes NaN → those dates are skipped).

    Returns a DataFrame indexed by symbol with ``RATE_BETA_COLUMNS``: rate_beta (decimal return per
    1 bp), alpha (daily decimal), std_err, r2, t_stat (classical OLS, of rate_beta), n_obs, quality_flag,
    low_significance (True when |t| < ``SIGNIFICANCE_T`` or the t-statistic is undefined while the beta is not
    a perfect fit; such betas are kept but shock P&L resting on them is reported separately, see
    ``rate_shock_significance``), implied_duration (= −rate_beta × 10 000, years), tlt_beta (dimensionless), tlt_r2, tlt_t_stat,
    tlt_n_obs, tlt_quality_flag.
    """
    dbp = yield_changes_bp(tnx_percent.astype(float)).rename("dbp")
    tlt = tlt_returns.astype(float).rename("tlt")
    assets, dbp, tlt = align_window(asset_returns, dbp, tlt, window=window)
    y = assets.to_numpy(dtype=float)
    rate_fit = masked_ols(dbp.to_numpy(), y, min_obs)
    rate = univariate_statistics(rate_fit, window, min_obs)
    bond = univariate_statistics(masked_ols(tlt.to_numpy(), y, min_obs), window, min_obs)
    low = ~(np.abs(np.nan_to_num(rate["t_stat"], nan=0.0)) >= SIGNIFICANCE_T) & ~rate_fit["perfect_fit"]
    return pd.DataFrame(
        {
            "rate_beta": rate["beta"],
            **rate,
            "low_significance": low,
            "implied_duration": -rate["beta"] * 1e4,
            **{f"tlt_{name}": values for name, values in bond.items()},
        },
        index=pd.Index(assets.columns, name="symbol"),
    )[RATE_BETA_COLUMNS]


def portfolio_rate_shock_pnl(
    market_values: pd.Series,
    rate_betas: pd.Series | pd.DataFrame,
    shock_bp: float | Any,
) -> float | pd.Series:
    """Dollar P&L of a parallel shift of ``shock_bp`` basis points (+100 = yields up 1 %):

        P&L = Σ_i market_value_i × rate_beta_i × shock_bp

    ``market_values``: signed dollars indexed by symbol; ``rate_betas``: Series symbol → rate_beta
    (decimal return per bp) or the ``interest_rate_betas`` frame. Positions without a (finite) beta
    contribute 0. A scalar shock returns a float; an array of shocks returns a Series indexed by shock.
    """
    betas = rate_betas["rate_beta"] if isinstance(rate_betas, pd.DataFrame) else rate_betas
    b = betas.astype(float).reindex(market_values.index).to_numpy()
    mv = market_values.astype(float).to_numpy()
    per_bp = float(np.nansum(np.where(np.isfinite(b), mv * b, 0.0)))
    if np.ndim(shock_bp) == 0:
        return per_bp * float(shock_bp)
    shocks = np.asarray(shock_bp, dtype=float)
    return pd.Series(per_bp * shocks, index=pd.Index(shocks, name="shock_bp"), name="pnl_dollars")


@dataclass(frozen=True)
class RateShockSignificance:
    """How much of a linear rate-shock P&L rests on weak betas (``rate_shock_significance``)."""

    shock_bp: float  # the shock (basis points of the 10-year yield)
    total: float  # Σ P&L_i ($)
    from_low_significance: float  # P&L of the positions with weak betas ($)
    from_significant: float  # P&L of the others ($)
    share_low_significance: float  # Σ|P&L_i| over weak betas / Σ|P&L_i| (decimal; NaN when no P&L)


def rate_shock_significance(
    exposures: pd.Series,
    rate_betas: pd.DataFrame,
    shock_bp: float,
    t_threshold: float = SIGNIFICANCE_T,
) -> RateShockSignificance:
    """How much of a linear rate-shock P&L rests on statistically weak betas.

    P&L_i = exposure_i × rate_beta_i × shock_bp (the same linear model as ``portfolio_rate_shock_pnl``;
    exposure in signed dollars, options as delta dollars). A beta is weak when |t| < ``t_threshold`` or its
    t is undefined (``low_significance`` in ``interest_rate_betas``). Returns dollars: total, from_low_significance,
    from_significant, and share_low_significance = Σ|P&L_i| over weak betas / Σ|P&L_i| (decimal; gross shares, so
    offsetting longs and shorts do not hide weak betas). Note: with most R² < 0.1 a ±300 bp linear extrapolation
    of daily betas is an order-of-magnitude figure, not a forecast.
    """
    rb = rate_betas.reindex(exposures.index)
    beta = rb["rate_beta"].astype(float).to_numpy()
    t = rb["t_stat"].astype(float).to_numpy()
    weak = ~(np.abs(np.nan_to_num(t, nan=0.0)) >= t_threshold)
    if "low_significance" in rb.columns:
        weak = rb["low_significance"].fillna(True).astype(bool).to_numpy()
    pnl = np.where(np.isfinite(beta), exposures.astype(float).to_numpy() * np.nan_to_num(beta) * float(shock_bp), 0.0)
    gross = float(np.abs(pnl).sum())
    return RateShockSignificance(
        shock_bp=float(shock_bp),
        total=float(pnl.sum()),
        from_low_significance=float(pnl[weak].sum()),
        from_significant=float(pnl[~weak].sum()),
        share_low_significance=float(np.abs(pnl[weak]).sum() / gross) if gross else float("nan"),
    )
