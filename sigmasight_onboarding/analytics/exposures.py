"""Desk exposure figures: dollar delta, beta-adjusted dollar delta, delta-adjusted gross and net.

Conventions
-----------
* share_delta (shares of the underlying): stock/ETF = signed quantity; option = per-share BSM delta ×
  signed contracts × 100. Share deltas are only ever added up PER UNDERLYING (adding shares of different
  names is meaningless).
* dollar_delta ($) = share_delta × underlying spot: for a stock its market value; for an option the dollar
  exposure of the equivalent stock position (``delta_dollars`` of the Greeks engine).
* beta_adjusted_dollar_delta ($) = dollar_delta × market_beta, with the underlying's single-factor SPY beta
  (equal to the orthogonal multivariate Market beta; see ``factors``): the SPY-equivalent dollars.
* Portfolio: long / short dollar delta (Σ of positive / negative position dollar deltas), delta-adjusted
  gross = Σ_i |dollar_delta_i| (position level), delta-adjusted net = Σ_i dollar_delta_i, beta-adjusted gross
  = Σ_i |beta-adjusted_i|, beta-adjusted net = Σ_i beta-adjusted_i (SPY-equivalent dollars). Positions
  without a finite beta contribute 0 to the beta-adjusted figures and are counted.

Pure pandas/numpy; no Dagster, no database.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sigmasight_onboarding.domain import CONTRACT_MULTIPLIER

POSITION_COLUMNS = ["underlying_symbol", "share_delta", "dollar_delta", "market_beta", "beta_adjusted_dollar_delta"]


@dataclass(frozen=True)
class DeskExposure:
    """The portfolio's desk exposure figures (``desk_exposures``); the fields are the columns of
    onb_portfolio_exposures."""

    long_dollar_delta: float  # Σ of positive position dollar deltas ($)
    short_dollar_delta: float  # Σ of negative position dollar deltas ($, ≤ 0)
    delta_adjusted_gross: float  # Σ_i |dollar_delta_i| ($)
    delta_adjusted_net: float  # Σ_i dollar_delta_i ($)
    beta_adjusted_gross: float  # Σ_i |beta-adjusted dollar delta_i| (SPY-equivalent $)
    beta_adjusted_net: float  # Σ_i beta-adjusted dollar delta_i (SPY-equivalent $)
    n_positions_missing_beta: int  # positions without a finite beta (0 in the beta-adjusted figures)


def desk_exposures(
    positions: pd.DataFrame,
    market_beta: pd.Series,
    multiplier: int = CONTRACT_MULTIPLIER,
) -> tuple[pd.DataFrame, DeskExposure, pd.DataFrame]:
    """positions (index = position id): underlying_symbol (the stock's own symbol for stock), quantity (signed:
    shares, or contracts for options), spot (underlying $), is_option (bool), option_delta (per-share delta of
    the option; ignored for stock). market_beta: underlying symbol → SPY beta.

    Returns (per_position [POSITION_COLUMNS], portfolio ``DeskExposure``, per_underlying [share_delta,
    dollar_delta, beta_adjusted_dollar_delta] indexed by underlying)."""
    per, portfolios = grouped_desk_exposures(positions, market_beta, np.zeros(len(positions), dtype=np.intp), 1, multiplier)
    a = per["beta_adjusted_dollar_delta"].to_numpy()
    by = per.assign(beta_adjusted_dollar_delta=np.where(np.isfinite(a), a, 0.0)).groupby("underlying_symbol")[
        ["share_delta", "dollar_delta", "beta_adjusted_dollar_delta"]].sum()
    return per, portfolios[0], by


def grouped_desk_exposures(
    positions: pd.DataFrame,
    market_beta: pd.Series,
    group: np.ndarray,
    n_groups: int,
    multiplier: int = CONTRACT_MULTIPLIER,
) -> tuple[pd.DataFrame, list[DeskExposure]]:
    """`desk_exposures` of several portfolios at once (a daily refresh of many clients): ``positions`` as there, of
    every portfolio; group: each position's portfolio, 0 .. n_groups − 1. Returns (per_position [POSITION_COLUMNS],
    one ``DeskExposure`` per portfolio). A portfolio's sums run over its positions in the given order, so its
    figures do not depend on the other portfolios passed with it."""
    group = np.asarray(group, dtype=np.intp)
    is_opt = positions["is_option"].fillna(False).astype(bool).to_numpy()
    qty = positions["quantity"].astype(float).to_numpy()
    spot = positions["spot"].astype(float).to_numpy()
    delta = positions["option_delta"].astype(float).to_numpy() if "option_delta" in positions else np.full(len(qty), np.nan)
    share_delta = np.where(is_opt, delta * qty * multiplier, qty)
    dollar = share_delta * spot
    beta = market_beta.astype(float).reindex(positions["underlying_symbol"].to_numpy()).to_numpy()
    adj = dollar * beta
    per = pd.DataFrame({
        "underlying_symbol": positions["underlying_symbol"].to_numpy(),
        "share_delta": share_delta, "dollar_delta": dollar, "market_beta": beta, "beta_adjusted_dollar_delta": adj,
    }, index=positions.index)[POSITION_COLUMNS]
    d = np.nan_to_num(dollar)
    a = np.where(np.isfinite(adj), adj, 0.0)

    def total(values: np.ndarray) -> np.ndarray:
        out = np.zeros(n_groups, dtype=values.dtype)
        np.add.at(out, group, values)
        return out

    sums = {
        "long_dollar_delta": total(np.where(d > 0, d, 0.0)), "short_dollar_delta": total(np.where(d < 0, d, 0.0)),
        "delta_adjusted_gross": total(np.abs(d)), "delta_adjusted_net": total(d),
        "beta_adjusted_gross": total(np.abs(a)), "beta_adjusted_net": total(a),
    }
    missing = total((~np.isfinite(adj)).astype(np.int64))
    return per, [DeskExposure(**{k: float(v[g]) for k, v in sums.items()}, n_positions_missing_beta=int(missing[g]))
                 for g in range(n_groups)]
