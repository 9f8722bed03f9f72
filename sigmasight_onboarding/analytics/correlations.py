"""Position correlations, correlation clusters and concentration metrics.

Conventions
-----------
* Inputs are daily LOG returns in decimals (date × symbol DataFrame, ascending dates); Pearson
  correlation is dimensionless in [−1, 1].
* Market values are signed dollars indexed by symbol (short positions negative).
* Missing data: pairwise complete observations — each pair uses the dates on which both symbols have
  a return; pairs with fewer than ``min_overlap`` common dates get NaN.

No Dagster, no database.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, sparse
from scipy.sparse.csgraph import connected_components


def correlation_matrix(
    log_returns: pd.DataFrame,
    window: int = 90,
    min_overlap: int = 20,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Pairwise-complete Pearson correlation over the last ``window`` rows (sessions).

    Vectorised with masked matrix products (M = availability mask, X = centred returns with NaN → 0):
    n = MᵀM, Σx = XᵀM, Σx² = (X∘X)ᵀM, Σxy = XᵀX, and for the pair (i, j)
        r_ij = (Σxy − Σx_i Σx_j / n) / sqrt((Σx_i² − (Σx_i)²/n)(Σx_j² − (Σx_j)²/n))
    where every sum runs over the dates on which BOTH i and j are present. Each column is first
    centred by its own window mean (correlation is shift invariant; this only improves accuracy).

    p-value (two-sided, H0: ρ = 0): t = r·sqrt((n − 2)/(1 − r²)), p = 2·(1 − F_t,n−2(|t|)) — identical to
    scipy.stats.pearsonr. NaN correlation (and p-value) where n < min_overlap or a variance is 0;
    the diagonal is 1 (p = 0) where the symbol itself has ≥ min_overlap observations.

    Returns (corr, overlap_count, p_value) as symbol × symbol DataFrames.
    """
    data = log_returns.iloc[-window:] if window else log_returns
    x = data.to_numpy(dtype=float)
    m = np.isfinite(x)
    t_len = x.shape[0]
    if m.all():  # complete data (the usual case): one Gram matrix, n is the same for every pair
        xc = x - x.mean(axis=0)
        sxy = xc.T @ xc
        var = np.diag(sxy).copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            r = sxy / np.sqrt(np.outer(var, var))
        del sxy
        n = np.full(r.shape, t_len, dtype=np.int64)
        var_ok = var > 0
        valid = (t_len >= min_overlap) & var_ok[:, None] & var_ok[None, :] & np.isfinite(r)
        own_variance = var
    else:
        mf = m.astype(float)
        col_mean = np.where(m, x, 0.0).sum(axis=0) / np.maximum(m.sum(axis=0), 1)
        xc = np.where(m, x - col_mean, 0.0)
        n = mf.T @ mf
        sx = xc.T @ mf  # sx[i, j] = Σ x_i over dates where j (and i) present
        sxx = (xc * xc).T @ mf
        sxy = xc.T @ xc
        with np.errstate(divide="ignore", invalid="ignore"):
            cov = sxy - sx * sx.T / n
            var_i = sxx - sx * sx / n
            var_j = var_i.T
            r = cov / np.sqrt(var_i * var_j)
        valid = (n >= min_overlap) & (var_i > 0) & (var_j > 0) & np.isfinite(r)
        own_variance = np.diag(var_i)
        n = n.astype(np.int64)
    np.clip(r, -1.0, 1.0, out=r)
    r[~valid] = np.nan
    diag_ok = (np.diag(n) >= min_overlap) & (own_variance > 0)
    np.fill_diagonal(r, np.where(diag_ok, 1.0, np.nan))

    # Two-sided p-value of H0: ρ = 0, p = I_{1−r²}((n − 2)/2, 1/2) — the regularised incomplete beta
    # form of 2·(1 − F_t,n−2(|t|)) with t = r·sqrt((n − 2)/(1 − r²)), as in scipy.stats.pearsonr.
    dof = n - 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        p = special.betainc(np.where(dof > 0, dof, np.nan) / 2.0, 0.5, np.clip(1.0 - r * r, 0.0, 1.0))
    p = np.where(np.isfinite(r), np.where(np.abs(r) >= 1.0, 0.0, p), np.nan)

    cols = data.columns
    return (
        pd.DataFrame(r, index=cols, columns=cols),
        pd.DataFrame(n, index=cols, columns=cols),
        pd.DataFrame(p, index=cols, columns=cols),
    )


def filter_positions(
    market_values: pd.Series,
    min_abs_value: float = 10_000,
    min_gross_share: float = 0.01,
) -> tuple[list[str], dict[str, str]]:
    """Choose which positions enter the correlation analysis.

    Market values (signed dollars) are first summed per symbol (several lots of one symbol count as
    one position). A symbol is included when |mv| ≥ min_abs_value dollars AND |mv| / Σ|mv| ≥
    min_gross_share (a decimal share of gross exposure). Returns (included symbols in input order,
    {excluded symbol: reason}) with reasons 'missing_market_value', 'below_min_abs_value',
    'below_min_gross_share' (the first that applies).
    """
    mv = market_values.astype(float).groupby(level=0, sort=False).sum(min_count=1)
    gross = float(np.nansum(np.abs(mv.to_numpy())))
    included: list[str] = []
    excluded: dict[str, str] = {}
    for sym, val in mv.items():  # bookkeeping over labels only; no numerical work here
        if not np.isfinite(val):
            excluded[sym] = "missing_market_value"
        elif abs(val) < min_abs_value:
            excluded[sym] = "below_min_abs_value"
        elif gross <= 0 or abs(val) / gross < min_gross_share:
            excluded[sym] = "below_min_gross_share"
        else:
            included.append(sym)
    return included, excluded


@dataclass(frozen=True)
class PositionCluster:
    """One correlation cluster of ``find_clusters``."""

    cluster_id: int  # 1-based, by size desc then first symbol
    nickname: str  # the tag most members carry (≥ 2 of them), else 'Cluster <cluster_id>'
    symbols: list[str]  # members, sorted
    size: int  # number of members
    avg_correlation: float  # mean signed off-diagonal ρ over all member pairs (dimensionless; NaN pairs ignored)


def find_clusters(
    corr: pd.DataFrame,
    threshold: float = 0.7,
    tags: dict[str, list[str]] | None = None,
) -> list[PositionCluster]:
    """Correlation clusters: connected components of the graph with an edge i–j when |ρ_ij| ≥ threshold
    (NaN = no edge; diagonal ignored), keeping components with ≥ 2 members
    (scipy.sparse.csgraph.connected_components).

    Each cluster a ``PositionCluster``: cluster_id (1-based, by size desc then first symbol), nickname, symbols
    (sorted), size, avg_correlation (mean signed off-diagonal ρ over all member pairs, NaN pairs
    ignored). Nickname = the tag carried by the most members, provided at least 2 members carry it
    (ties → alphabetical); otherwise 'Cluster <cluster_id>'.
    """
    syms = list(corr.columns)
    a = corr.reindex(index=syms, columns=syms).to_numpy(dtype=float)
    adj = np.abs(np.nan_to_num(a, nan=0.0)) >= threshold
    np.fill_diagonal(adj, False)
    _, labels = connected_components(sparse.csr_matrix(adj), directed=False)
    sizes = np.bincount(labels)
    comps = [np.flatnonzero(labels == lab) for lab in np.flatnonzero(sizes >= 2)]
    comps.sort(key=lambda idx: (-idx.size, sorted(syms[i] for i in idx)[0]))
    clusters = []
    for cid, idx in enumerate(comps, start=1):
        members = sorted(syms[i] for i in idx)
        sub = a[np.ix_(idx, idx)]
        off = sub[~np.eye(idx.size, dtype=bool)]
        avg = float(np.nanmean(off)) if np.isfinite(off).any() else float("nan")
        nickname = f"Cluster {cid}"
        if tags:
            counts = Counter(t for s in members for t in set(tags.get(s, []) or []))
            if counts:
                best = max(counts.values())
                if best >= 2:
                    nickname = sorted(t for t, c in counts.items() if c == best)[0]
        clusters.append(PositionCluster(cluster_id=cid, nickname=nickname, symbols=members, size=len(members), avg_correlation=avg))
    return clusters


@dataclass(frozen=True)
class ConcentrationMetrics:
    """Concentration of a portfolio (``concentration_metrics``); NaN where undefined (no gross exposure, no ``corr``)."""

    n_positions: float  # symbols with a market value
    gross_exposure: float  # Σ |market value| ($)
    concentration_score: float  # HHI = Σ w_i² of the signed gross weights, in [1/N, 1]
    effective_positions: float  # 1 / HHI
    correlation_adjusted_effective_positions: float  # 1 / (wᵀ C w); inf when wᵀ C w ≤ 0


def concentration_metrics(market_values: pd.Series, corr: pd.DataFrame | None = None) -> ConcentrationMetrics:
    """Concentration of a portfolio.

    With w_i = mv_i / Σ_j |mv_j| (signed weights of gross exposure; dollars cancel):
      * concentration_score (HHI) = Σ w_i²  ∈ [1/N, 1]
      * effective_positions       = 1 / HHI
      * correlation_adjusted_effective_positions = 1 / (wᵀ C w), C = correlation matrix (NaN
        off-diagonal entries and symbols absent from ``corr`` treated as uncorrelated, diagonal 1).
        It equals 1/HHI when C = I and 1 for a long-only book of perfectly correlated names; hedged
        (long/short, positively correlated) books can exceed N. This is the number of equally-sized,
        independent, equal-volatility bets with the same normalised variance.
    Market values are summed per symbol first; NaN values are dropped.
    """
    mv = market_values.astype(float).groupby(level=0, sort=False).sum().dropna()
    gross = float(np.abs(mv).sum())
    nan = float("nan")
    if gross <= 0:
        return ConcentrationMetrics(float(len(mv)), gross, nan, nan, nan)
    w = mv.to_numpy() / gross
    hhi = float(np.sum(w * w))
    adjusted = nan
    if corr is not None:
        c = corr.reindex(index=mv.index, columns=mv.index).to_numpy(dtype=float)
        c = np.nan_to_num(c, nan=0.0)
        np.fill_diagonal(c, 1.0)
        quad = float(w @ c @ w)
        adjusted = 1.0 / quad if quad > 0 else float("inf")
    return ConcentrationMetrics(float(len(mv)), gross, hhi, 1.0 / hhi, adjusted)
