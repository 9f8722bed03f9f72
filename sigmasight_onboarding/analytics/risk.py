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

Performance: compute_risk_metrics prepares and values the positions once, builds the historical
and Monte Carlo P&L on numpy arrays with one price-only Black–Scholes call per grid, and the
back-test's rolling VaR is one vectorised quantile over a sliding-window view (NaN windows apart).

Pure computation: numpy/scipy, pandas for labelled input/output. No Dagster, no database.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from scipy import special

from sigmasight_onboarding.analytics.snapshots import (
    DAYS_PER_YEAR,
    Pricer,
    _lookup,
    _valuation_arrays,
    option_prices,
    prepare_positions,
)
from sigmasight_onboarding.domain import RISK_FREE_RATE_FALLBACK

TRADING_DAYS = 252
MIN_OBSERVATIONS = 60
QUALITY_OK = "ok"
QUALITY_LIMITED = "limited_history"
QUALITY_MISSING_PRICES = "missing_prices"
QUALITY_EMPTY = "empty_portfolio"


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
    """0.95 → '95', 0.975 → '975', 0.99 → '99' (used in result keys)."""
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
    """Historical VaR (positive dollar loss): VaR_c = −quantile(pnl, 1 − c), numpy 'linear' method.

    pnl: dollar P&L per scenario (gain > 0); NaNs ignored. Negative only if even the (1 − c)
    quantile is a gain. NaN for an empty vector.
    """
    c = _check_confidence(confidence)
    x = _finite(pnl)
    if x.size == 0:
        return float("nan")
    return float(-np.quantile(x, 1.0 - c))


def historical_es(pnl: Any, confidence: float) -> float:
    """Historical expected shortfall (positive dollar loss): ES_c = −mean{pnl_i : pnl_i ≤ −VaR_c}.

    VaR_c as in `historical_var` (linear quantile); the tail set is never empty since the quantile
    is ≥ min(pnl). NaNs ignored.
    """
    c = _check_confidence(confidence)
    x = _finite(pnl)
    if x.size == 0:
        return float("nan")
    q = np.quantile(x, 1.0 - c)
    return float(-x[x <= q].mean())


def historical_var_contributions(scenario_pnl: pd.DataFrame | np.ndarray, confidence: float) -> pd.Series | np.ndarray:
    """Component historical VaR per position (dollars) that sums exactly to `historical_var`.

    scenario_pnl: scenarios × positions dollar P&L. With the portfolio P&L sorted ascending and the
    linear quantile at rank h = (n − 1)(1 − c), j = ⌊h⌋, g = h − j, the portfolio quantile is
    (1 − g)·P_(j) + g·P_(j+1); each position's contribution is −[(1 − g)·x_(j) + g·x_(j+1)] using the
    same two scenarios. Rows with NaN are dropped.
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
    """P&L matrix (scenarios × positions, dollars) of today's positions under return scenarios.

    scenario_returns: scenarios × symbols simple decimal returns (historical days or simulated
    paths); a DataFrame's columns are the symbols, an ndarray needs `symbols`. Each scenario applies
    return r_u to today's spot S_u of every price symbol u.
      stocks: P&L = mv × r, mv = quantity × S (dollars; linear, no floor),
      options: P&L = quantity × 100 × [BS(S(1 + r), K, T − h/365, rate, σ, q) − BS(S, K, T, rate, σ, q)]
        — full revaluation at the shocked spot, same vol and rate, time to expiry shortened by the
        horizon (`horizon_days` calendar days, default 1; T floored at 0 → intrinsic); today's leg is
        the model price so a zero return with h = 0 gives zero P&L. Shocked spot floored at 1e-12·S.
    spots: today's prices ($) per price symbol; rate: decimal annualised; vols: decimal annualised
    per option underlying. Vectorised: one pricer call on the (scenarios × options) grid.
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
    valued = _valuation_arrays(pos, spots, as_of, rate, vols, dividend_yields, pricer)  # value_positions' numbers
    reval = _Revaluation(pos, valued, rate, dividend_yields, horizon_days, pricer)
    return pd.DataFrame(reval.pnl(r), index=ret_df.index, columns=pos.index)


class _Revaluation:
    """Per-position constants of `scenario_pnl_full_revaluation`, reusable for many return grids.

    valued: the `snapshots._valuation_arrays` of the (prepared) positions today (spot, unit_price,
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
            self.q = _lookup(dividend_yields, und, "dividend_yield", default=0.0)[None, :]
            self.s0 = np.asarray(valued["spot"], dtype=float)[m][None, :]
            self.k = pos["strike"].to_numpy(dtype=float)[m][None, :]
            self.call = pos["is_call"].to_numpy(dtype=bool)[m][None, :]
            self.base = np.asarray(valued["unit_price"], dtype=float)[m][None, :]
            self.scale = (pos["quantity"].to_numpy(float) * pos["multiplier"].to_numpy(float))[m][None, :]

    def pnl(self, r: np.ndarray) -> np.ndarray:
        pnl = self.mv[None, :] * r
        if self.has_options:
            s1 = self.s0 * np.maximum(1.0 + r[:, self.is_opt], 1e-12)
            shocked = option_prices(self.pricer, s1, self.k, self.t1, self.rate, self.v, self.q, self.call)
            pnl[:, self.is_opt] = self.scale * (shocked - self.base)
        return pnl


# --------------------------------------------------------------------------------------------
# parametric (delta-normal) and Monte Carlo
# --------------------------------------------------------------------------------------------


def portfolio_sigma(exposures: Any, cov: Any) -> float:
    """1-day P&L standard deviation in dollars: σ_p = sqrt(wᵀ Σ w).

    exposures w: dollar delta per underlying; cov Σ: daily simple-return covariance (not annualised).
    """
    w, sigma, _ = _align(exposures, cov)
    return float(np.sqrt(max(w @ sigma @ w, 0.0)))


def parametric_var(exposures: Any, cov: Any, confidence: float) -> float:
    """Delta-normal 1-day VaR (positive dollars): VaR_c = z_c × sqrt(wᵀ Σ w), z_c = Φ⁻¹(c).

    Zero mean P&L assumed. w = dollar delta per underlying, Σ = daily simple-return covariance.
    """
    c = _check_confidence(confidence)
    return float(_norm_ppf(c) * portfolio_sigma(exposures, cov))


def parametric_es(exposures: Any, cov: Any, confidence: float) -> float:
    """Delta-normal 1-day ES (positive dollars): ES_c = σ_p × φ(z_c) / (1 − c), zero mean."""
    c = _check_confidence(confidence)
    return float(portfolio_sigma(exposures, cov) * _norm_pdf(_norm_ppf(c)) / (1.0 - c))


def euler_contributions(exposures: Any, cov: Any, confidence: float) -> pd.Series | np.ndarray:
    """Component (Euler) parametric VaR per underlying, dollars: c_i = z_c × w_i (Σ w)_i / σ_p.

    Σ_i c_i = z_c σ_p = parametric_var exactly. Zeros when σ_p = 0. Labelled like `exposures`.
    """
    c = _check_confidence(confidence)
    w, sigma, labels = _align(exposures, cov)
    sp = float(np.sqrt(max(w @ sigma @ w, 0.0)))
    contrib = np.zeros_like(w) if sp == 0.0 else _norm_ppf(c) * w * (sigma @ w) / sp
    return pd.Series(contrib, index=labels, name="component_var") if labels is not None else contrib


def cholesky_factor(cov: Any) -> np.ndarray:
    """Lower factor L with L Lᵀ = Σ: Cholesky, or for a non positive-definite Σ the eigen factor
    V·diag(sqrt(max(λ, 0))) (negative eigenvalues clipped to 0)."""
    sigma = np.asarray(cov, dtype=float)
    sigma = 0.5 * (sigma + sigma.T)
    try:
        return np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(sigma)
        return vecs * np.sqrt(np.clip(vals, 0.0, None))[None, :]


_DRAWS: dict[tuple, np.ndarray] = {}


def standard_normal_draws(n_paths: int, k: int, seed: int | None) -> np.ndarray:
    """n_paths × k iid N(0, 1) draws of ``default_rng(seed)`` — cached per (n_paths, k, seed), read-only.

    A seeded session's draws depend only on (n_paths, k, seed), so the sessions of a range run share
    them and get exactly the numbers they would get alone.
    """
    if seed is None:
        return np.random.default_rng().standard_normal((int(n_paths), int(k)))
    key = (int(n_paths), int(k), int(seed))
    z = _DRAWS.get(key)
    if z is None:
        if len(_DRAWS) >= 8:
            _DRAWS.pop(next(iter(_DRAWS)))
        z = np.random.default_rng(seed).standard_normal(key[:2])
        z.setflags(write=False)
        _DRAWS[key] = z
    return z


def simulate_normal_returns(cov: Any, n_paths: int = 10_000, seed: int | None = 42) -> np.ndarray:
    """n_paths × k draws of daily simple returns ~ N(0, Σ) (seeded, R = Z Lᵀ, Z iid standard normal)."""
    L = cholesky_factor(cov)
    return standard_normal_draws(n_paths, L.shape[0], seed) @ L.T


def monte_carlo_pnl(
    cov: Any,
    exposures: Any = None,
    revalue: Callable[[pd.DataFrame], Any] | None = None,
    n_paths: int = 10_000,
    seed: int | None = 42,
) -> np.ndarray:
    """Simulated 1-day portfolio P&L (dollars) for `n_paths` ≥ 10 000 multivariate-normal paths.

    Returns R ~ N(0, Σ) (Σ daily simple-return covariance). Linear: P&L = R w (w = dollar exposures).
    Full revaluation: `revalue(R_df)` with R_df a paths × symbols DataFrame (symbols = cov labels)
    returning per-path P&L, or paths × positions P&L (summed across positions), e.g.
    ``lambda R: scenario_pnl_full_revaluation(positions, spots, R, as_of, rate, vols)``.
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
    """Monte Carlo 1-day VaR and ES (positive dollars) from `monte_carlo_pnl` (see there).

    VaR = −quantile(simulated P&L, 1 − c) (numpy linear), ES = −mean(P&L ≤ −VaR).
    Returns {"var", "es", "n_paths"}.
    """
    pnl = monte_carlo_pnl(cov, exposures=exposures, revalue=revalue, n_paths=n_paths, seed=seed)
    return {"var": historical_var(pnl, confidence), "es": historical_es(pnl, confidence), "n_paths": int(n_paths)}


def scale_var(var_1d: float, horizon_days: float = 10.0) -> float:
    """h-day VaR by the square-root-of-time rule: VaR_h = VaR_1d × √h (i.i.d. zero-mean returns)."""
    return float(var_1d) * math.sqrt(horizon_days)


# --------------------------------------------------------------------------------------------
# performance / risk ratios
# --------------------------------------------------------------------------------------------


def annualised_volatility(returns: Any) -> float:
    """Annualised volatility (decimal) = √252 × std(daily returns, ddof=1); NaNs ignored."""
    x = _finite(returns)
    return float(np.sqrt(TRADING_DAYS) * x.std(ddof=1)) if x.size > 1 else float("nan")


def beta(returns: Any, benchmark_returns: Any) -> float:
    """OLS slope (with intercept) of daily returns on benchmark returns: β = cov(r, b) / var(b).

    Only dates where both are finite are used (pass aligned Series/arrays).
    """
    r = np.asarray(returns, dtype=float).ravel()
    b = np.asarray(benchmark_returns, dtype=float).ravel()
    ok = np.isfinite(r) & np.isfinite(b)
    r, b = r[ok], b[ok]
    if r.size < 2 or b.var() == 0:
        return float("nan")
    return float(((r - r.mean()) * (b - b.mean())).sum() / ((b - b.mean()) ** 2).sum())


def max_drawdown(values: Any) -> float:
    """Maximum drawdown (decimal, ≥ 0): max_t (1 − V_t / max_{s≤t} V_s) of a positive value series.

    0 for a never-falling series; NaN if the series is empty or its running peak is ≤ 0.
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
    """Annualised Sharpe = √252 × mean(r − rf) / std(r − rf, ddof=1).

    returns: daily decimal; rf_daily: daily decimal risk-free (e.g. ^IRX% / 100 / 252), scalar or aligned.
    """
    ex = _excess(returns, rf_daily)
    if ex.size < 2:
        return float("nan")
    sd = ex.std(ddof=1)
    return float(np.sqrt(TRADING_DAYS) * ex.mean() / sd) if sd > 0 else float("nan")


def sortino_ratio(returns: Any, rf_daily: Any = 0.0) -> float:
    """Annualised Sortino = √252 × mean(r − rf) / DD, DD = sqrt(mean(min(r − rf, 0)²)) over ALL days.

    Target return = rf. NaN when there is no downside (DD = 0).
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
    """Kupiec proportion-of-failures test → (LR statistic, p-value), LR ~ χ²(1) under H0.

    p = 1 − c (expected exceedance rate), x exceedances in n observations, π̂ = x / n:
    LR = −2 [ (n − x) ln(1 − p) + x ln p − (n − x) ln(1 − π̂) − x ln π̂ ], with 0·ln 0 = 0
    (so x = 0 gives LR = −2 n ln(1 − p); x = n gives LR = −2 n ln p). p-value = 1 − F_χ²(1)(LR).
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

    pnl: chronological daily dollar P&L (e.g. today's portfolio under each historical day's returns).
    For each of the last n_test = min(test_sessions, n − min_window) days t, VaR_t = historical_var
    of pnl[max(0, t − window) : t] (strictly prior data: up to `window` days, fewer when less
    history is available). An exceedance is pnl_t < −VaR_t. Per confidence (label L, e.g. '99'):
    exceedances_L, expected_exceedances_L = n_test (1 − c), exceedance_rate_L, kupiec_lr_L,
    kupiec_p_L. Also n_test, window, and `series` (DataFrame: pnl, var_L, exceed_L per test day).
    n_test ≤ 0 → counts None.
    """
    labels = pnl.index if isinstance(pnl, pd.Series) else None
    x = np.asarray(pnl, dtype=float).ravel()
    out, arrays = _var_backtest_arrays(x, confidences, window, test_sessions, min_window)
    if arrays is None:
        out["series"] = None
        return out
    test_idx, var_by_label = arrays
    series = pd.DataFrame({"pnl": x[test_idx]}, index=None if labels is None else labels[test_idx])
    for lab, var_t in var_by_label.items():
        series[f"var_{lab}"] = var_t
        series[f"exceed_{lab}"] = x[test_idx] < -var_t
    out["series"] = series
    return out


def _rolling_nanquantiles(x: np.ndarray, start: int, window: int, probs: Sequence[float]) -> np.ndarray:
    """len(probs) × (n − start) array: for t = start … n − 1 the numpy 'linear' quantiles of the
    NaN-free values of x[max(0, t − window) : t] (strictly prior data) — ``numpy.nanquantile`` of
    each window; NaN for a window without data.

    Fast path: every window that is complete (t ≥ window) and NaN-free is one row of a
    ``sliding_window_view`` and all of them go through one ``numpy.quantile(axis=-1)`` call (the
    same order statistics and interpolation as a per-window call, so identical floats); windows
    that are shorter or contain NaN are done one by one on their non-NaN values.
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
    for i in np.flatnonzero(~fast):
        w = x[lo[i]: t[i]]
        w = w[~np.isnan(w)]
        if w.size:
            out[:, i] = np.quantile(w, probs)
    return out


def _var_backtest_arrays(
    x: np.ndarray,
    confidences: Sequence[float],
    window: int,
    test_sessions: int,
    min_window: int,
) -> tuple[dict[str, Any], tuple[np.ndarray, dict[str, np.ndarray]] | None]:
    """`var_backtest` numbers without the `series` frame: (result dict, (test indexes, {label: VaR_t}))."""
    n = x.size
    n_test = min(int(test_sessions), n - int(min_window))
    out: dict[str, Any] = {"n_test": max(n_test, 0), "window": int(window)}
    if n_test <= 0:
        for c in confidences:
            lab = confidence_label(c)
            for key in ("exceedances", "expected_exceedances", "exceedance_rate", "kupiec_lr", "kupiec_p"):
                out[f"{key}_{lab}"] = None
        return out, None
    cs = [_check_confidence(c) for c in confidences]
    test_idx = np.arange(n - n_test, n)
    quantiles = _rolling_nanquantiles(x, n - n_test, int(window), [1.0 - c for c in cs])
    x_test = x[test_idx]
    var_by_label: dict[str, np.ndarray] = {}
    for c, qrow in zip(cs, quantiles):
        lab = confidence_label(c)
        var_t = -qrow
        exceed = x_test < -var_t
        k = int(exceed.sum())
        lr, pv = kupiec_pof(k, n_test, c)
        out[f"exceedances_{lab}"] = k
        out[f"expected_exceedances_{lab}"] = n_test * (1.0 - c)
        out[f"exceedance_rate_{lab}"] = k / n_test
        out[f"kupiec_lr_{lab}"] = lr
        out[f"kupiec_p_{lab}"] = pv
        var_by_label[lab] = var_t
    return out, (test_idx, var_by_label)


# --------------------------------------------------------------------------------------------
# one-call metrics
# --------------------------------------------------------------------------------------------


def _none_if_nan(x: Any) -> Any:
    if x is None:
        return None
    if isinstance(x, (float, np.floating)):
        return None if not np.isfinite(x) else float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    return x


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
) -> dict[str, Any]:
    """All portfolio risk metrics for the positions held on `as_of` (default: last price date).

    positions: positions table (see analytics.snapshots; held when entry_date ≤ as_of if the column
    exists; options that expired before as_of are excluded — they carry no risk).
    prices: date × symbol matrix, dollars; `rf_symbol` (^IRX) in percent.
    vols: decimal annualised per option underlying (default: greeks.realised_volatility, 63 days).
    rate: decimal annualised (default ^IRX on as_of / 100, else 0).

    Method: returns = simple daily returns of the held price symbols over the last `lookback`
    sessions up to as_of; days with any missing return are dropped (n_observations counts the rest).
    Scenario P&L = scenario_pnl_full_revaluation (stocks linear, options full BS revaluation with
    T − 1 day). Portfolio daily return r_t = P&L_t / today's gross exposure; the reconstructed value
    series is the index Π(1 + r_t) of a constant-gross book; its max drawdown is reported.

    Keys (dollars unless stated; VaR/ES positive losses, 1-day unless `_10d`):
      as_of, quality_flag ('ok' | 'limited_history' | 'missing_prices' | 'empty_portfolio'),
      n_observations, lookback, missing_symbols, rate, net_value, gross_exposure,
      var_{95,99}_historical, es_{95,975,99}_historical, var_{95,99}_parametric,
      es_{95,975,99}_parametric, var_{95,99}_monte_carlo, es_{95,975,99}_monte_carlo,
      var_{95,99}_{historical,parametric,monte_carlo}_10d (= 1-day × √10),
      portfolio_sigma_1d ($), exposures ({underlying: dollar delta}),
      component_var_{95,99}_parametric ({underlying: $}), component_var_{95,99}_historical
      ({position id: $}), annualised_volatility (decimal), beta_<benchmark>, max_drawdown (decimal,
      positive), sharpe_ratio, sortino_ratio (annualised; rf_daily = ^IRX_{t−1}/100/252),
      backtest (var_backtest dict without 'series', over up to `backtest_sessions` days before as_of,
      using the P&L of today's positions on each historical day).
    With fewer than `min_observations` usable days every metric is None (quality_flag
    'limited_history'); with a missing price for a held symbol on as_of, 'missing_prices'.
    """
    px = prices.copy()
    px.index = pd.DatetimeIndex(pd.to_datetime(px.index)).normalize()
    px = px.sort_index()
    as_of_ts = px.index[-1] if as_of is None else pd.Timestamp(as_of).normalize()
    hist = px.loc[:as_of_ts]
    pos = prepare_positions(positions)
    if "entry_date" in pos.columns:
        held = ~(pd.to_datetime(pos["entry_date"]).dt.normalize() > as_of_ts).to_numpy()
        if not held.all():
            pos = pos.loc[held]
    if pos["is_option"].any():
        exp = pd.to_datetime(pos["expiration_date"]).dt.normalize()
        alive = ~(pos["is_option"] & (exp < as_of_ts)).to_numpy()
        if not alive.all():
            pos = pos.loc[alive]

    metric_keys: list[str] = []
    for kind in ("historical", "parametric", "monte_carlo"):
        metric_keys += [f"var_{confidence_label(c)}_{kind}" for c in confidences]
        metric_keys += [f"es_{confidence_label(c)}_{kind}" for c in es_confidences]
        metric_keys += [f"var_{confidence_label(c)}_{kind}_10d" for c in confidences]
    metric_keys += [f"component_var_{confidence_label(c)}_{k}" for c in confidences for k in ("parametric", "historical")]
    metric_keys += ["portfolio_sigma_1d", "exposures", "annualised_volatility", f"beta_{benchmark}", "max_drawdown",
                    "sharpe_ratio", "sortino_ratio", "backtest"]
    result: dict[str, Any] = {
        "as_of": as_of_ts.date(),
        "quality_flag": QUALITY_OK,
        "n_observations": 0,
        "lookback": int(lookback),
        "missing_symbols": [],
        "rate": None,
        "net_value": None,
        "gross_exposure": None,
        **{k: None for k in metric_keys},
    }
    if len(pos) == 0:
        result["quality_flag"] = QUALITY_EMPTY
        return result
    if len(hist) == 0 or hist.index[-1] != as_of_ts:
        result["quality_flag"] = QUALITY_MISSING_PRICES
        result["missing_symbols"] = sorted(set(pos["price_symbol"]))
        return result

    symbols = list(dict.fromkeys(pos["price_symbol"].tolist()))
    today = hist.iloc[-1].reindex(symbols)
    missing = sorted(today.index[~np.isfinite(today.to_numpy(float))])
    if missing:
        result["quality_flag"] = QUALITY_MISSING_PRICES
        result["missing_symbols"] = missing
        return result
    spots = today.astype(float)

    if rate is None:
        irx = hist[rf_symbol].iloc[-1] if rf_symbol in hist.columns else np.nan
        rate = float(irx) / 100.0 if np.isfinite(irx) else RISK_FREE_RATE_FALLBACK
    result["rate"] = float(rate)
    opt_und = sorted(set(pos.loc[pos["is_option"], "price_symbol"]))
    if opt_und and vols is None:
        from sigmasight_onboarding.analytics.greeks import realised_volatility

        vols = realised_volatility(hist[opt_und]).to_dict()
    if opt_und:
        vol_vec = _lookup(vols, opt_und, "vol", default=np.nan)
        if not np.isfinite(vol_vec).all():
            result["quality_flag"] = QUALITY_LIMITED
            result["missing_symbols"] = [u for u, v in zip(opt_und, vol_vec) if not np.isfinite(v)]
            return result

    valued = _valuation_arrays(pos, spots, as_of_ts, rate, vols, dividend_yields, pricer)
    mv = valued["market_value"]
    gross = float(np.abs(mv).sum())
    result["net_value"] = float(mv.sum())
    result["gross_exposure"] = gross

    # returns: backtest history ⊇ VaR look-back (numpy from here on; columns = symbols + extra)
    n_hist = int(lookback) + int(backtest_sessions)
    extra = [s for s in (benchmark, rf_symbol) if s in hist.columns and s not in symbols]
    window_px = hist[symbols + extra].iloc[-(n_hist + 1):]
    wp = window_px.to_numpy(dtype=float)
    rets_all = wp[1:] / wp[:-1] - 1.0  # simple daily returns (analytics.returns.simple_returns)
    col = {c: j for j, c in enumerate(symbols + extra)}
    k_sym = len(symbols)
    rets_sym = rets_all[:, :k_sym]
    complete = np.isfinite(rets_sym).all(axis=1)
    in_lookback = np.zeros(len(rets_all), dtype=bool)
    in_lookback[-int(lookback):] = True
    use = complete & in_lookback
    n_obs = int(use.sum())
    result["n_observations"] = n_obs
    if n_obs < min_observations or gross == 0.0:
        result["quality_flag"] = QUALITY_LIMITED if n_obs < min_observations else QUALITY_EMPTY
        return result

    # full-revaluation P&L of today's positions under each complete historical day
    rets = rets_sym[complete]  # n_c × symbols
    sym_idx = np.array([col[s] for s in pos["price_symbol"].tolist()], dtype=np.intp)  # position → symbol column
    reval = _Revaluation(pos, valued, rate, dividend_yields, 1.0, pricer)
    pnl_all = reval.pnl(rets[:, sym_idx])  # n_c × positions
    use_c = use[complete]
    pnl_mat = pnl_all[use_c]
    port_pnl = pnl_mat.sum(axis=1)

    # exposures and covariance over the same days (DataFrame.cov of NaN-free data is numpy.cov)
    exposures = np.bincount(sym_idx, weights=valued["dollar_delta"], minlength=k_sym)[:k_sym]
    cov = np.cov(rets[use_c].T, ddof=1).reshape(k_sym, k_sym)
    sig = portfolio_sigma(exposures, cov)
    result["portfolio_sigma_1d"] = sig
    result["exposures"] = {k: float(v) for k, v in zip(symbols, exposures)}

    if reval.has_options:
        if n_paths < 10_000:
            raise ValueError(f"n_paths must be ≥ 10000, got {n_paths}")
        sims = simulate_normal_returns(cov, n_paths, seed)  # paths × symbols
        mc = reval.pnl(sims[:, sym_idx]).sum(axis=1)
    else:
        mc = monte_carlo_pnl(cov, exposures=exposures, n_paths=n_paths, seed=seed)
    z10 = math.sqrt(10.0)
    pos_ids = list(pos.index)
    for c in confidences:
        lab = confidence_label(c)
        for kind, var in (
            ("historical", historical_var(port_pnl, c)),
            ("parametric", parametric_var(exposures, cov, c)),
            ("monte_carlo", historical_var(mc, c)),
        ):
            result[f"var_{lab}_{kind}"] = var
            result[f"var_{lab}_{kind}_10d"] = var * z10
        result[f"component_var_{lab}_parametric"] = {k: float(v) for k, v in zip(symbols, euler_contributions(exposures, cov, c))}
        result[f"component_var_{lab}_historical"] = {str(k): float(v) for k, v in zip(pos_ids, historical_var_contributions(pnl_mat, c))}
    for c in es_confidences:
        lab = confidence_label(c)
        result[f"es_{lab}_historical"] = historical_es(port_pnl, c)
        result[f"es_{lab}_parametric"] = parametric_es(exposures, cov, c)
        result[f"es_{lab}_monte_carlo"] = historical_es(mc, c)

    port_ret = port_pnl / gross
    result["annualised_volatility"] = annualised_volatility(port_ret)
    if benchmark in col:
        bench = rets_all[complete, col[benchmark]][use_c]
        result[f"beta_{benchmark}"] = beta(port_ret, bench)
    result["max_drawdown"] = max_drawdown(np.concatenate([[1.0], np.cumprod(1.0 + port_ret)]))
    if rf_symbol in col:
        rf_prev = wp[:-1, col[rf_symbol]] / 100.0 / TRADING_DAYS  # ^IRX of the previous session, decimal daily
        rf_daily = rf_prev[complete][use_c]
        rf_daily = np.where(np.isnan(rf_daily), 0.0, rf_daily)
    else:
        rf_daily = 0.0
    result["sharpe_ratio"] = sharpe_ratio(port_ret, np.asarray(rf_daily))
    result["sortino_ratio"] = sortino_ratio(port_ret, np.asarray(rf_daily))

    bt, _ = _var_backtest_arrays(pnl_all.sum(axis=1), confidences, int(lookback), backtest_sessions, min_observations)
    result["backtest"] = {k: _none_if_nan(v) for k, v in bt.items()}
    return {k: _none_if_nan(v) for k, v in result.items()}


__all__ = [
    "annualised_volatility",
    "beta",
    "cholesky_factor",
    "compute_risk_metrics",
    "confidence_label",
    "euler_contributions",
    "historical_es",
    "historical_var",
    "historical_var_contributions",
    "kupiec_pof",
    "max_drawdown",
    "monte_carlo_pnl",
    "monte_carlo_var",
    "parametric_es",
    "parametric_var",
    "portfolio_sigma",
    "scale_var",
    "scenario_pnl_full_revaluation",
    "sharpe_ratio",
    "simulate_normal_returns",
    "sortino_ratio",
    "var_backtest",
]
