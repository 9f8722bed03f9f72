"""Factor and rate betas of many sessions' estimation windows in one pass (the time series' stress step).

For every session e of a range, the estimation window is the ``window`` daily return rows ending on e — what
``factors.multivariate_betas`` and ``rates.interest_rate_betas`` see when they are called on the price window
of that session alone. This module computes the same coefficients for all sessions at once:

* **Orthogonal multivariate betas** (model: ``factors.multivariate_betas``). In a window with complete factor
  returns the design [1, SPY, style⊥…] is orthogonal by construction: each style⊥ is the residual of its ETF
  on the intercept, SPY and the earlier styles, so it is orthogonal to all of them. The normal equations
  therefore decouple, and for a position with complete returns in the window

      β_Market = Σ (y − ȳ)(SPY − mean SPY) / Σ (SPY − mean SPY)²,   β_s = Σ y · style⊥_s / Σ (style⊥_s)²,

  and the loadings of ``factors.orthogonalise_factors`` follow from the same two formulas applied to each
  ETF. These are the ``numpy.linalg.lstsq`` solutions of the per-window engine (equal to rounding, ≈ 1e-13
  relative), as one ``einsum`` over sessions × positions.
* **Rate betas** (model: ``rates.interest_rate_betas``, regression 1): β = Σ (y − ȳ)(Δbp − mean Δbp) /
  Σ (Δbp − mean Δbp)², Δbp = daily ^TNX change × 100 (decimal return per basis point).

A position with a missing return in a session's window, a window with a missing factor/yield change, a
constant return series (the per-window engine calls it degenerate: NaN) or a rank-deficient factor design
is solved by the per-window engine itself, on exactly the frame it would get alone. So every session's
betas depend only on its own window, whatever range it is computed in.

Units: returns are daily simple decimals; betas dimensionless (rate betas per bp). Pure numpy/pandas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from sigmasight_onboarding.analytics.factors import FACTOR_ETFS, ORTHOGONALISATION_ORDER, betas_wide, multivariate_betas
from sigmasight_onboarding.analytics.rates import interest_rate_betas
from sigmasight_onboarding.analytics.returns import session_index

#: A style residual this small relative to its ETF's centred variation means a rank-deficient design.
_RANK_TOL = 1e-20
#: The per-window engine's "constant response" threshold (``factors.masked_ols``: SST ≤ 1e-28).
_CONSTANT_SST = 1e-28
#: Sessions per chunk are chosen so one chunk's windows stay under this many float64 cells.
_CHUNK_CELLS = 20_000_000


@dataclass(frozen=True)
class RollingStressBetas:
    """Per-session betas of `rolling_stress_betas` (session k = the k-th session asked for).

    betas: sessions × symbols × factors, dimensionless (decimal return per decimal factor return; factors in
    ``FACTOR_ETFS`` order: Market on SPY, then the orthogonal styles); NaN where the per-window engine gives NaN
    (too few observations, constant returns). rate_betas: sessions × symbols, decimal return per basis point of
    ^TNX. loadings: sessions × factors × factors, ``orthogonalise_factors``' loadings (row style, column the
    factor it loads on). factors / symbols: the labels of those axes.
    """

    betas: np.ndarray
    rate_betas: np.ndarray
    loadings: np.ndarray
    factors: list[str]
    symbols: list[str]


def _windows(values: np.ndarray, ends: np.ndarray, window: int) -> np.ndarray:
    """sessions × window × columns copy of the rows (ends − window, ends] of a rows × columns array."""
    view = sliding_window_view(values, window, axis=0)  # (rows − window + 1) × columns × window
    return np.swapaxes(view[ends - window + 1], 1, 2)


def _chunks(n_sessions: int, n_columns: int, window: int):
    step = max(1, _CHUNK_CELLS // max(1, n_columns * window))
    for start in range(0, n_sessions, step):
        yield slice(start, min(n_sessions, start + step))


def rolling_stress_betas(
    returns: pd.DataFrame,
    symbols: list[str],
    tnx_percent: pd.Series,
    sessions,
    window: int = 252,
    min_obs: int = 60,
) -> RollingStressBetas:
    """Multivariate and rate betas of ``symbols`` for every session in ``sessions``, each from its own window.

    returns: date × symbol daily simple returns (``returns.simple_returns`` of the price matrix) holding
    ``symbols``, the factor ETFs (``FACTOR_ETFS``) and TLT; tnx_percent: the ^TNX level (percent) on the
    price rows (index = the price dates: the date before ``returns``' first row, then every returns date); sessions: dates of
    ``returns``' index, each with at least ``window`` rows up to it.

    Returns a `RollingStressBetas` (one entry per session, in the order of ``sessions``).
    """
    factors = list(FACTOR_ETFS)
    if factors != ORTHOGONALISATION_ORDER:
        raise ValueError("the closed form assumes the orthogonalisation order is the factor order")
    etfs = [FACTOR_ETFS[f] for f in factors]
    index = session_index(returns.index)
    ends = index.get_indexer(session_index(list(sessions)))
    if (ends < 0).any() or (ends < window - 1).any():
        raise ValueError("every session needs `window` return rows up to it")
    y_all = returns[symbols].to_numpy(dtype=float)
    e_all = returns[etfs].to_numpy(dtype=float)
    tnx = tnx_percent.to_numpy(dtype=float)
    if len(tnx) != len(returns) + 1:
        raise ValueError("tnx_percent must hold the price rows (one more than the returns)")
    dbp_all = (tnx[1:] - tnx[:-1]) * 100.0  # analytics.returns.yield_changes_bp, on the returns dates

    n_s, n_y, n_f = len(ends), len(symbols), len(factors)
    betas = np.full((n_s, n_y, n_f), np.nan)
    rate_betas = np.full((n_s, n_y), np.nan)
    loadings = np.zeros((n_s, n_f, n_f))
    fallback_factor: dict[int, np.ndarray] = {}  # session → symbol columns the per-window engine must solve
    fallback_rate: dict[int, np.ndarray] = {}

    for part in _chunks(n_s, n_y + n_f + 1, window):
        e_idx = ends[part]
        ew = _windows(e_all, e_idx, window)  # s × w × f
        yw = _windows(y_all, e_idx, window)  # s × w × n
        dw = _windows(dbp_all[:, None], e_idx, window)[:, :, 0]  # s × w
        y_complete = np.isfinite(yw).all(axis=1)  # s × n
        yc = yw - yw.mean(axis=1, keepdims=True)
        sst = np.einsum("swn,swn->sn", yc, yc)
        constant = sst <= _CONSTANT_SST

        # factor model: Gram–Schmidt with intercept, vectorised over the chunk's sessions
        f_ok = np.isfinite(ew).all(axis=(1, 2))
        regs = np.zeros_like(ew)
        ec = ew - ew.mean(axis=1, keepdims=True)
        regs[:, :, 0] = ec[:, :, 0]
        norms = np.empty((ew.shape[0], n_f))
        norms[:, 0] = np.einsum("sw,sw->s", ec[:, :, 0], ec[:, :, 0])
        load = np.zeros((ew.shape[0], n_f, n_f))
        rank_ok = norms[:, 0] > 0
        for j in range(1, n_f):
            resid = ec[:, :, j].copy()
            for u in range(j):
                c = np.einsum("sw,sw->s", ec[:, :, j], regs[:, :, u]) / np.where(norms[:, u] > 0, norms[:, u], np.nan)
                load[:, j, u] = c
                resid -= c[:, None] * regs[:, :, u]
            regs[:, :, j] = resid
            norms[:, j] = np.einsum("sw,sw->s", resid, resid)
            rank_ok &= norms[:, j] > _RANK_TOL * np.einsum("sw,sw->s", ec[:, :, j], ec[:, :, j])
        with np.errstate(invalid="ignore", divide="ignore"):
            b = np.einsum("swn,swf->snf", yc, regs) / norms[:, None, :]
        closed = (f_ok & rank_ok)[:, None] & y_complete & ~constant
        betas[part] = np.where(closed[:, :, None], b, np.nan)
        loadings[part] = load

        # rate betas
        d_ok = np.isfinite(dw).all(axis=1)
        dc = dw - dw.mean(axis=1, keepdims=True)
        dd = np.einsum("sw,sw->s", dc, dc)
        with np.errstate(invalid="ignore", divide="ignore"):
            rb = np.einsum("swn,sw->sn", yc, dc) / dd[:, None]
        closed_rate = (d_ok & (dd > 0))[:, None] & y_complete & ~constant
        rate_betas[part] = np.where(closed_rate, rb, np.nan)

        for k, s in enumerate(range(part.start, part.stop)):
            if not (f_ok[k] and rank_ok[k]):
                fallback_factor[s] = np.arange(n_y)
            elif (~y_complete[k]).any():
                fallback_factor[s] = np.flatnonzero(~y_complete[k])
            if not (d_ok[k] and dd[k] > 0):
                fallback_rate[s] = np.arange(n_y)
            elif (~y_complete[k]).any():
                fallback_rate[s] = np.flatnonzero(~y_complete[k])

    # the per-window engines, on exactly the frames a session alone would give them
    for s in sorted(set(fallback_factor) | set(fallback_rate)):
        rows = slice(ends[s] - window + 1, ends[s] + 1)
        if s in fallback_factor:
            cols = [symbols[j] for j in fallback_factor[s]]
            long, diag = multivariate_betas(returns.iloc[rows][cols], returns.iloc[rows][etfs], window=window, min_obs=min_obs,
                                            diagnostics=False)
            wide = betas_wide(long).reindex(index=cols, columns=factors)
            betas[s][fallback_factor[s]] = wide.to_numpy(dtype=float)
            loadings[s] = diag.loadings.reindex(index=factors, columns=factors).to_numpy(dtype=float)
        if s in fallback_rate:
            cols = [symbols[j] for j in fallback_rate[s]]
            tnx_rows = tnx_percent.iloc[ends[s] - window + 1: ends[s] + 2]  # the price rows behind the window's changes
            rb = interest_rate_betas(returns.iloc[rows][cols], tnx_rows, returns.iloc[rows]["TLT"], window=window, min_obs=min_obs)
            rate_betas[s][fallback_rate[s]] = rb["rate_beta"].reindex(cols).to_numpy(dtype=float)
    return RollingStressBetas(betas=betas, rate_betas=rate_betas, loadings=loadings, factors=factors, symbols=list(symbols))
