"""Portfolio risk: VaR/ES (historical, delta-normal, Monte Carlo), Euler contributions, risk ratios,
VaR back-testing (Kupiec POF).

Conventions
-----------
* P&L in dollars, positive = gain. VaR and ES are reported as POSITIVE dollar LOSSES.
* Returns are simple decimal daily returns (not annualised) unless a name says "annualised".
* Confidence c in (0, 1), e.g. 0.99. 1-day horizon unless stated; h-day VaR = 1-day VaR × √h.
* Historical quantiles use numpy's default 'linear' method (type 7), so
  historical_var(pnl, c) == −numpy.quantile(pnl, 1 − c).
* Options are repriced with Black–Scholes (``analytics.greeks.black_scholes``, or a
  `pricer` with the same signature); time in calendar days / 365. On the large revaluation grids
  (historical days / Monte Carlo paths × options) the default pricer runs as
  ``analytics.snapshots.bs_price_only`` — the same price formula without the Greeks.

Structure: single-metric functions (historical_var, parametric_var, euler_contributions,
sharpe_ratio, kupiec_pof, ...) take plain arrays; `compute_risk_metrics` is a short orchestrator of
documented steps — held_positions → spot_prices / risk_free_rate / option_vols → returns_window →
full-revaluation P&L → historical_estimates, parametric_estimates, monte_carlo_estimates,
risk_ratios, rolling_var_backtest — and returns a frozen `RiskMetrics` (typed sub-results
`VarEstimates`, `RiskRatios`, `Backtest`; `QualityFlag` values are the stored strings).

Performance: compute_risk_metrics prepares and values the positions once, builds the historical
and Monte Carlo P&L on numpy arrays with one price-only Black–Scholes call per grid, and the
back-test's rolling VaR is one vectorised quantile over a sliding-window view (NaN windows apart).

Pure computation: numpy/scipy, pandas for labelled input/output. No Dagster, no database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from scipy import special

from sigmasight_onboarding.analytics.greeks import to_day_array
from sigmasight_onboarding.analytics.returns import by_session
from sigmasight_onboarding.analytics.snapshots import (
    DAYS_PER_YEAR,
    Pricer,
    lookup_values,
    option_prices,
    prepare_positions,
    valuation_arrays,
)
from sigmasight_onboarding.domain import RISK_FREE_RATE_FALLBACK

TRADING_DAYS = 252
MIN_OBSERVATIONS = 60


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _check_confidence(confidence: float) -> float:
    c = float(confidence)
    if not 0.0 < c < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return c


def _norm_ppf(c: float) -> float:
    """Φ⁻¹(c): what ``stats.norm.ppf`` evaluates (``special.ndtri``), without the dispatch overhead."""
    return float(special.ndtri(c))


def _norm_pdf(z: float) -> float:
    """φ(z) as ``stats.norm.pdf`` evaluates it: exp(−z²/2) / √(2π)."""
    return float(np.exp(-z**2 / 2.0) / np.sqrt(2 * np.pi))


def confidence_label(confidence: float) -> str:
    """Short label of a confidence in stored names: 0.95 → '95', 0.975 → '975', 0.99 → '99'.

    Parameters
    ----------
    confidence : float
        c in (0, 1).

    Returns
    -------
    str
        100 c without the decimal point (used in column and key names, e.g. var_99_historical).
    """
    return f"{confidence * 100:.4f}".rstrip("0").rstrip(".").replace(".", "")


def _finite(x: Any) -> np.ndarray:
    arr = np.asarray(x, dtype=float).ravel()
    return arr[np.isfinite(arr)]


def _align(exposures: Any, cov: Any) -> tuple[np.ndarray, np.ndarray, pd.Index | None]:
    """Exposure vector and covariance matrix as arrays, aligned by label when both are labelled."""
    labels = None
    if isinstance(exposures, pd.Series):
        labels = exposures.index
        if isinstance(cov, pd.DataFrame):
            absent = labels.difference(cov.index)
            if len(absent):
                raise ValueError(f"covariance lacks {list(absent)}")
            cov = cov.loc[labels, labels]
    w = np.asarray(exposures, dtype=float).ravel()
    sigma = np.asarray(cov, dtype=float)
    if sigma.shape != (w.size, w.size):
        raise ValueError(f"covariance shape {sigma.shape} does not match {w.size} exposures")
    return w, sigma, labels


# --------------------------------------------------------------------------------------------
# historical VaR / ES
# --------------------------------------------------------------------------------------------


def historical_var(pnl: Any, confidence: float) -> float:
    """Historical VaR: VaR_c = −quantile(pnl, 1 − c), numpy 'linear' quantile.

    Parameters
    ----------
    pnl : array-like
        Dollar P&L per scenario (gain > 0); NaNs ignored.
    confidence : float
        c in (0, 1), e.g. 0.99.

    Returns
    -------
    float
        Positive dollar loss; negative only if even the (1 − c) quantile is a gain. NaN for an
        empty vector.
    """
    c = _check_confidence(confidence)
    x = _finite(pnl)
    if x.size == 0:
        return float("nan")
    return float(-np.quantile(x, 1.0 - c))


def historical_es(pnl: Any, confidence: float) -> float:
    """Historical expected shortfall: ES_c = −mean{pnl_i : pnl_i ≤ −VaR_c}.

    Parameters
    ----------
    pnl, confidence
        As in `historical_var`: dollar P&L per scenario (gain > 0, NaNs ignored), c in (0, 1).

    Returns
    -------
    float
        Positive dollar loss ≥ `historical_var` (VaR_c as there, linear quantile; the tail set is
        never empty since the quantile is ≥ min(pnl)). NaN for an empty vector.
    """
    c = _check_confidence(confidence)
    x = _finite(pnl)
    if x.size == 0:
        return float("nan")
    q = np.quantile(x, 1.0 - c)
    return float(-x[x <= q].mean())


def historical_var_contributions(scenario_pnl: pd.DataFrame | np.ndarray, confidence: float) -> pd.Series | np.ndarray:
    """Component historical VaR per position that sums exactly to `historical_var`.

    With the portfolio P&L sorted ascending and the linear quantile at rank h = (n − 1)(1 − c),
    j = ⌊h⌋, g = h − j, the portfolio quantile is (1 − g)·P_(j) + g·P_(j+1); each position's
    contribution is −[(1 − g)·x_(j) + g·x_(j+1)] using the same two scenarios.

    Parameters
    ----------
    scenario_pnl : DataFrame or ndarray
        Scenarios × positions, dollar P&L (gain > 0); rows with NaN are dropped.
    confidence : float
        c in (0, 1), e.g. 0.99.

    Returns
    -------
    Series or ndarray
        Dollars per position (positive = adds to the loss), labelled like the columns; NaN when no
        scenario is left.
    """
    c = _check_confidence(confidence)
    labels = scenario_pnl.columns if isinstance(scenario_pnl, pd.DataFrame) else None
    x = np.asarray(scenario_pnl, dtype=float)
    x = x[np.isfinite(x).all(axis=1)]
    n = x.shape[0]
    if n == 0:
        out = np.full(x.shape[1], np.nan)
    else:
        order = np.argsort(x.sum(axis=1), kind="stable")
        h = (n - 1) * (1.0 - c)
        j = int(math.floor(h))
        g = h - j
        lo = x[order[j]]
        hi = x[order[min(j + 1, n - 1)]]
        out = -((1.0 - g) * lo + g * hi)
    return pd.Series(out, index=labels, name="component_var") if labels is not None else out


# --------------------------------------------------------------------------------------------
# scenario P&L with full revaluation
# --------------------------------------------------------------------------------------------


def scenario_pnl_full_revaluation(
    positions: pd.DataFrame,
    spots: Mapping[str, float] | pd.Series,
    scenario_returns: pd.DataFrame | np.ndarray,
    as_of: Any,
    rate: float,
    vols: Mapping[str, float] | pd.Series | None = None,
    dividend_yields: Mapping[str, float] | pd.Series | None = None,
    horizon_days: float = 1.0,
    symbols: Sequence[str] | None = None,
    pricer: Pricer | None = None,
) -> pd.DataFrame:
    """P&L of today's positions under return scenarios, with full revaluation of the options.

    Each scenario applies return r_u to today's spot S_u of every price symbol u:
      stocks: P&L = mv × r, mv = quantity × S (linear, no floor),
      options: P&L = quantity × 100 × [BS(S(1 + r), K, T − h/365, rate, σ, q) − BS(S, K, T, rate, σ, q)]
        — same vol and rate, time to expiry shortened by the horizon (T floored at 0 → intrinsic);
        today's leg is the model price so a zero return with h = 0 gives zero P&L. Shocked spot
        floored at 1e-12·S. Vectorised: one pricer call on the (scenarios × options) grid.

    Parameters
    ----------
    positions : DataFrame
        Positions table (analytics.snapshots), prepared or not.
    spots : mapping or Series
        Today's price per price symbol, dollars.
    scenario_returns : DataFrame or ndarray
        Scenarios × symbols simple decimal returns (historical days or simulated paths); a
        DataFrame's columns are the symbols, an ndarray needs `symbols`.
    as_of : date-like
        Valuation date.
    rate : float
        Risk-free rate, decimal annualised.
    vols : mapping or Series, optional
        Decimal annualised vol per option underlying.
    dividend_yields : mapping or Series, optional
        Decimal per underlying (default 0).
    horizon_days : float
        Calendar days the options age in each scenario (default 1).
    symbols : sequence of str, optional
        Column symbols of an ndarray `scenario_returns`.
    pricer : callable, optional
        Black–Scholes-signature pricer (default ``greeks.black_scholes``, run price-only).

    Returns
    -------
    DataFrame
        Scenarios × positions, dollars (gain > 0).
    """
    pos = positions if "price_symbol" in positions.columns else prepare_positions(positions)
    if isinstance(scenario_returns, pd.DataFrame):
        ret_df = scenario_returns
    else:
        if symbols is None:
            raise ValueError("symbols required when scenario_returns is an ndarray")
        ret_df = pd.DataFrame(np.asarray(scenario_returns, dtype=float), columns=list(symbols))
    psym = pos["price_symbol"].tolist()
    absent = sorted(set(psym) - set(ret_df.columns))
    if absent:
        raise ValueError(f"scenario returns lack symbols {absent}")
    if ret_df.columns.is_unique:
        r = ret_df.to_numpy(dtype=float)[:, ret_df.columns.get_indexer(psym)]  # n × p
    else:
        r = ret_df.reindex(columns=psym).to_numpy(dtype=float)  # raises like before
    valued = valuation_arrays(pos, spots, as_of, rate, vols=vols, dividend_yields=dividend_yields, pricer=pricer)  # value_positions' numbers
    reval = Revaluation(pos, valued, rate, dividend_yields, horizon_days, pricer)
    return pd.DataFrame(reval.pnl(r), index=ret_df.index, columns=pos.index)


class Revaluation:
    """Per-position constants of `scenario_pnl_full_revaluation`, reusable for many return grids.

    valued: the `snapshots.valuation_arrays` of the (prepared) positions today (spot, unit_price,
    market_value, time_years, vol). pnl(r) with r scenarios × positions (the return of each
    position's price symbol) gives the scenarios × positions dollar P&L: stocks mv × r; options
    quantity × multiplier × [BS(S(1 + r), K, max(T − h/365, 0), rate, σ, q) − today's model price],
    priced on the (scenarios × options) grid in one call (price only for the default pricer).
    """

    def __init__(self, pos: pd.DataFrame, valued: Mapping[str, np.ndarray], rate: float, dividend_yields: Any,
                 horizon_days: float, pricer: Pricer | None):
        self.mv = np.asarray(valued["market_value"], dtype=float)
        self.is_opt = pos["is_option"].to_numpy(bool)
        self.has_options = bool(self.is_opt.any())
        self.pricer = pricer
        self.rate = rate
        if self.has_options:
            m = self.is_opt
            und = pos["price_symbol"].to_numpy(dtype=object)[m].tolist()
            t0 = np.asarray(valued["time_years"], dtype=float)[m]  # (expiry − as_of) days / 365
            self.t1 = np.maximum(t0 - horizon_days / DAYS_PER_YEAR, 0.0)[None, :]
            self.v = np.asarray(valued["vol"], dtype=float)[m][None, :]
            self.q = lookup_values(dividend_yields, und, "dividend_yield", default=0.0)[None, :]
            self.s0 = np.asarray(valued["spot"], dtype=float)[m][None, :]
            self.k = pos["strike"].to_numpy(dtype=float)[m][None, :]
            self.call = pos["is_call"].to_numpy(dtype=bool)[m][None, :]
            self.base = np.asarray(valued["unit_price"], dtype=float)[m][None, :]
            self.scale = (pos["quantity"].to_numpy(float) * pos["multiplier"].to_numpy(float))[m][None, :]

    def pnl(self, r: np.ndarray) -> np.ndarray:
        """Scenarios × positions dollar P&L (gain > 0) for r, scenarios × positions decimal returns of
        each position's price symbol."""
        pnl = self.mv[None, :] * r
        if self.has_options:
            pnl[:, self.is_opt] = self.option_pnl(r[:, self.is_opt])
        return pnl

    def option_pnl(self, r_options: np.ndarray) -> np.ndarray:
        """Scenarios × option positions dollar P&L for r_options, the decimal returns of each option's
        underlying (full Black–Scholes revaluation, see the class docstring)."""
        s1 = self.s0 * np.maximum(1.0 + r_options, 1e-12)
        shocked = option_prices(self.pricer, s1, self.k, self.t1, self.rate, self.v, self.q, self.call)
        return self.scale * (shocked - self.base)


# --------------------------------------------------------------------------------------------
# parametric (delta-normal) and Monte Carlo
# --------------------------------------------------------------------------------------------


def portfolio_sigma(exposures: Any, cov: Any) -> float:
    """1-day P&L standard deviation of a linear book: σ_p = sqrt(wᵀ Σ w).

    Parameters
    ----------
    exposures : array-like or Series
        w: dollar delta per underlying.
    cov : array-like or DataFrame
        Σ: daily simple-return covariance (not annualised); aligned by label when both are labelled.

    Returns
    -------
    float
        Dollars (≥ 0).
    """
    w, sigma, _ = _align(exposures, cov)
    return float(np.sqrt(max(w @ sigma @ w, 0.0)))


def parametric_var(exposures: Any, cov: Any, confidence: float) -> float:
    """Delta-normal 1-day VaR: VaR_c = z_c × sqrt(wᵀ Σ w), z_c = Φ⁻¹(c), zero mean P&L.

    Parameters
    ----------
    exposures : array-like or Series
        w: dollar delta per underlying.
    cov : array-like or DataFrame
        Σ: daily simple-return covariance.
    confidence : float
        c in (0, 1), e.g. 0.99.

    Returns
    -------
    float
        Positive dollar loss.
    """
    c = _check_confidence(confidence)
    return float(_norm_ppf(c) * portfolio_sigma(exposures, cov))


def parametric_es(exposures: Any, cov: Any, confidence: float) -> float:
    """Delta-normal 1-day ES: ES_c = σ_p × φ(z_c) / (1 − c), zero mean P&L.

    Parameters
    ----------
    exposures, cov, confidence
        As in `parametric_var`: dollar delta per underlying, daily covariance, c in (0, 1).

    Returns
    -------
    float
        Positive dollar loss (≥ `parametric_var`).
    """
    c = _check_confidence(confidence)
    return float(portfolio_sigma(exposures, cov) * _norm_pdf(_norm_ppf(c)) / (1.0 - c))


def euler_contributions(exposures: Any, cov: Any, confidence: float) -> pd.Series | np.ndarray:
    """Component (Euler) parametric VaR per underlying: c_i = z_c × w_i (Σ w)_i / σ_p.

    Parameters
    ----------
    exposures, cov, confidence
        w (dollar delta per underlying), Σ (daily return covariance) and c, as in `parametric_var`.

    Returns
    -------
    Series or ndarray
        Dollars per underlying, labelled like `exposures`; Σ_i c_i = z_c σ_p = `parametric_var`
        exactly. Zeros when σ_p = 0.
    """
    c = _check_confidence(confidence)
    w, sigma, labels = _align(exposures, cov)
    sp = float(np.sqrt(max(w @ sigma @ w, 0.0)))
    contrib = np.zeros_like(w) if sp == 0.0 else _norm_ppf(c) * w * (sigma @ w) / sp
    return pd.Series(contrib, index=labels, name="component_var") if labels is not None else contrib


def cholesky_factor(cov: Any) -> np.ndarray:
    """Lower factor L with L Lᵀ = Σ.

    Parameters
    ----------
    cov : array-like
        Σ, k × k covariance (symmetrised first).

    Returns
    -------
    ndarray
        k × k: the Cholesky factor, or for a non positive-definite Σ the eigen factor
        V·diag(sqrt(max(λ, 0))) (negative eigenvalues clipped to 0).
    """
    sigma = np.asarray(cov, dtype=float)
    sigma = 0.5 * (sigma + sigma.T)
    try:
        return np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(sigma)
        return vecs * np.sqrt(np.clip(vals, 0.0, None))[None, :]


def covariance_factor(window: ReturnsWindow, cov: np.ndarray | None = None) -> np.ndarray:
    """F (k × m) with F Fᵀ = Σ, the sample covariance of `returns_covariance` (same window, ddof = 1).

    Fewer symbols than sample days (k < n): the k × k `cholesky_factor` of Σ. Otherwise Σ has rank
    ≤ n − 1 and the sample-space factor F = X̃ᵀ / √(n − 1) (X̃: the n × k demeaned sample) is exact,
    with m = n columns: a 7,500-symbol book draws 10,000 × 252 normals, not 10,000 × 7,500, and needs
    no 7,500 × 7,500 eigendecomposition (minutes per session).
    """
    sample = window.symbol_returns[window.lookback_mask]
    n, k = sample.shape
    if k < n:
        return cholesky_factor(returns_covariance(window) if cov is None else cov)
    return (sample - sample.mean(axis=0)).T / np.sqrt(n - 1.0)


_STREAMS: dict[tuple[int, int], tuple[np.random.Generator, np.ndarray]] = {}  # (n_paths, seed) -> (generator, drawn)


def standard_normal_draws(n_paths: int, k: int, seed: int | None) -> np.ndarray:
    """iid N(0, 1) draws of ``numpy.random.default_rng(seed).standard_normal((n_paths, k))``, cached per
    (n_paths, seed).

    A seeded session's draws depend only on (n_paths, k, seed), so the sessions of a range run share
    them and get exactly the numbers they would get alone. The generator fills the array in C order from one
    stream, so the (n_paths, k) draw is the first n_paths × k numbers of that stream: one stream per
    (n_paths, seed) serves every k — a range whose book grows from 50 to 90 symbols draws once, not 40 times.

    Parameters
    ----------
    n_paths, k : int
        Shape of the draw.
    seed : int or None
        Generator seed; None draws afresh (not cached).

    Returns
    -------
    ndarray
        n_paths × k, read-only when cached.
    """
    n_paths, k = int(n_paths), int(k)
    if seed is None:
        return np.random.default_rng().standard_normal((n_paths, k))
    key = (n_paths, int(seed))
    rng, drawn = _STREAMS.pop(key, (None, None))
    if rng is None:
        if len(_STREAMS) >= 4:
            _STREAMS.pop(next(iter(_STREAMS)))
        rng, drawn = np.random.default_rng(key[1]), np.empty(0)
    need = n_paths * k
    if drawn.size < need:  # continue the stream (ahead by half again, so a growing book rarely draws)
        drawn = np.concatenate([drawn, rng.standard_normal(max(need, drawn.size + drawn.size // 2) - drawn.size)])
        drawn.setflags(write=False)
    _STREAMS[key] = (rng, drawn)  # most recently used last
    return drawn[:need].reshape(n_paths, k)


def simulate_normal_returns(cov: Any, n_paths: int = 10_000, seed: int | None = 42) -> np.ndarray:
    """Simulated daily simple returns R ~ N(0, Σ): R = Z Lᵀ, Z iid standard normal (seeded).

    Parameters
    ----------
    cov : array-like
        Σ, daily simple-return covariance (k × k).
    n_paths : int
        Paths.
    seed : int or None
        ``default_rng`` seed.

    Returns
    -------
    ndarray
        n_paths × k decimal returns.
    """
    L = cholesky_factor(cov)
    return standard_normal_draws(n_paths, L.shape[0], seed) @ L.T


def monte_carlo_pnl(
    cov: Any,
    exposures: Any = None,
    revalue: Callable[[pd.DataFrame], Any] | None = None,
    n_paths: int = 10_000,
    seed: int | None = 42,
) -> np.ndarray:
    """Simulated 1-day portfolio P&L for `n_paths` ≥ 10 000 multivariate-normal paths.

    Returns R ~ N(0, Σ). Linear: P&L = R w. Full revaluation: `revalue(R_df)` with R_df a paths ×
    symbols DataFrame (symbols = cov labels) returning per-path P&L, or paths × positions P&L (summed
    across positions), e.g. ``lambda R: scenario_pnl_full_revaluation(positions, spots, R, as_of, rate, vols)``.

    Parameters
    ----------
    cov : array-like or DataFrame
        Σ, daily simple-return covariance.
    exposures : array-like or Series, optional
        w, dollar delta per symbol (linear model).
    revalue : callable, optional
        Full-revaluation P&L of a returns DataFrame (dollars).
    n_paths : int
        Paths, ≥ 10 000.
    seed : int or None
        ``default_rng`` seed.

    Returns
    -------
    ndarray
        n_paths dollar P&L values (gain > 0).
    """
    if n_paths < 10_000:
        raise ValueError(f"n_paths must be ≥ 10000, got {n_paths}")
    if revalue is None and exposures is None:
        raise ValueError("pass exposures (linear) or revalue (full revaluation)")
    if exposures is not None and revalue is None:
        w, sigma, _ = _align(exposures, cov)
        return simulate_normal_returns(sigma, n_paths, seed) @ w
    labels = cov.index if isinstance(cov, pd.DataFrame) else None
    sims = simulate_normal_returns(cov, n_paths, seed)
    out = np.asarray(revalue(pd.DataFrame(sims, columns=labels)), dtype=float)
    return out.sum(axis=1) if out.ndim == 2 else out


def monte_carlo_var(
    exposures: Any,
    cov: Any,
    confidence: float,
    n_paths: int = 10_000,
    seed: int | None = 42,
    revalue: Callable[[pd.DataFrame], Any] | None = None,
) -> dict[str, float]:
    """Monte Carlo 1-day VaR and ES from `monte_carlo_pnl` (see there).

    Parameters
    ----------
    exposures, cov, n_paths, seed, revalue
        As in `monte_carlo_pnl`.
    confidence : float
        c in (0, 1), e.g. 0.99.

    Returns
    -------
    dict
        {"var": −quantile(P&L, 1 − c) (numpy linear), "es": −mean(P&L ≤ −VaR), "n_paths"} — VaR and
        ES positive dollar losses.
    """
    pnl = monte_carlo_pnl(cov, exposures=exposures, revalue=revalue, n_paths=n_paths, seed=seed)
    return {"var": historical_var(pnl, confidence), "es": historical_es(pnl, confidence), "n_paths": int(n_paths)}


def scale_var(var_1d: float, horizon_days: float = 10.0) -> float:
    """h-day VaR by the square-root-of-time rule (i.i.d. zero-mean returns).

    Parameters
    ----------
    var_1d : float
        1-day VaR, dollars.
    horizon_days : float
        h, trading days (default 10).

    Returns
    -------
    float
        VaR_h = VaR_1d × √h, dollars.
    """
    return float(var_1d) * math.sqrt(horizon_days)


# --------------------------------------------------------------------------------------------
# performance / risk ratios
# --------------------------------------------------------------------------------------------


def annualised_volatility(returns: Any) -> float:
    """Annualised volatility = √252 × std(daily returns, ddof = 1).

    Parameters
    ----------
    returns : array-like
        Daily simple returns, decimal; NaNs ignored.

    Returns
    -------
    float
        Decimal (0.2 = 20 %); NaN with fewer than 2 returns.
    """
    x = _finite(returns)
    return float(np.sqrt(TRADING_DAYS) * x.std(ddof=1)) if x.size > 1 else float("nan")


def beta(returns: Any, benchmark_returns: Any) -> float:
    """OLS slope (with intercept) of daily returns on benchmark returns: β = cov(r, b) / var(b).

    Parameters
    ----------
    returns : array-like
        Daily simple returns, decimal.
    benchmark_returns : array-like
        Benchmark daily simple returns on the same dates; only dates where both are finite count.

    Returns
    -------
    float
        Dimensionless; NaN with fewer than 2 dates or a constant benchmark.
    """
    r = np.asarray(returns, dtype=float).ravel()
    b = np.asarray(benchmark_returns, dtype=float).ravel()
    ok = np.isfinite(r) & np.isfinite(b)
    r, b = r[ok], b[ok]
    if r.size < 2 or b.var() == 0:
        return float("nan")
    return float(((r - r.mean()) * (b - b.mean())).sum() / ((b - b.mean()) ** 2).sum())


def max_drawdown(values: Any) -> float:
    """Maximum drawdown: max_t (1 − V_t / max_{s≤t} V_s).

    Parameters
    ----------
    values : array-like
        Positive value series (e.g. an index Π(1 + r_t)); NaNs ignored.

    Returns
    -------
    float
        Decimal, ≥ 0 (0 for a never-falling series); NaN if empty or its running peak is ≤ 0.
    """
    v = _finite(values)
    if v.size == 0:
        return float("nan")
    peak = np.maximum.accumulate(v)
    if (peak <= 0).any():
        return float("nan")
    return float(np.max(1.0 - v / peak))


def _excess(returns: Any, rf_daily: Any) -> np.ndarray:
    r = np.asarray(returns, dtype=float).ravel()
    rf = np.broadcast_to(np.asarray(rf_daily, dtype=float), r.shape)
    ex = r - rf
    return ex[np.isfinite(ex)]


def sharpe_ratio(returns: Any, rf_daily: Any = 0.0) -> float:
    """Annualised Sharpe ratio = √252 × mean(r − rf) / std(r − rf, ddof = 1).

    Parameters
    ----------
    returns : array-like
        Daily simple returns, decimal.
    rf_daily : float or array-like
        Daily risk-free return, decimal (e.g. ^IRX % / 100 / 252), scalar or aligned with `returns`.

    Returns
    -------
    float
        Annualised, dimensionless; NaN with fewer than 2 finite excess returns or zero dispersion.
    """
    ex = _excess(returns, rf_daily)
    if ex.size < 2:
        return float("nan")
    sd = ex.std(ddof=1)
    return float(np.sqrt(TRADING_DAYS) * ex.mean() / sd) if sd > 0 else float("nan")


def sortino_ratio(returns: Any, rf_daily: Any = 0.0) -> float:
    """Annualised Sortino ratio = √252 × mean(r − rf) / DD, DD = sqrt(mean(min(r − rf, 0)²)) over ALL days.

    Parameters
    ----------
    returns, rf_daily
        As in `sharpe_ratio` (daily decimals); rf is also the target return.

    Returns
    -------
    float
        Annualised, dimensionless; NaN when there is no downside (DD = 0) or fewer than 2 days.
    """
    ex = _excess(returns, rf_daily)
    if ex.size < 2:
        return float("nan")
    dd = np.sqrt(np.mean(np.minimum(ex, 0.0) ** 2))
    return float(np.sqrt(TRADING_DAYS) * ex.mean() / dd) if dd > 0 else float("nan")


# --------------------------------------------------------------------------------------------
# back-testing
# --------------------------------------------------------------------------------------------


def kupiec_pof(exceedances: int, n_obs: int, confidence: float) -> tuple[float, float]:
    """Kupiec proportion-of-failures test of a VaR's exceedance rate, LR ~ χ²(1) under H0.

    p = 1 − c (expected exceedance rate), x exceedances in n observations, π̂ = x / n:
    LR = −2 [ (n − x) ln(1 − p) + x ln p − (n − x) ln(1 − π̂) − x ln π̂ ], with 0·ln 0 = 0
    (so x = 0 gives LR = −2 n ln(1 − p); x = n gives LR = −2 n ln p).

    Parameters
    ----------
    exceedances : int
        x, days with a loss beyond VaR (0 ≤ x ≤ n).
    n_obs : int
        n, test days (> 0).
    confidence : float
        c in (0, 1), e.g. 0.99.

    Returns
    -------
    (float, float)
        LR statistic and p-value = 1 − F_χ²(1)(LR) (decimal).
    """
    c = _check_confidence(confidence)
    n, x = int(n_obs), int(exceedances)
    if n <= 0 or not 0 <= x <= n:
        raise ValueError(f"need 0 ≤ exceedances ≤ n_obs and n_obs > 0, got {x}, {n}")
    p = 1.0 - c
    pi = x / n

    def xlogy(a: float, b: float) -> float:
        return 0.0 if a == 0 else a * math.log(b)

    ll_null = xlogy(n - x, 1.0 - p) + xlogy(x, p)
    ll_alt = xlogy(n - x, 1.0 - pi) + xlogy(x, pi)
    lr = max(-2.0 * (ll_null - ll_alt), 0.0)
    return float(lr), float(special.chdtrc(1, lr))  # = stats.chi2.sf(lr, df=1)


def var_backtest(
    pnl: pd.Series | np.ndarray,
    confidences: Sequence[float] = (0.95, 0.99),
    window: int = TRADING_DAYS,
    test_sessions: int = 250,
    min_window: int = MIN_OBSERVATIONS,
) -> dict[str, Any]:
    """Rolling historical-VaR back-test with Kupiec POF, no look-ahead.

    For each of the last n_test = min(test_sessions, n − min_window) days t, VaR_t = historical_var
    of pnl[max(0, t − window) : t] (strictly prior data: up to `window` days, fewer when less
    history is available). An exceedance is pnl_t < −VaR_t.

    Parameters
    ----------
    pnl : Series or ndarray
        Chronological daily dollar P&L (e.g. today's portfolio under each historical day's returns).
    confidences : sequence of float
        VaR confidences c in (0, 1).
    window, test_sessions, min_window : int
        Sessions behind each VaR, test days wanted, days kept out of the test.

    Returns
    -------
    dict
        Per confidence (label L, e.g. '99'): exceedances_L, expected_exceedances_L = n_test (1 − c),
        exceedance_rate_L (decimal), kupiec_lr_L, kupiec_p_L; n_test, window, and `series`
        (DataFrame: pnl, var_L ($), exceed_L per test day). n_test ≤ 0 → counts and series None.
        The same numbers, typed, are `rolling_var_backtest`'s `Backtest`.
    """
    labels = pnl.index if isinstance(pnl, pd.Series) else None
    x = np.asarray(pnl, dtype=float).ravel()
    bt, test_idx, var_by_c = _backtest_arrays(x, confidences, window, test_sessions, min_window)
    out: dict[str, Any] = {"n_test": bt.n_test, "window": bt.window}
    for c in confidences:
        lab = confidence_label(c)
        level = bt.levels.get(float(c))
        for key in ("exceedances", "expected_exceedances", "exceedance_rate", "kupiec_lr", "kupiec_p"):
            out[f"{key}_{lab}"] = None if level is None else getattr(level, key)
    if test_idx is None:
        out["series"] = None
        return out
    series = pd.DataFrame({"pnl": x[test_idx]}, index=None if labels is None else labels[test_idx])
    for c, var_t in var_by_c.items():
        lab = confidence_label(c)
        series[f"var_{lab}"] = var_t
        series[f"exceed_{lab}"] = x[test_idx] < -var_t
    out["series"] = series
    return out


def _rolling_nanquantiles(x: np.ndarray, start: int, window: int, probs: Sequence[float]) -> np.ndarray:
    """len(probs) × (n − start) array: for t = start … n − 1 the numpy 'linear' quantiles of the
    NaN-free values of x[max(0, t − window) : t] (strictly prior data) — ``numpy.nanquantile`` of
    each window; NaN for a window without data.

    Every window that is complete (t ≥ window) and NaN-free is one row of a ``sliding_window_view``
    and all of them go through one ``numpy.quantile(axis=-1)`` call. The others (shorter, or with
    NaN) are rows of the same view over x padded with NaN in front, sorted (NaN last) and
    interpolated by `_linear_quantiles_of_sorted` on each row's non-NaN count — numpy's 'linear'
    rule step for step, so every value is the float ``numpy.nanquantile`` gives for that window.
    """
    x = np.asarray(x, dtype=float).ravel()
    n = x.size
    probs = [float(p) for p in probs]
    t = np.arange(int(start), n)
    out = np.full((len(probs), t.size), np.nan)
    if t.size == 0 or not probs:
        return out
    window = int(window)
    lo = np.maximum(t - window, 0)
    nan = np.isnan(x)
    nan_cum = np.concatenate([[0], np.cumsum(nan)])
    fast = (t - window >= 0) & (nan_cum[t] - nan_cum[lo] == 0) & (window > 0)
    if fast.any():
        rows = sliding_window_view(x, window)[t[fast] - window]  # rows = x[t − window : t]
        out[:, fast] = np.quantile(rows, probs, axis=-1)
    slow = np.flatnonzero(~fast)
    if slow.size and window > 0:
        padded = np.concatenate([np.full(window, np.nan), x])
        rows = np.sort(sliding_window_view(padded, window)[t[slow]], axis=1)  # x[t − window : t], NaN before 0, NaN last
        out[:, slow] = _linear_quantiles_of_sorted(rows, (~np.isnan(rows)).sum(axis=1), probs)
    return out


def _linear_quantiles_of_sorted(rows: np.ndarray, counts: np.ndarray, probs: Sequence[float]) -> np.ndarray:
    """len(probs) × len(rows): numpy's 'linear' quantile of each sorted row's first counts[i] values
    (NaN where counts[i] = 0), computed as numpy does it: virtual index (n − 1)·p, floor and next
    index clipped to the last value, and numpy's two-sided lerp (from below when γ < 0.5, from above
    otherwise) — so the floats equal ``numpy.quantile`` of those values."""
    out = np.full((len(probs), rows.shape[0]), np.nan)
    row = np.arange(rows.shape[0])
    last = np.maximum(counts - 1, 0)
    for k, p in enumerate(probs):
        virtual = (counts - 1) * p
        below = np.floor(virtual)
        at_end = virtual >= counts - 1
        lo_i = np.where(at_end, last, np.clip(below, 0, None)).astype(int)
        hi_i = np.where(at_end, last, np.minimum(below + 1, last)).astype(int)
        a, b = rows[row, lo_i], rows[row, hi_i]
        gamma = virtual - below
        diff = b - a
        value = np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)
        out[k] = np.where(counts > 0, value, np.nan)
    return out


def rolling_var_backtest(
    pnl: Any,
    confidences: Sequence[float] = (0.95, 0.99),
    window: int = TRADING_DAYS,
    test_sessions: int = 250,
    min_window: int = MIN_OBSERVATIONS,
) -> Backtest:
    """`var_backtest` as a typed result, without the per-day series.

    Parameters
    ----------
    pnl : array-like
        Chronological daily P&L, dollars (gain > 0); NaN days are never exceedances.
    confidences : sequence of float
        VaR confidences c in (0, 1).
    window : int
        Sessions of strictly prior P&L behind each day's historical VaR.
    test_sessions : int
        Test days wanted; n_test = min(test_sessions, n − min_window).
    min_window : int
        Days kept out of the test so the first VaR has history.

    Returns
    -------
    Backtest
        n_test, window and one `BacktestLevel` per confidence (none when n_test ≤ 0).
    """
    return _backtest_arrays(np.asarray(pnl, dtype=float).ravel(), confidences, window, test_sessions, min_window)[0]


def _backtest_arrays(
    x: np.ndarray,
    confidences: Sequence[float],
    window: int,
    test_sessions: int,
    min_window: int,
) -> tuple[Backtest, np.ndarray | None, dict[float, np.ndarray]]:
    """(Backtest, test-day indexes into x or None, {confidence: VaR_t per test day ($)})."""
    n = x.size
    n_test = min(int(test_sessions), n - int(min_window))
    if n_test <= 0:
        return Backtest(n_test=0, window=int(window), levels={}), None, {}
    cs = [_check_confidence(c) for c in confidences]
    test_idx = np.arange(n - n_test, n)
    quantiles = _rolling_nanquantiles(x, n - n_test, int(window), [1.0 - c for c in cs])
    x_test = x[test_idx]
    levels: dict[float, BacktestLevel] = {}
    var_by_c: dict[float, np.ndarray] = {}
    for c, qrow in zip(cs, quantiles):
        var_t = -qrow
        k = int((x_test < -var_t).sum())
        lr, pv = kupiec_pof(k, n_test, c)
        levels[c] = BacktestLevel(confidence=c, exceedances=k, expected_exceedances=n_test * (1.0 - c),
                                  exceedance_rate=k / n_test, kupiec_lr=lr, kupiec_p=pv)
        var_by_c[c] = var_t
    return Backtest(n_test=n_test, window=int(window), levels=levels), test_idx, var_by_c


# --------------------------------------------------------------------------------------------
# typed results of compute_risk_metrics
# --------------------------------------------------------------------------------------------


class QualityFlag(StrEnum):
    """Why a `RiskMetrics` carries numbers or not; the values are the stored ``quality_flag`` strings.

    OK: every metric computed. LIMITED_HISTORY: fewer than `min_observations` usable days, or an
    option underlying without a vol. MISSING_PRICES: a held symbol has no price on as_of.
    EMPTY_PORTFOLIO: nothing held, or a zero gross exposure.
    """

    OK = "ok"
    LIMITED_HISTORY = "limited_history"
    MISSING_PRICES = "missing_prices"
    EMPTY_PORTFOLIO = "empty_portfolio"


@dataclass(frozen=True)
class BacktestLevel:
    """Kupiec POF back-test of the rolling historical VaR at one confidence.

    confidence: c (decimal, e.g. 0.99); exceedances: test days with P&L < −VaR_t (count);
    expected_exceedances: n_test × (1 − c) (days); exceedance_rate: exceedances / n_test (decimal);
    kupiec_lr: likelihood-ratio statistic, χ²(1) under H0; kupiec_p: its p-value (decimal).
    """

    confidence: float
    exceedances: int
    expected_exceedances: float
    exceedance_rate: float
    kupiec_lr: float
    kupiec_p: float


@dataclass(frozen=True)
class Backtest:
    """Rolling historical-VaR back-test (see `var_backtest`): n_test test days (0 when the history is
    too short), each VaR on up to `window` strictly prior days; `levels` maps confidence c → its
    `BacktestLevel` (empty when n_test = 0)."""

    n_test: int
    window: int
    levels: dict[float, BacktestLevel]


@dataclass(frozen=True)
class VarEstimates:
    """VaR and ES of one method (historical, delta-normal or Monte Carlo), 1-day horizon.

    var: {c: VaR_c}, es: {c: ES_c} — POSITIVE dollar losses keyed by confidence c (decimal, e.g.
    0.99); None where not finite. components: {c: {name: $}} component VaR summing to var[c]
    (historical: per position id, full revaluation; parametric: Euler, per underlying; Monte
    Carlo: none). `var_10d` scales var by √10 (square-root-of-time).
    """

    var: dict[float, float | None]
    es: dict[float, float | None]
    components: dict[float, dict[str, float]] = field(default_factory=dict)

    @property
    def var_10d(self) -> dict[float, float | None]:
        """10-day VaR per confidence, dollars: VaR_1d × √10 (`scale_var`)."""
        return {c: None if v is None else scale_var(v, 10.0) for c, v in self.var.items()}


@dataclass(frozen=True)
class RiskRatios:
    """Ratios of the portfolio's reconstructed daily return r_t = P&L_t / today's gross exposure
    (decimal) over the look-back days; None where not finite.

    annualised_volatility: √252 × sd(r) (decimal); beta: OLS slope of r on `benchmark`'s daily
    return (None without benchmark prices); max_drawdown: of the index Π(1 + r_t) (decimal, ≥ 0);
    sharpe_ratio / sortino_ratio: annualised, excess over rf_daily = ^IRX_{t−1} / 100 / 252.
    """

    benchmark: str
    annualised_volatility: float | None
    beta: float | None
    max_drawdown: float | None
    sharpe_ratio: float | None
    sortino_ratio: float | None


@dataclass(frozen=True)
class RiskMetrics:
    """Everything `compute_risk_metrics` measures for the positions held on `as_of`.

    Status: quality_flag (`QualityFlag`); n_observations (usable look-back days); lookback
    (sessions asked for); missing_symbols (what caused a MISSING_PRICES / LIMITED_HISTORY flag).
    Levels asked for: confidences (VaR) and es_confidences (ES), decimals.
    Book (dollars): net_value (Σ signed market values), gross_exposure (Σ |market value|),
    exposures ({underlying: dollar delta}), portfolio_sigma_1d (1-day delta-normal P&L sd); rate:
    the risk-free rate used (decimal annualised).
    Risk: historical / parametric / monte_carlo (`VarEstimates`: 1-day VaR/ES, positive dollar
    losses), ratios (`RiskRatios`), backtest (`Backtest` of the historical VaR).
    Anything not computed — every metric unless quality_flag is OK — is None.
    """

    as_of: date
    quality_flag: QualityFlag
    lookback: int
    confidences: tuple[float, ...]
    es_confidences: tuple[float, ...]
    n_observations: int = 0
    missing_symbols: tuple[str, ...] = ()
    rate: float | None = None
    net_value: float | None = None
    gross_exposure: float | None = None
    exposures: dict[str, float] | None = None
    portfolio_sigma_1d: float | None = None
    historical: VarEstimates | None = None
    parametric: VarEstimates | None = None
    monte_carlo: VarEstimates | None = None
    ratios: RiskRatios | None = None
    backtest: Backtest | None = None

    @property
    def methods(self) -> dict[str, VarEstimates | None]:
        """{'historical' | 'parametric' | 'monte_carlo': its `VarEstimates`} (the stored method names)."""
        return {"historical": self.historical, "parametric": self.parametric, "monte_carlo": self.monte_carlo}


# --------------------------------------------------------------------------------------------
# the steps of compute_risk_metrics
# --------------------------------------------------------------------------------------------


def _none_if_nan(x: Any) -> Any:
    """None for None/NaN/±inf, numpy scalars as Python numbers, anything else unchanged."""
    if x is None:
        return None
    if isinstance(x, (float, np.floating)):
        return None if not np.isfinite(x) else float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    return x


def price_history(prices: pd.DataFrame, as_of: Any) -> tuple[pd.Timestamp, pd.DataFrame]:
    """The price rows up to `as_of`.

    Parameters
    ----------
    prices : DataFrame
        date × symbol matrix, dollars (``^IRX`` in percent); any date-like index, any order.
    as_of : date-like or None
        The valuation session; None means the last price date.

    Returns
    -------
    as_of : Timestamp
        `as_of` normalised to midnight.
    history : DataFrame
        The rows dated ≤ as_of, on a sorted, normalised DatetimeIndex.
    """
    px = by_session(prices)
    as_of_ts = px.index[-1] if as_of is None else pd.Timestamp(as_of).normalize()
    return as_of_ts, px.loc[:as_of_ts]


def held_positions(positions: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The positions that carry risk on `as_of`, prepared (`snapshots.prepare_positions`).

    Parameters
    ----------
    positions : DataFrame
        Positions table (see analytics.snapshots); `entry_date` optional.
    as_of : Timestamp
        Normalised valuation date.

    Returns
    -------
    DataFrame
        The prepared rows held on as_of (entry_date ≤ as_of when the column exists), without the
        options that expired before as_of. A table already through `prepare_positions` (it has
        ``price_symbol``) is not prepared again.
    """
    pos = positions if "price_symbol" in positions.columns else prepare_positions(positions)
    day = np.datetime64(pd.Timestamp(as_of).date(), "D")
    if "entry_date" in pos.columns:
        held = ~(to_day_array(pos["entry_date"]) > day)  # no entry date (NaT): held
        if not held.all():
            pos = pos.loc[held]
    if pos["is_option"].any():
        alive = ~(pos["is_option"].to_numpy(dtype=bool) & (to_day_array(pos["expiration_date"]) < day))
        if not alive.all():
            pos = pos.loc[alive]
    return pos


def spot_prices(history: pd.DataFrame, as_of: pd.Timestamp, pos: pd.DataFrame) -> tuple[pd.Series | None, list[str]]:
    """Today's price of every price symbol the positions need.

    Parameters
    ----------
    history : DataFrame
        `price_history` rows (dollars).
    as_of : Timestamp
        Normalised valuation date.
    pos : DataFrame
        Prepared, held positions.

    Returns
    -------
    spots : Series or None
        Price on as_of ($ per share) per distinct price symbol, in position order; None when any is missing.
    missing : list of str
        Sorted price symbols without a finite price on as_of (all of them when as_of has no price row).
    """
    if len(history) == 0 or history.index[-1] != as_of:
        return None, sorted(set(pos["price_symbol"]))
    symbols = list(dict.fromkeys(pos["price_symbol"].tolist()))
    today = history.iloc[-1].reindex(symbols)
    missing = sorted(today.index[~np.isfinite(today.to_numpy(float))])
    return (None, missing) if missing else (today.astype(float), [])


def risk_free_rate(history: pd.DataFrame, rf_symbol: str, rate: float | None = None) -> float:
    """Risk-free rate, decimal annualised: `rate` if given, else `rf_symbol` (^IRX, percent) on the
    last history row / 100, else ``domain.RISK_FREE_RATE_FALLBACK``."""
    if rate is not None:
        return float(rate)
    irx = history[rf_symbol].iloc[-1] if rf_symbol in history.columns else np.nan
    return float(irx) / 100.0 if np.isfinite(irx) else RISK_FREE_RATE_FALLBACK


def option_vols(pos: pd.DataFrame, history: pd.DataFrame, vols: Mapping[str, float] | pd.Series | None) -> tuple[Any, list[str]]:
    """Vols of the option underlyings.

    Parameters
    ----------
    pos : DataFrame
        Prepared, held positions.
    history : DataFrame
        `price_history` rows (dollars).
    vols : mapping or Series or None
        Decimal annualised vol per underlying; None → ``greeks.realised_volatility`` (63 sessions).

    Returns
    -------
    vols : mapping or Series or None
        The vols to value with (unchanged when given or when no option is held).
    missing : list of str
        Sorted option underlyings without a finite vol (empty when all are priced).
    """
    opt_und = sorted(set(pos.loc[pos["is_option"], "price_symbol"]))
    if not opt_und:
        return vols, []
    if vols is None:
        from sigmasight_onboarding.analytics.greeks import realised_volatility

        vols = realised_volatility(history[opt_und]).to_dict()
    vol_vec = lookup_values(vols, opt_und, "vol", default=np.nan)
    return vols, [u for u, v in zip(opt_und, vol_vec) if not np.isfinite(v)]


@dataclass(frozen=True)
class ReturnsWindow:
    """Simple daily returns of the last `lookback + backtest_sessions` sessions up to as_of, as numpy.

    symbols: the held price symbols — the first len(symbols) columns; columns: symbol → column of
    `prices` / `returns` (held symbols, then the benchmark / risk-free extras); prices: (n + 1) ×
    columns ($; ^IRX in percent); returns: n × columns simple decimal returns; complete: the days
    where every held symbol has a return; in_lookback: the complete days among the last `lookback`
    (the VaR sample).
    """

    symbols: list[str]
    columns: dict[str, int]
    prices: np.ndarray
    returns: np.ndarray
    complete: np.ndarray
    in_lookback: np.ndarray

    @property
    def n_observations(self) -> int:
        """Days in the VaR sample."""
        return int(self.in_lookback.sum())

    @property
    def symbol_returns(self) -> np.ndarray:
        """complete days × held symbols, decimal returns (the back-test's history)."""
        return self.returns[:, : len(self.symbols)][self.complete]

    @property
    def lookback_mask(self) -> np.ndarray:
        """Which complete days are in the VaR sample (boolean over `symbol_returns` rows)."""
        return self.in_lookback[self.complete]


def returns_window(history: pd.DataFrame, symbols: list[str], extra: Sequence[str], lookback: int,
                   backtest_sessions: int) -> ReturnsWindow:
    """The `ReturnsWindow` of `symbols` (plus the `extra` columns history has, e.g. benchmark, ^IRX).

    Parameters
    ----------
    history : DataFrame
        `price_history` rows, dollars.
    symbols : list of str
        Held price symbols.
    extra : sequence of str
        Reference columns wanted too (skipped when absent or already held).
    lookback, backtest_sessions : int
        Sessions of returns for VaR, and the back-test days before them.

    Returns
    -------
    ReturnsWindow
        Simple returns r_t = P_t / P_{t−1} − 1 (``analytics.returns.simple_returns``) over the last
        lookback + backtest_sessions sessions.
    """
    n_hist = int(lookback) + int(backtest_sessions)
    cols = symbols + [s for s in extra if s in history.columns and s not in symbols]
    wp = history[cols].iloc[-(n_hist + 1):].to_numpy(dtype=float)
    rets_all = wp[1:] / wp[:-1] - 1.0
    complete = np.isfinite(rets_all[:, : len(symbols)]).all(axis=1)
    in_lookback = np.zeros(len(rets_all), dtype=bool)
    in_lookback[-int(lookback):] = True
    return ReturnsWindow(symbols, {c: j for j, c in enumerate(cols)}, wp, rets_all, complete, complete & in_lookback)


def dollar_exposures(dollar_delta: np.ndarray, symbol_index: np.ndarray, n_symbols: int) -> np.ndarray:
    """Dollar delta per price symbol ($): Σ of the positions' dollar deltas on each symbol.

    Parameters
    ----------
    dollar_delta : ndarray
        Per position, dollars (share-equivalents × spot).
    symbol_index : ndarray of int
        Per position, its price symbol's column.
    n_symbols : int
        Number of price symbols.

    Returns
    -------
    ndarray
        n_symbols dollar exposures (the parametric model's w).
    """
    return np.bincount(symbol_index, weights=dollar_delta, minlength=n_symbols)[:n_symbols]


def returns_covariance(window: ReturnsWindow) -> np.ndarray:
    """Sample covariance (ddof = 1) of the held symbols' daily returns over the VaR sample (daily,
    decimal², not annualised): k × k, = ``DataFrame.cov`` of the NaN-free days."""
    k = len(window.symbols)
    return np.cov(window.symbol_returns[window.lookback_mask].T, ddof=1).reshape(k, k)


def _quantile_estimates(pnl: np.ndarray, confidences: Sequence[float], es_confidences: Sequence[float]) -> tuple[dict, dict]:
    """({c: historical_var(pnl, c)}, {c: historical_es(pnl, c)}) with NaN → None."""
    return ({float(c): _none_if_nan(historical_var(pnl, c)) for c in confidences},
            {float(c): _none_if_nan(historical_es(pnl, c)) for c in es_confidences})


def historical_estimates(scenario_pnl: np.ndarray, position_ids: Sequence[Any], confidences: Sequence[float],
                         es_confidences: Sequence[float]) -> VarEstimates:
    """Historical VaR / ES / component VaR of today's positions.

    Parameters
    ----------
    scenario_pnl : ndarray
        Look-back days × positions, dollar P&L of today's positions under each day's returns (full
        revaluation, gain > 0).
    position_ids : sequence
        Position ids (the component keys, as str).
    confidences, es_confidences : sequence of float
        VaR and ES confidences, decimals.

    Returns
    -------
    VarEstimates
        1-day `historical_var` / `historical_es` of the portfolio P&L (positive dollar losses) and
        `historical_var_contributions` per position id.
    """
    var, es = _quantile_estimates(scenario_pnl.sum(axis=1), confidences, es_confidences)
    components = {float(c): {str(k): float(v) for k, v in zip(position_ids, historical_var_contributions(scenario_pnl, c))}
                  for c in confidences}
    return VarEstimates(var=var, es=es, components=components)


def parametric_estimates(exposures: np.ndarray, cov: np.ndarray, symbols: Sequence[str], confidences: Sequence[float],
                         es_confidences: Sequence[float]) -> VarEstimates:
    """Delta-normal VaR / ES / Euler contributions.

    Parameters
    ----------
    exposures : ndarray
        Dollar delta per symbol (w).
    cov : ndarray
        Daily simple-return covariance of the symbols (Σ).
    symbols : sequence of str
        The symbols (component keys).
    confidences, es_confidences : sequence of float
        VaR and ES confidences, decimals.

    Returns
    -------
    VarEstimates
        1-day `parametric_var` / `parametric_es` (positive dollars, zero mean) and
        `euler_contributions` per symbol.
    """
    var = {float(c): _none_if_nan(parametric_var(exposures, cov, c)) for c in confidences}
    es = {float(c): _none_if_nan(parametric_es(exposures, cov, c)) for c in es_confidences}
    components = {float(c): {k: float(v) for k, v in zip(symbols, euler_contributions(exposures, cov, c))}
                  for c in confidences}
    return VarEstimates(var=var, es=es, components=components)


def parametric_from_sigma_w(exposures: np.ndarray, sigma_w: np.ndarray, symbols: Sequence[str],
                            confidences: Sequence[float], es_confidences: Sequence[float]) -> VarEstimates:
    """`parametric_estimates` from Σw (dollars² per symbol) instead of Σ: σ_p = √(wᵀΣw), VaR_c = z_c σ_p,
    ES_c = σ_p φ(z_c) / (1 − c), Euler contributions z_c w_i (Σw)_i / σ_p (zeros when σ_p = 0)."""
    w = np.asarray(exposures, dtype=float)
    sp = float(np.sqrt(max(float(w @ sigma_w), 0.0)))
    var = {float(c): _none_if_nan(float(_norm_ppf(_check_confidence(c)) * sp)) for c in confidences}
    es = {float(c): _none_if_nan(float(sp * _norm_pdf(_norm_ppf(_check_confidence(c))) / (1.0 - c))) for c in es_confidences}
    components = {float(c): {k: float(v) for k, v in zip(
        symbols, np.zeros_like(w) if sp == 0.0 else _norm_ppf(_check_confidence(c)) * w * sigma_w / sp)} for c in confidences}
    return VarEstimates(var=var, es=es, components=components)


def monte_carlo_estimates(simulated_pnl: np.ndarray, confidences: Sequence[float],
                          es_confidences: Sequence[float]) -> VarEstimates:
    """Monte Carlo VaR / ES: the empirical `historical_var` / `historical_es` of simulated 1-day
    portfolio P&L (dollars, gain > 0; see `simulated_portfolio_pnl`); no components."""
    var, es = _quantile_estimates(simulated_pnl, confidences, es_confidences)
    return VarEstimates(var=var, es=es)


def simulated_portfolio_pnl(reval: Revaluation, factor: np.ndarray, exposures: np.ndarray, symbol_index: np.ndarray,
                            n_paths: int, seed: int | None) -> np.ndarray:
    """Simulated 1-day portfolio P&L, dollars, one value per path (returns R = Z Fᵀ ~ N(0, Σ), seeded).

    Parameters
    ----------
    reval : Revaluation
        Today's positions, ready for full revaluation.
    factor : ndarray
        F, k × m with F Fᵀ = Σ, the daily simple-return covariance of the k price symbols
        (`covariance_factor`); Z is n_paths × m.
    exposures : ndarray
        Dollar delta per price symbol (used when no option is held: P&L = R w, linear).
    symbol_index : ndarray of int
        Per position, its price symbol's column of `cov`.
    n_paths : int
        Paths, ≥ 10 000.
    seed : int or None
        ``numpy.random.default_rng`` seed.

    Returns
    -------
    ndarray
        n_paths P&L values; options repriced in full (Black–Scholes, T − 1 day).
    """
    if n_paths < 10_000:
        raise ValueError(f"n_paths must be ≥ 10000, got {n_paths}")
    # R = Z Lᵀ is never formed: the linear positions need only R w = Z (Lᵀ w) (one matrix-vector product per
    # path instead of a paths × symbols × symbols product), the options only their underlyings' columns of R.
    factor = np.asarray(factor, dtype=float)
    z = standard_normal_draws(n_paths, factor.shape[1], seed)
    if not reval.has_options:
        return z @ (factor.T @ np.asarray(exposures, dtype=float))
    linear = ~reval.is_opt
    w_linear = np.bincount(symbol_index[linear], weights=reval.mv[linear], minlength=factor.shape[0])
    underlying_returns = z @ factor.T[:, symbol_index[reval.is_opt]]  # paths × option positions
    return z @ (factor.T @ w_linear) + reval.option_pnl(underlying_returns).sum(axis=1)


def risk_ratios(portfolio_pnl: np.ndarray, gross_exposure: float, window: ReturnsWindow, benchmark: str,
                rf_symbol: str) -> RiskRatios:
    """Volatility, beta, max drawdown, Sharpe and Sortino of the reconstructed portfolio returns.

    Parameters
    ----------
    portfolio_pnl : ndarray
        Dollar P&L of today's positions on each day of the VaR sample.
    gross_exposure : float
        Today's Σ |market value|, dollars (> 0); r_t = P&L_t / gross_exposure.
    window : ReturnsWindow
        The returns behind the P&L (benchmark and ^IRX columns when present).
    benchmark, rf_symbol : str
        Beta benchmark, and the risk-free series (percent; rf_daily = previous session / 100 / 252,
        missing → 0; absent column → 0).

    Returns
    -------
    RiskRatios
        Annualised volatility, beta (None without benchmark), max drawdown (decimals), annualised
        Sharpe and Sortino; NaN → None.
    """
    port_ret = portfolio_pnl / gross_exposure
    sample = window.lookback_mask
    b = None
    if benchmark in window.columns:
        b = beta(port_ret, window.returns[window.complete, window.columns[benchmark]][sample])
    if rf_symbol in window.columns:
        rf_prev = window.prices[:-1, window.columns[rf_symbol]] / 100.0 / TRADING_DAYS  # ^IRX of the previous session
        rf_daily = rf_prev[window.complete][sample]
        rf_daily = np.where(np.isnan(rf_daily), 0.0, rf_daily)
    else:
        rf_daily = 0.0
    return RiskRatios(
        benchmark=benchmark,
        annualised_volatility=_none_if_nan(annualised_volatility(port_ret)),
        beta=_none_if_nan(b),
        max_drawdown=_none_if_nan(max_drawdown(np.concatenate([[1.0], np.cumprod(1.0 + port_ret)]))),
        sharpe_ratio=_none_if_nan(sharpe_ratio(port_ret, np.asarray(rf_daily))),
        sortino_ratio=_none_if_nan(sortino_ratio(port_ret, np.asarray(rf_daily))),
    )


# --------------------------------------------------------------------------------------------
# one-call metrics
# --------------------------------------------------------------------------------------------


def compute_risk_metrics(
    positions: pd.DataFrame,
    prices: pd.DataFrame,
    as_of: Any = None,
    *,
    vols: Mapping[str, float] | pd.Series | None = None,
    rate: float | None = None,
    dividend_yields: Mapping[str, float] | pd.Series | None = None,
    lookback: int = TRADING_DAYS,
    confidences: Sequence[float] = (0.95, 0.99),
    es_confidences: Sequence[float] = (0.95, 0.975, 0.99),
    backtest_sessions: int = 250,
    n_paths: int = 10_000,
    seed: int = 42,
    benchmark: str = "SPY",
    rf_symbol: str = "^IRX",
    min_observations: int = MIN_OBSERVATIONS,
    pricer: Pricer | None = None,
) -> RiskMetrics:
    """All portfolio risk metrics for the positions held on `as_of` (default: last price date).

    positions: positions table (see analytics.snapshots; held when entry_date ≤ as_of if the column
    exists; options that expired before as_of are excluded — they carry no risk).
    prices: date × symbol matrix, dollars; `rf_symbol` (^IRX) in percent.
    vols: decimal annualised per option underlying (default: greeks.realised_volatility, 63 days).
    rate: decimal annualised (default ^IRX on as_of / 100, else 0).

    Method: returns = simple daily returns of the held price symbols over the last `lookback`
    sessions up to as_of; days with any missing return are dropped (n_observations counts the rest).
    Scenario P&L = full revaluation of today's positions (stocks linear, options Black–Scholes with
    T − 1 day) under each day's returns (`historical_estimates`), delta-normal on the same days'
    covariance (`parametric_estimates`), full revaluation of `n_paths` seeded normal paths
    (`monte_carlo_estimates`); ratios on r_t = P&L_t / today's gross exposure (`risk_ratios`);
    back-test over up to `backtest_sessions` days before the look-back (`rolling_var_backtest`).

    Returns a `RiskMetrics` (dollars unless stated; VaR/ES positive losses, 1-day unless `var_10d`).
    With fewer than `min_observations` usable days every metric is None (QualityFlag.LIMITED_HISTORY);
    with a missing price for a held symbol on as_of, MISSING_PRICES; nothing held, EMPTY_PORTFOLIO.
    """
    as_of_ts, hist = price_history(prices, as_of)
    pos = held_positions(positions, as_of_ts)
    result = RiskMetrics(as_of=as_of_ts.date(), quality_flag=QualityFlag.OK, lookback=int(lookback),
                         confidences=tuple(float(c) for c in confidences),
                         es_confidences=tuple(float(c) for c in es_confidences))
    if len(pos) == 0:
        return replace(result, quality_flag=QualityFlag.EMPTY_PORTFOLIO)
    spots, missing = spot_prices(hist, as_of_ts, pos)
    if spots is None:
        return replace(result, quality_flag=QualityFlag.MISSING_PRICES, missing_symbols=tuple(missing))
    rate = risk_free_rate(hist, rf_symbol, rate)
    result = replace(result, rate=rate)
    vols, no_vol = option_vols(pos, hist, vols)
    if no_vol:
        return replace(result, quality_flag=QualityFlag.LIMITED_HISTORY, missing_symbols=tuple(no_vol))

    valued = valuation_arrays(pos, spots, as_of_ts, rate, vols=vols, dividend_yields=dividend_yields, pricer=pricer)
    gross = float(np.abs(valued["market_value"]).sum())
    symbols = list(spots.index)
    window = returns_window(hist, symbols, (benchmark, rf_symbol), lookback, backtest_sessions)
    result = replace(result, net_value=float(valued["market_value"].sum()), gross_exposure=gross,
                     n_observations=window.n_observations)
    if window.n_observations < min_observations:
        return replace(result, quality_flag=QualityFlag.LIMITED_HISTORY)
    if gross == 0.0:
        return replace(result, quality_flag=QualityFlag.EMPTY_PORTFOLIO)

    symbol_index = np.array([window.columns[s] for s in pos["price_symbol"].tolist()], dtype=np.intp)
    reval = Revaluation(pos, valued, rate, dividend_yields, 1.0, pricer)
    history_pnl = reval.pnl(window.symbol_returns[:, symbol_index])  # complete days × positions, $
    sample_pnl = history_pnl[window.lookback_mask]
    exposures = dollar_exposures(valued["dollar_delta"], symbol_index, len(symbols))
    if len(symbols) < int(window.lookback_mask.sum()):
        cov = returns_covariance(window)
        factor = covariance_factor(window, cov)
        sigma_p = portfolio_sigma(exposures, cov)
        parametric = parametric_estimates(exposures, cov, symbols, confidences, es_confidences)
    else:  # more symbols than days: Σ = F Fᵀ of rank < k is never formed (k × k: 450 MB at 7,500 symbols)
        factor = covariance_factor(window)
        sigma_w = factor @ (factor.T @ exposures)
        sigma_p = float(np.sqrt(max(float(exposures @ sigma_w), 0.0)))
        parametric = parametric_from_sigma_w(exposures, sigma_w, symbols, confidences, es_confidences)
    simulated = simulated_portfolio_pnl(reval, factor, exposures, symbol_index, n_paths, seed)
    return replace(
        result,
        exposures={k: float(v) for k, v in zip(symbols, exposures)},
        portfolio_sigma_1d=_none_if_nan(sigma_p),
        historical=historical_estimates(sample_pnl, list(pos.index), confidences, es_confidences),
        parametric=parametric,
        monte_carlo=monte_carlo_estimates(simulated, confidences, es_confidences),
        ratios=risk_ratios(sample_pnl.sum(axis=1), gross, window, benchmark, rf_symbol),
        backtest=rolling_var_backtest(history_pnl.sum(axis=1), confidences, int(lookback), backtest_sessions,
                                      min_observations),
    )


__all__ = [
    "Backtest",
    "BacktestLevel",
    "QualityFlag",
    "ReturnsWindow",
    "Revaluation",
    "RiskMetrics",
    "RiskRatios",
    "VarEstimates",
    "annualised_volatility",
    "beta",
    "cholesky_factor",
    "covariance_factor",
    "compute_risk_metrics",
    "confidence_label",
    "dollar_exposures",
    "euler_contributions",
    "held_positions",
    "historical_es",
    "historical_estimates",
    "historical_var",
    "historical_var_contributions",
    "kupiec_pof",
    "max_drawdown",
    "monte_carlo_estimates",
    "monte_carlo_pnl",
    "monte_carlo_var",
    "option_vols",
    "parametric_es",
    "parametric_estimates",
    "parametric_from_sigma_w",
    "parametric_var",
    "portfolio_sigma",
    "price_history",
    "returns_covariance",
    "returns_window",
    "risk_free_rate",
    "risk_ratios",
    "rolling_var_backtest",
    "scale_var",
    "scenario_pnl_full_revaluation",
    "sharpe_ratio",
    "simulate_normal_returns",
    "simulated_portfolio_pnl",
    "sortino_ratio",
    "spot_prices",
    "var_backtest",
]
