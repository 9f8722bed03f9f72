"""Equity factor betas (single-factor and multivariate) and portfolio factor exposure.

Conventions
-----------
* Returns are daily SIMPLE returns in decimals (``returns.simple_returns``), not annualised.
  ``asset_returns`` / ``factor_returns`` are date × symbol DataFrames (ascending dates).
* A beta is dimensionless: decimal asset return per decimal factor return. Alphas (intercepts) are
  daily decimal returns. Residual volatility is annualised with √252.
* Exposures are signed dollars (short positions negative); factor dollar exposure = Σ exposure × beta.

Estimation window: the two inputs are aligned on the dates they have in common and the last
``window`` of those dates are used.

Missing data (choice): every position gets the observations where both it and the regressor(s) are
present in the window — no forward-fill, no imputation. Positions that share an identical mask of
available observations are solved together in ONE ``numpy.linalg.lstsq`` call with multiple
right-hand sides (with complete data — the usual case — that is one call for all positions). The
number of observations is reported (``n_obs``) and flagged:

* ``full_history``          n_obs ≥ window
* ``limited_history``       min_obs ≤ n_obs < window (estimates reported)
* ``insufficient_history``  n_obs < min_obs (all estimates NaN)
* ``degenerate``            enough observations but a rank-deficient design / constant response
                            (estimates NaN)
* ``perfect_fit``           R² > 1 − ``PERFECT_FIT_TOL`` (zero residual variance) or |t| > ``MAX_ABS_T``:
                            the coefficients are kept, std_err and t_stat are NaN (stored NULL)

No clipping: betas with |beta| > ``extreme_threshold`` (default 3) keep their value and get
``extreme_beta`` = True.

No Dagster, no database: numpy/scipy, pandas only for labelled input/output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

TRADING_DAYS_PER_YEAR = 252

FACTOR_ETFS: dict[str, str] = {
    "Market": "SPY",
    "Value": "VTV",
    "Growth": "VUG",
    "Momentum": "MTUM",
    "Quality": "QUAL",
    "Size": "IWM",
    "Low Volatility": "USMV",
}
MARKET_FACTOR = "Market"
_ETF_TO_FACTOR = {v: k for k, v in FACTOR_ETFS.items()}

FLAG_FULL = "full_history"
FLAG_LIMITED = "limited_history"
FLAG_INSUFFICIENT = "insufficient_history"
FLAG_DEGENERATE = "degenerate"
FLAG_PERFECT_FIT = "perfect_fit"

#: A regression whose residual sum of squares is below this fraction of the (centred) total sum of squares
#: (R² > 1 − 1e-10: SPY on SPY, IWM on SPY + IWM⊥, an option on its own underlying) is a perfect fit:
#: the coefficients are kept (they are exact: 1.0, 0.0, …) but the standard errors and t-statistics are
#: numerical noise (1e13–1e16) and are stored as NULL with quality_flag ``perfect_fit``.
PERFECT_FIT_TOL = 1e-10
#: Any |t| above this is treated the same way (no meaningful sample produces it).
MAX_ABS_T = 1e6


# ----------------------------------------------------------------------------------------------
# Shared OLS engine (also used by rates.py)
# ----------------------------------------------------------------------------------------------
def masked_ols(x: np.ndarray, y: np.ndarray, min_obs: int, add_intercept: bool = True) -> dict[str, np.ndarray]:
    """OLS of every column of ``y`` (T × N) on the regressors ``x`` (T × k), with per-column masks.

    Model: y_i = a_i + X b_i + e_i (intercept prepended when ``add_intercept``), estimated on the rows
    where all of X and y_i are finite. Columns with identical row masks are solved together in one
    ``numpy.linalg.lstsq`` call (multiple right-hand sides). Classical (homoskedastic) standard
    errors: se = sqrt(diag((XᵀX)⁻¹) · SSR/(n − p)), with (XᵀX)⁻¹ = pinv(X) pinv(X)ᵀ as in statsmodels.
    r2 = 1 − SSR/SST (SST centred). ``resid_std`` = sqrt(SSR/(n − p)) (per observation, not annualised).

    Returns a dict of arrays: coef (p × N), se (p × N), t (p × N), r2 (N), resid_std (N), n_obs (N),
    degenerate (N, bool), perfect_fit (N, bool). Columns with n_obs < max(min_obs, p + 1) or degenerate are
    all-NaN. Perfect fits (SSR ≤ PERFECT_FIT_TOL · SST, or any |t| > MAX_ABS_T) keep coef and r2 (clipped to
    [0, 1]) but have NaN se and t: their standard errors are rounding noise.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    y = np.asarray(y, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    t_len, n_cols = y.shape
    design = np.column_stack([np.ones(t_len), x]) if add_intercept else x
    p = design.shape[1]

    mask = np.isfinite(design).all(axis=1)[:, None] & np.isfinite(y)
    n_obs = mask.sum(axis=0)
    coef = np.full((p, n_cols), np.nan)
    se = np.full((p, n_cols), np.nan)
    r2 = np.full(n_cols, np.nan)
    resid_std = np.full(n_cols, np.nan)
    degenerate = np.zeros(n_cols, dtype=bool)
    perfect = np.zeros(n_cols, dtype=bool)

    eligible = np.flatnonzero(n_obs >= max(min_obs, p + 1))
    if eligible.size:
        for rows, cols in _mask_groups(mask, eligible):  # one group per distinct availability mask, not per position
            xg = design[rows]
            yg = y[rows][:, cols]
            b, _, rank, _ = np.linalg.lstsq(xg, yg, rcond=None)
            resid = yg - xg @ b
            dof = xg.shape[0] - p
            ssr = np.einsum("ij,ij->j", resid, resid)
            centred = yg - yg.mean(axis=0) if add_intercept else yg
            sst = np.einsum("ij,ij->j", centred, centred)
            sigma2 = ssr / dof
            pinv = np.linalg.pinv(xg)
            xtx_inv_diag = np.einsum("ij,ij->i", pinv, pinv)
            bad = np.full(cols.size, rank < p) | (sst <= 1e-28)
            with np.errstate(divide="ignore", invalid="ignore"):
                r2_g = 1.0 - ssr / sst
            se_g = np.sqrt(xtx_inv_diag[:, None] * sigma2[None, :])
            with np.errstate(divide="ignore", invalid="ignore"):
                t_g = np.abs(b / se_g)
            perfect_g = ~bad & ((ssr <= PERFECT_FIT_TOL * sst) | (np.nan_to_num(t_g, nan=0.0, posinf=np.inf) > MAX_ABS_T).any(axis=0))
            se_g[:, perfect_g] = np.nan
            r2_g = np.where(perfect_g, np.clip(r2_g, 0.0, 1.0), r2_g)
            b[:, bad] = np.nan
            se_g[:, bad] = np.nan
            r2_g[bad] = np.nan
            coef[:, cols] = b
            se[:, cols] = se_g
            r2[cols] = r2_g
            resid_std[cols] = np.where(bad, np.nan, np.sqrt(sigma2))
            degenerate[cols] = bad
            perfect[cols] = perfect_g
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = coef / se
    return {"coef": coef, "se": se, "t": tstat, "r2": r2, "resid_std": resid_std, "n_obs": n_obs, "degenerate": degenerate,
            "perfect_fit": perfect}


def _mask_groups(mask: np.ndarray, columns: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Group `columns` of the T × N boolean `mask` by identical availability: [(row mask, columns)].

    Hashes each column's packed bits (O(N·T)); the usual complete-data case is one group.
    """
    sub = mask[:, columns]
    if sub.all(axis=1).sum() == sub.shape[0] or (sub == sub[:, :1]).all():
        return [(sub[:, 0].copy(), columns)]
    packed = np.packbits(sub.T, axis=1)
    groups: dict[bytes, list[int]] = {}
    for j, key in enumerate(packed):
        groups.setdefault(key.tobytes(), []).append(j)
    return [(sub[:, idx[0]].copy(), columns[np.asarray(idx)]) for idx in groups.values()]


def quality_flags(n_obs: np.ndarray, window: int, min_obs: int, degenerate: np.ndarray | None = None,
                  perfect_fit: np.ndarray | None = None) -> np.ndarray:
    """History-quality flag per regression: full_history (n ≥ window), limited_history
    (min_obs ≤ n < window), insufficient_history (n < min_obs), degenerate (singular design),
    perfect_fit (zero residual variance: statistics NULL). Precedence: insufficient > degenerate >
    perfect_fit > limited/full."""
    n_obs = np.asarray(n_obs)
    flags = np.where(n_obs >= window, FLAG_FULL, np.where(n_obs >= min_obs, FLAG_LIMITED, FLAG_INSUFFICIENT))
    if perfect_fit is not None:
        flags = np.where(np.asarray(perfect_fit) & (n_obs >= min_obs), FLAG_PERFECT_FIT, flags)
    if degenerate is not None:
        flags = np.where(np.asarray(degenerate) & (n_obs >= min_obs), FLAG_DEGENERATE, flags)
    return flags.astype(object)


def univariate_statistics(fit: dict[str, np.ndarray], window: int, min_obs: int) -> dict[str, np.ndarray]:
    """Per-column statistics of a one-regressor ``masked_ols`` fit with intercept: beta (the slope) with
    its std_err and t_stat, alpha (the intercept), r2, n_obs and quality_flag (``quality_flags``)."""
    return {
        "beta": fit["coef"][1],
        "alpha": fit["coef"][0],
        "std_err": fit["se"][1],
        "r2": fit["r2"],
        "t_stat": fit["t"][1],
        "n_obs": fit["n_obs"].astype(int),
        "quality_flag": quality_flags(fit["n_obs"], window, min_obs, fit["degenerate"], fit["perfect_fit"]),
    }


def align_window(asset_returns: pd.DataFrame, *others: pd.DataFrame | pd.Series, window: int) -> list:
    """Align inputs on their common dates (sorted) and keep the last ``window`` of them."""
    idx = asset_returns.index
    for o in others:
        idx = idx.intersection(o.index)
    idx = idx.sort_values()[-window:] if window else idx.sort_values()
    return [asset_returns.loc[idx]] + [o.loc[idx] for o in others]


def _factor_frame(factor_returns: pd.DataFrame) -> pd.DataFrame:
    """Rename ETF-symbol columns (SPY, VTV, …) to factor names (Market, Value, …); keep known names."""
    renamed = factor_returns.rename(columns=_ETF_TO_FACTOR)
    unknown = [c for c in renamed.columns if c not in FACTOR_ETFS]
    if unknown:
        raise ValueError(f"unknown factor columns {unknown}; expected ETF symbols {list(FACTOR_ETFS.values())} or factor names")
    return renamed[[f for f in FACTOR_ETFS if f in renamed.columns]]


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------
SINGLE_FACTOR_COLUMNS = [
    "symbol", "factor", "factor_symbol", "beta", "alpha", "std_err", "r2", "t_stat",
    "n_obs", "quality_flag", "extreme_beta",
]


def single_factor_betas(
    asset_returns: pd.DataFrame,
    factor_returns: pd.DataFrame,
    window: int = 252,
    min_obs: int = 60,
    extreme_threshold: float = 3.0,
) -> pd.DataFrame:
    """Univariate factor betas (SigmaSight-compatible): for every position × factor,
    r_asset,t = alpha + beta · r_factor,t + e_t by OLS with intercept, over the last ``window`` common dates.

    ``factor_returns`` columns are ETF symbols (SPY, VTV, VUG, MTUM, QUAL, IWM, USMV) or factor names
    (keys of ``FACTOR_ETFS``). Daily simple decimal returns.

    Returns a long DataFrame, one row per (symbol, factor), columns ``SINGLE_FACTOR_COLUMNS``:
    beta (dimensionless), alpha (daily decimal), std_err (of beta), r2, t_stat (of beta, classical OLS),
    n_obs, quality_flag (see module doc; NaN estimates when insufficient_history/degenerate) and
    extreme_beta (|beta| > extreme_threshold; the beta is NOT clipped).
    """
    factors = _factor_frame(factor_returns)
    assets, factors = align_window(asset_returns, factors, window=window)
    y = assets.to_numpy(dtype=float)
    symbols = np.asarray(assets.columns, dtype=object)
    frames = []
    for factor in factors.columns:  # 7 factors; positions are vectorised inside masked_ols
        stats = univariate_statistics(masked_ols(factors[factor].to_numpy(dtype=float), y, min_obs), window, min_obs)
        frames.append(
            pd.DataFrame(
                {
                    "symbol": symbols,
                    "factor": factor,
                    "factor_symbol": FACTOR_ETFS[factor],
                    **stats,
                    "extreme_beta": np.abs(np.nan_to_num(stats["beta"])) > extreme_threshold,
                }
            )
        )
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SINGLE_FACTOR_COLUMNS)
    return out[SINGLE_FACTOR_COLUMNS]


MULTIVARIATE_COLUMNS = [
    "symbol", "factor", "regressor", "beta", "std_err", "t_stat", "alpha", "r2", "residual_vol",
    "n_obs", "quality_flag", "extreme_beta",
]


#: Order in which the style factors are orthogonalised (Gram–Schmidt): each style ETF's return is
#: residualised on the market (SPY) and on every style BEFORE it in this list. Value is the first
#: style, so it keeps most of its own meaning; Growth (nearly the mirror image of Value once the
#: market is removed) comes second and keeps only what Value does not explain, and so on.
ORTHOGONALISATION_ORDER: list[str] = ["Market", "Value", "Growth", "Momentum", "Quality", "Size", "Low Volatility"]
ORTHOGONAL_METHOD = (
    "sequential Gram–Schmidt by OLS with intercept over the estimation window: Market = SPY; each style = the "
    "residual of its ETF's return regressed on SPY and on the earlier styles' residuals, order "
    + " → ".join(ORTHOGONALISATION_ORDER)
)


def regressor_name(factor: str) -> str:
    """Label of a factor's regressor in the orthogonal model: 'SPY' for the market, e.g. 'VTV⊥' for a style
    (VTV's return orthogonalised on SPY and the earlier styles)."""
    return FACTOR_ETFS[factor] if factor == MARKET_FACTOR else f"{FACTOR_ETFS[factor]}⊥"


def spread_regressors(etf_returns: pd.DataFrame) -> pd.DataFrame:
    """The former (collinear) design, kept for diagnostics only: Market = SPY; every style =
    (style ETF return − SPY return). Columns named by factor."""
    f = _factor_frame(etf_returns)
    if MARKET_FACTOR not in f.columns:
        raise ValueError("multivariate regression needs the market ETF (SPY)")
    reg = f.sub(f[MARKET_FACTOR], axis=0)
    reg[MARKET_FACTOR] = f[MARKET_FACTOR]
    return reg[f.columns]


def multivariate_regressors(etf_returns: pd.DataFrame) -> pd.DataFrame:
    """Orthogonal regressor matrix (daily decimal returns), columns named by factor in ``FACTOR_ETFS`` order.

    * Market = SPY return, unchanged.
    * Styles, in ``ORTHOGONALISATION_ORDER``: style_s = r_ETF_s − (a + b·SPY + Σ_{u before s} c_u·style_u),
      the OLS residual (with intercept) of the style ETF's return on the market and the earlier
      (already orthogonalised) styles.

    The residuals are computed on the rows where every ETF has a return (rows with a missing ETF are
    NaN), so pass the estimation window only: within it every style has zero mean and zero sample
    covariance with the market and with every other style — the design's VIFs are 1 and the market
    coefficient of a position with complete data equals its single-factor (SPY) beta exactly.
    A style regressor is "the part of that ETF's return that the market and the earlier styles do not
    explain"; its beta is the position's loading on that pure style return.
    """
    return orthogonalise_factors(etf_returns)[0]


def orthogonalise_factors(etf_returns: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(regressors, loadings): the orthogonal regressors of ``multivariate_regressors`` and the slope
    coefficients used to build them — loadings.loc[style, u] = c_u, the coefficient of factor u (Market or an
    earlier style) in the style ETF's regression (intercept excluded; 0 for later factors). So a style
    ETF's return is r_s = a_s + Σ_u loadings[s, u] · f_u + style⊥_s; stress scenarios use this to turn
    a shock to the ETF's total return into a move of the orthogonal factor."""
    f = _factor_frame(etf_returns)
    if MARKET_FACTOR not in f.columns:
        raise ValueError("multivariate regression needs the market ETF (SPY)")
    order = [c for c in ORTHOGONALISATION_ORDER if c in f.columns]
    rows = f.notna().all(axis=1).to_numpy()
    x = f[order].to_numpy(dtype=float)[rows]
    out = np.full((len(f), len(order)), np.nan)
    loadings = np.zeros((len(order), len(order)))
    out[rows, 0] = x[:, 0]
    if rows.sum() > len(order):
        basis = [np.ones(x.shape[0]), x[:, 0]]
        for j in range(1, len(order)):
            design = np.column_stack(basis)
            coef, *_ = np.linalg.lstsq(design, x[:, j], rcond=None)
            resid = x[:, j] - design @ coef
            out[rows, j] = resid
            loadings[j, :j] = coef[1:]
            basis.append(resid)
    else:
        loadings[:] = np.nan
    reg = pd.DataFrame(out, index=f.index, columns=order)
    return reg[list(f.columns)], pd.DataFrame(loadings, index=order, columns=order)


@dataclass(frozen=True)
class CollinearityDiagnostics:
    """Collinearity of a regressor matrix (``regressor_diagnostics``); every figure is dimensionless."""

    n_obs: int  # rows used (rows with any NaN dropped)
    condition_number: float  # numpy.linalg.cond (2-norm, σ_max/σ_min) of the z-scored regressors, no intercept; NaN when rows ≤ columns
    vif: dict[str, float]  # {regressor: VIF_j = 1/(1 − R²_j)} (j on the others plus an intercept); inf when singular
    max_regressor_correlation: float  # largest off-diagonal Pearson correlation of the regressors
    max_raw_etf_correlation: float | None = None  # largest off-diagonal Pearson correlation of the raw ETF returns (if given)
    max_raw_etf_correlation_pair: tuple[str, str] | None = None  # the two ETFs of that correlation


def regressor_diagnostics(regressors: pd.DataFrame, raw_etf_returns: pd.DataFrame | None = None) -> CollinearityDiagnostics:
    """Collinearity diagnostics of a regressor matrix (rows with any NaN dropped):

    * condition_number: numpy.linalg.cond (2-norm, σ_max/σ_min) of the column-standardised
      (z-scored, ddof=0) regressors, without the intercept column;
    * vif: {regressor: VIF_j} with VIF_j = 1/(1 − R²_j) from regressing j on the others plus an
      intercept = diag(inverse correlation matrix);
    * max_raw_etf_correlation / max_raw_etf_correlation_pair: largest off-diagonal Pearson
      correlation of the raw ETF returns (if given); max_regressor_correlation likewise for the regressors;
    * n_obs: rows used.
    """
    r = regressors.dropna()
    z = (r - r.mean()) / r.std(ddof=0)
    condition_number = float(np.linalg.cond(z.to_numpy())) if len(r) > r.shape[1] else float("nan")
    corr = np.corrcoef(r.to_numpy(), rowvar=False) if len(r) > 2 else np.full((r.shape[1],) * 2, np.nan)
    try:
        vif = np.diag(np.linalg.inv(corr))
    except np.linalg.LinAlgError:
        vif = np.full(r.shape[1], np.inf)
    off = corr - np.eye(corr.shape[0]) * 2.0  # push diagonal below any real correlation
    raw_max, raw_pair = None, None
    if raw_etf_returns is not None:
        raw = raw_etf_returns.dropna()
        rc = np.corrcoef(raw.to_numpy(), rowvar=False) - np.eye(raw.shape[1]) * 2.0
        i, j = np.unravel_index(np.nanargmax(rc), rc.shape)
        raw_max, raw_pair = float(rc[i, j]), (str(raw.columns[i]), str(raw.columns[j]))
    return CollinearityDiagnostics(
        n_obs=int(len(r)), condition_number=condition_number, vif={c: float(v) for c, v in zip(r.columns, vif)},
        max_regressor_correlation=float(np.nanmax(off)) if corr.size else float("nan"),
        max_raw_etf_correlation=raw_max, max_raw_etf_correlation_pair=raw_pair,
    )


@dataclass(frozen=True)
class FactorModelDiagnostics:
    """What ``multivariate_betas`` reports besides the betas."""

    method: str  # ORTHOGONAL_METHOD: how the style regressors are built
    order: tuple[str, ...]  # factors in their orthogonalisation order (those present)
    loadings: pd.DataFrame  # factor × factor (``orthogonalise_factors``): how each style ETF's return loads on the
    #                         market and the earlier styles (dimensionless); the stress engine needs it
    collinearity: CollinearityDiagnostics | None = None  # of the orthogonal design in the window (None with diagnostics=False)
    vif_spread_model: dict[str, float] | None = None  # {regressor: VIF} the former SPY + spread design would have had


def multivariate_betas(
    asset_returns: pd.DataFrame,
    etf_returns: pd.DataFrame,
    window: int = 252,
    min_obs: int = 60,
    extreme_threshold: float = 3.0,
    diagnostics: bool = True,
) -> tuple[pd.DataFrame, FactorModelDiagnostics]:
    """Joint ORTHOGONAL factor regression for all positions:

        r_i,t = alpha_i + b_Market·SPY_t + Σ_s b_s·style⊥_s,t + e_i,t,   s ∈ {Value, Growth,
        Momentum, Quality, Size, Low Volatility}

    where style⊥_s is the style ETF's return orthogonalised on SPY and on the earlier styles
    (``multivariate_regressors``, order ``ORTHOGONALISATION_ORDER``), computed over the last ``window``
    common dates. One lstsq call per distinct availability mask (one call when data are complete).
    ``etf_returns`` columns: the ETF symbols of ``FACTOR_ETFS`` (or factor names). Daily simple decimal returns.

    Consequences (stated so they can be checked): the regressors are uncorrelated in the window (VIF = 1);
    for a position with data on every date of the window, b_Market equals its single-factor SPY beta exactly
    (the styles are orthogonal to SPY), so the two market betas reconcile by construction; a position with
    missing dates differs only through its own mask (``market_beta_gap`` = b_Market − single-factor SPY beta
    on the same rows is 0 up to rounding in complete data).

    Returns (betas, diagnostics):
      betas — long DataFrame, one row per (symbol, factor), columns ``MULTIVARIATE_COLUMNS``:
        regressor ('SPY' or e.g. 'VTV⊥'), beta, std_err, t_stat (classical OLS; NULL for perfect fits, see
        ``masked_ols``), alpha (daily decimal intercept), r2, residual_vol (annualised: resid stdev × √252,
        decimal), n_obs, quality_flag, extreme_beta (|beta| > extreme_threshold, never clipped);
      diagnostics — ``FactorModelDiagnostics``: ``collinearity`` (``regressor_diagnostics`` of the orthogonal
        design in the window: condition_number, vif, max_raw_etf_correlation, …), ``vif_spread_model`` (the VIFs
        the former SPY + spread design would have had, for comparison), ``method``, ``order`` and ``loadings``
        (``orthogonalise_factors``: how each style ETF loads on the market and the earlier styles; the stress
        engine needs it). With ``diagnostics=False`` (a caller that needs only the betas and loadings, e.g. the
        stress engine once per session) the collinearity figures are skipped (``collinearity`` and
        ``vif_spread_model`` None).
    """
    raw = _factor_frame(etf_returns)
    assets, raw = align_window(asset_returns, raw, window=window)
    reg, loadings = orthogonalise_factors(raw)
    res = masked_ols(reg.to_numpy(dtype=float), assets.to_numpy(dtype=float), min_obs)
    factors = list(reg.columns)
    n_sym = assets.shape[1]
    n_fac = len(factors)
    beta = res["coef"][1:].T  # N × F
    flags = quality_flags(res["n_obs"], window, min_obs, res["degenerate"], res["perfect_fit"])
    regressor_names = [regressor_name(f) for f in factors]
    out = pd.DataFrame(
        {
            "symbol": np.repeat(np.asarray(assets.columns, dtype=object), n_fac),
            "factor": np.tile(np.asarray(factors, dtype=object), n_sym),
            "regressor": np.tile(np.asarray(regressor_names, dtype=object), n_sym),
            "beta": beta.ravel(),
            "std_err": res["se"][1:].T.ravel(),
            "t_stat": res["t"][1:].T.ravel(),
            "alpha": np.repeat(res["coef"][0], n_fac),
            "r2": np.repeat(res["r2"], n_fac),
            "residual_vol": np.repeat(res["resid_std"] * np.sqrt(TRADING_DAYS_PER_YEAR), n_fac),
            "n_obs": np.repeat(res["n_obs"].astype(int), n_fac),
            "quality_flag": np.repeat(flags, n_fac),
            "extreme_beta": np.abs(np.nan_to_num(beta.ravel())) > extreme_threshold,
        }
    )
    order = tuple(f for f in ORTHOGONALISATION_ORDER if f in factors)
    if not diagnostics:
        return out[MULTIVARIATE_COLUMNS], FactorModelDiagnostics(method=ORTHOGONAL_METHOD, order=order, loadings=loadings)
    raw_named = raw.rename(columns=FACTOR_ETFS)
    spread = spread_regressors(raw)
    spread_names = [FACTOR_ETFS[f] if f == MARKET_FACTOR else f"{FACTOR_ETFS[f]}-{FACTOR_ETFS[MARKET_FACTOR]}" for f in spread.columns]
    return out[MULTIVARIATE_COLUMNS], FactorModelDiagnostics(
        method=ORTHOGONAL_METHOD, order=order, loadings=loadings,
        collinearity=regressor_diagnostics(reg.rename(columns=dict(zip(factors, regressor_names))), raw_named),
        vif_spread_model=regressor_diagnostics(spread.rename(columns=dict(zip(spread.columns, spread_names)))).vif,
    )


def betas_wide(betas: pd.DataFrame) -> pd.DataFrame:
    """symbol × factor matrix of betas from the long output of single_factor_betas /
    multivariate_betas (a wide frame is returned unchanged)."""
    if {"symbol", "factor", "beta"}.issubset(betas.columns):
        wide = betas.pivot(index="symbol", columns="factor", values="beta")
        return wide[[f for f in FACTOR_ETFS if f in wide.columns] + [f for f in wide.columns if f not in FACTOR_ETFS]]
    return betas


PORTFOLIO_EXPOSURE_COLUMNS = [
    "dollar_exposure", "beta_gross", "beta_net", "gross_exposure", "net_market_value",
    "n_positions", "n_positions_missing_beta",
]


def portfolio_factor_exposure(
    position_market_values: pd.Series,
    betas: pd.DataFrame,
    option_delta_dollars: pd.Series | None = None,
    beta_symbol: pd.Series | None = None,
) -> pd.DataFrame:
    """Portfolio dollar exposure per factor.

    exposure_i = market value (signed dollars) for stock/ETF positions, or the option's
    delta_dollars (position delta × underlying spot, signed dollars) for positions present (non-NaN)
    in ``option_delta_dollars``. The betas applied to a position are those of ``beta_symbol[i]``
    (e.g. the option's underlying; default: the position's own index label).

      dollar_exposure_f = Σ_i exposure_i · beta_i,f           (dollars; NaN betas contribute 0)
      beta_gross_f      = dollar_exposure_f / Σ_i |exposure_i|  (relative to gross exposure)
      beta_net_f        = dollar_exposure_f / Σ_i market_value_i (relative to net market value;
                          NaN when that is 0)

    ``betas``: long output of the beta functions or a wide symbol × factor frame.
    Returns a DataFrame indexed by factor with columns ``PORTFOLIO_EXPOSURE_COLUMNS``.
    """
    mv = position_market_values.astype(float)
    exposure = mv.copy()
    if option_delta_dollars is not None:
        odd = option_delta_dollars.astype(float).reindex(mv.index)
        exposure = exposure.where(odd.isna(), odd)
    symbols = mv.index.to_series() if beta_symbol is None else beta_symbol.reindex(mv.index).fillna(mv.index.to_series())
    wide = betas_wide(betas)
    b = wide.reindex(symbols.to_numpy()).to_numpy(dtype=float)  # P × F
    figures = grouped_factor_exposures(exposure.to_numpy(dtype=float), mv.to_numpy(), b, np.zeros(len(mv), dtype=np.intp), 1)
    return pd.DataFrame({k: v[0] for k, v in figures.items()},
                        index=pd.Index(wide.columns, name="factor"))[PORTFOLIO_EXPOSURE_COLUMNS]


def grouped_factor_exposures(exposure: np.ndarray, market_value: np.ndarray, betas: np.ndarray, group: np.ndarray,
                             n_groups: int) -> dict[str, np.ndarray]:
    """`portfolio_factor_exposure` of several portfolios at once (a daily refresh of many clients).

    exposure, market_value: per position ($, signed; exposure already delta dollars for options); betas: position ×
    factor (NaN: none); group: each position's portfolio, 0 .. n_groups − 1. Returns {PORTFOLIO_EXPOSURE_COLUMNS
    name: array}: per portfolio × factor for dollar_exposure, beta_gross, beta_net, n_positions_missing_beta, per
    portfolio for gross_exposure, net_market_value, n_positions. Each portfolio's sums run over its positions in
    the given order, so a portfolio's figures do not depend on the other portfolios passed with it."""
    group = np.asarray(group, dtype=np.intp)
    e = np.asarray(exposure, dtype=float)
    valid = np.isfinite(betas) & np.isfinite(e)[:, None]
    dollar = np.zeros((n_groups, betas.shape[1]))
    np.add.at(dollar, group, np.where(valid, betas, 0.0) * np.nan_to_num(e)[:, None])
    missing = np.zeros((n_groups, betas.shape[1]), dtype=np.int64)
    np.add.at(missing, group, (~valid).astype(np.int64))
    gross = np.zeros(n_groups)
    np.add.at(gross, group, np.where(np.isnan(e), 0.0, np.abs(e)))
    mv = np.asarray(market_value, dtype=float)
    net_mv = np.zeros(n_groups)
    np.add.at(net_mv, group, np.where(np.isnan(mv), 0.0, mv))
    with np.errstate(divide="ignore", invalid="ignore"):
        beta_gross = np.where((gross != 0)[:, None], dollar / gross[:, None], np.nan)
        beta_net = np.where((net_mv != 0)[:, None], dollar / net_mv[:, None], np.nan)
    return {
        "dollar_exposure": dollar, "beta_gross": beta_gross, "beta_net": beta_net, "gross_exposure": gross,
        "net_market_value": net_mv, "n_positions": np.bincount(group, minlength=n_groups),
        "n_positions_missing_beta": missing,
    }
