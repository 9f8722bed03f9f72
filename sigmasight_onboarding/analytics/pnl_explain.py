"""Daily P&L explanation per position: P&L = Δvalue, split into Greek terms plus a residual.

For every position held from the previous session (0) to the current one (1):

    value_k   = quantity × multiplier × price_k          (price_k = the session's OWN mark: each session valued
                                                          with its own spot, vol, rate, dividend yield and time
                                                          to expiry — never the previous session re-marked
                                                          with today's vol)
    pnl       = value_1 − value_0                        (exactly the change in value)

and, with the PREVIOUS session's Greeks (per share, in the units of ``analytics.greeks``: delta per $1,
gamma per $1 per $1, vega per vol point, theta per calendar day, rho per 1 % rate) and N = quantity × multiplier:

    delta_pnl = N × delta_0 × (S_1 − S_0)
    gamma_pnl = N × ½ × gamma_0 × (S_1 − S_0)²
    vega_pnl  = N × vega_0 × (σ_1 − σ_0) × 100            (σ decimal → vol points)
    theta_pnl = N × theta_0 × calendar_days
    rates_pnl = N × rho_0 × (r_1 − r_0) × 100              (r decimal → percent)
    residual  = pnl − (delta_pnl + gamma_pnl + vega_pnl + theta_pnl + rates_pnl)

so the terms plus the residual equal Δvalue by construction. With ``round_to_cents`` (default) every term
and the P&L are rounded to cents FIRST and the residual is taken from the rounded figures, so the stored
terms add up to the stored P&L to the cent. The residual holds third-order and cross effects (vanna,
volga, charm), dividend-yield changes and anything the Greeks do not see; on an ordinary day it is a few
percent of |pnl| at most.

Stocks/ETFs: multiplier 1, delta 1, other Greeks 0 — the whole P&L is delta_pnl (residual 0).
Options: multiplier 100. An option that expires between the two sessions is valued at intrinsic on the
second (``greeks.black_scholes``); its Greeks-based terms will not explain the jump — the residual shows it.
Quantity changes between sessions are trades, not market P&L: pass the quantity held over the night (the
previous session's).

Pure numpy/pandas; no Dagster, no database.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TERMS = ["delta_pnl", "gamma_pnl", "vega_pnl", "theta_pnl", "rates_pnl"]
EXPLAIN_COLUMNS = ["value_previous", "value_current", "pnl", *TERMS, "residual"]

PREVIOUS_COLUMNS = ["quantity", "multiplier", "spot", "price", "vol", "rate", "delta", "gamma", "vega", "theta", "rho"]
CURRENT_COLUMNS = ["spot", "price", "vol", "rate"]


def explain_pnl(previous: pd.DataFrame, current: pd.DataFrame, calendar_days: float | np.ndarray,
                round_to_cents: bool = True) -> pd.DataFrame:
    """P&L explanation per position (index = position id; rows of ``current`` aligned on ``previous``'s index).

    previous: ``PREVIOUS_COLUMNS`` — quantity (signed shares or contracts), multiplier (1 stock, 100 option),
      spot ($), price ($ per share: stock price or option premium), vol and rate (annualised decimals; NaN/0
      for stocks), per-share Greeks delta, gamma, vega, theta, rho (stocks: 1, 0, 0, 0, 0).
    current: ``CURRENT_COLUMNS`` — spot, price, vol, rate of the current session (its own marks).
    calendar_days: days between the sessions (scalar or per position), for theta.

    Returns a DataFrame with ``EXPLAIN_COLUMNS`` in dollars (signed, gain > 0).
    """
    cur = current.reindex(previous.index)
    if cur[["spot", "price"]].isna().any().any():
        missing = list(cur.index[cur[["spot", "price"]].isna().any(axis=1)])
        raise ValueError(f"no current mark for positions {missing[:10]}")
    p = {c: previous[c].astype(float).to_numpy() for c in PREVIOUS_COLUMNS}
    c = {k: cur[k].astype(float).to_numpy() for k in CURRENT_COLUMNS}
    out = pd.DataFrame(explain_terms(p, c, calendar_days), index=previous.index)
    if round_to_cents:
        out = out.round(2)
        out["pnl"] = (out["value_current"] - out["value_previous"]).round(2)  # Δ of the stored (cent) values
    out["residual"] = out["pnl"] - out[TERMS].sum(axis=1)
    if round_to_cents:
        out["residual"] = out["residual"].round(2)
    return out[EXPLAIN_COLUMNS]


def explain_terms(p: dict[str, np.ndarray], c: dict[str, np.ndarray], calendar_days) -> dict[str, np.ndarray]:
    """The formulas of the module docstring on arrays of any (broadcastable) shape, full precision.

    p: ``PREVIOUS_COLUMNS`` arrays (the previous session's marks and per-share Greeks), c: ``CURRENT_COLUMNS``
    arrays (the current session's own marks), calendar_days: days between the sessions. Returns
    value_previous, value_current, pnl and the five ``TERMS`` in dollars (no residual, no rounding).
    """
    n = p["quantity"] * p["multiplier"]
    ds = c["spot"] - p["spot"]
    dvol = np.nan_to_num(c["vol"] - p["vol"])
    drate = np.nan_to_num(c["rate"] - p["rate"])
    days = np.broadcast_to(np.asarray(calendar_days, dtype=float), np.broadcast_shapes(n.shape, np.shape(calendar_days)))
    v0 = n * p["price"]
    v1 = n * c["price"]
    return {
        "value_previous": v0,
        "value_current": v1,
        "pnl": v1 - v0,
        "delta_pnl": n * p["delta"] * ds,
        "gamma_pnl": n * 0.5 * p["gamma"] * ds * ds,
        "vega_pnl": n * np.nan_to_num(p["vega"]) * dvol * 100.0,
        "theta_pnl": n * np.nan_to_num(p["theta"]) * days,
        "rates_pnl": n * np.nan_to_num(p["rho"]) * drate * 100.0,
    }


def explain_total(explained: pd.DataFrame) -> pd.Series:
    """Portfolio totals of ``explain_pnl`` (dollars), in waterfall order: value_previous, the five Greek
    terms, residual, value_current; plus pnl. Σ terms + residual = pnl = value_current − value_previous."""
    tot = explained[EXPLAIN_COLUMNS].sum()
    return tot[["value_previous", *TERMS, "residual", "value_current", "pnl"]]


def explain_sessions(marks: pd.DataFrame, previous_date, current_date, round_to_cents: bool = False) -> pd.DataFrame:
    """P&L explanation of every position held over the night from ``previous_date`` to ``current_date``.

    marks: ``analytics.snapshots.position_marks`` over (at least) the two dates — each session valued with its
    OWN spot, vol, rate and time to expiry, the same valuation as the snapshot series. Positions held on the
    previous date are explained (their quantity does not change between sessions); a position entering on
    ``current_date`` is a trade, not market P&L, and is left out (the snapshot reports it as entry_pnl).
    calendar_days = current_date − previous_date in days (weekends: 3 days of theta).

    Returns ``explain_pnl`` rows (index = position id), so Σ pnl over the returned positions =
    Σ_held-over-night (mv_current − mv_previous) = snapshot daily_pnl − entry_pnl. ``round_to_cents`` False
    (the default here) keeps full precision: terms + residual = pnl to floating point (≈ 1e-9 $), and the
    portfolio Σ pnl equals the snapshot figure to the cent.
    """
    d0, d1 = pd.Timestamp(previous_date).normalize(), pd.Timestamp(current_date).normalize()
    prev = marks.xs(d0, level="date")
    cur = marks.xs(d1, level="date")
    prev = prev.loc[prev["held"].astype(bool)]
    days = float((d1 - d0).days)
    return explain_pnl(prev[PREVIOUS_COLUMNS], cur[CURRENT_COLUMNS], days, round_to_cents=round_to_cents)


@dataclass(frozen=True)
class SessionPairExplanation:
    """``explain_sessions`` of many (previous, current) session pairs, as arrays (pairs × positions).

    terms: ``EXPLAIN_COLUMNS`` → pairs × positions arrays in dollars (signed, gain > 0; residual = pnl − Σ
    ``TERMS``, full precision); held: pairs × positions, True where the position is held on the previous date
    (only those are explained — a position entering on the current date is a trade, not market P&L);
    position_ids: the positions axis labels.
    """

    terms: dict[str, np.ndarray]
    held: np.ndarray
    position_ids: np.ndarray

    def pair(self, i: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(position ids, ``EXPLAIN_COLUMNS`` values) of the positions explained in pair i."""
        held = self.held[i]
        return self.position_ids[held], {c: self.terms[c][i][held] for c in EXPLAIN_COLUMNS}


def explain_session_pairs(marks: pd.DataFrame, pairs) -> SessionPairExplanation:
    """``explain_sessions`` for many (previous_date, current_date) pairs at once, full precision.

    marks: ``analytics.snapshots.position_marks`` over every date of the pairs (a date × position product, as
    it returns). Pair i of the result equals ``explain_sessions(marks, *pairs[i])`` on the positions held on
    its previous date (the same formulas, ``explain_terms``).
    """
    dates = marks.index.get_level_values("date").unique()
    ids = marks.index.get_level_values("position_id")[: len(marks) // max(len(dates), 1)]
    grid = {c: marks[c].to_numpy().reshape(len(dates), len(ids)) for c in set(PREVIOUS_COLUMNS) | set(CURRENT_COLUMNS) | {"held"}}
    d0 = pd.DatetimeIndex([pd.Timestamp(a).normalize() for a, _ in pairs])
    d1 = pd.DatetimeIndex([pd.Timestamp(b).normalize() for _, b in pairs])
    i0, i1 = dates.get_indexer(d0), dates.get_indexer(d1)
    if (i0 < 0).any() or (i1 < 0).any():
        raise ValueError("a pair's date has no marks")
    p = {c: grid[c][i0].astype(float) for c in PREVIOUS_COLUMNS}
    c = {k: grid[k][i1].astype(float) for k in CURRENT_COLUMNS}
    days = (d1 - d0).days.to_numpy(dtype=float)[:, None]
    terms = explain_terms(p, c, days)
    terms["residual"] = terms["pnl"] - sum(terms[t] for t in TERMS)  # the same left-to-right sum as DataFrame.sum(axis=1)
    return SessionPairExplanation(terms=terms, held=grid["held"][i0].astype(bool), position_ids=np.asarray(ids))
