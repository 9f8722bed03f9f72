"""Stress testing: factor/rate scenarios applied through multivariate betas, options fully repriced.

Factor model (one consistent set of multivariate betas per symbol)
------------------------------------------------------------------
betas: DataFrame symbol × factor with columns among FACTOR_NAMES. The Market beta is on SPY; each
style beta (Value, Growth, Momentum, Quality, Size, Low Volatility) is on the ORTHOGONAL style return
(``factors.multivariate_regressors``: the proxy's return net of what SPY and the earlier styles explain),
estimated jointly with the Market beta. Scenario shocks are TOTAL decimal returns of the proxies (see
``sigmasight_onboarding.scenarios``). With ``factor_loadings`` L (``factors.orthogonalise_factors``:
r_proxy_k = a_k + Σ_u L[k, u] f_u + f_k), taking the factors in order, the moves fed to the betas are

    f_Market = s_Market                              (0 if Market is not shocked)
    f_k      = s_k − Σ_u L[k, u] f_u                 (style k listed: its shock beyond what the market and
                                                      the earlier styles already imply)
    f_k      = 0                                     (style k not listed: it moves as the market implies)

so every listed proxy moves exactly by its shock. Without loadings (legacy spread model, L[k, Market] = 1,
others 0) this is f_k = s_k − s_Market.

and the return of symbol i is   r_i = Σ_k β_ik f_k + rate_beta_i × rates_bp
(rate_beta in decimal return per basis point; missing factor columns / rate betas count as 0).
Historical replays may carry realised `symbol_returns`, which replace r_i for those symbols.

Position P&L (dollars, gain > 0)
--------------------------------
* stock/ETF: P&L = market_value × max(r_i, −1): a price cannot go below zero, so a long loses at
  most its value; a short (market_value < 0) has unbounded loss as r_i grows.
* option: underlying move r_u = max(r_underlying, −1) from the UNDERLYING's betas, then full
  Black–Scholes revaluation: P&L = quantity × 100 × [BS(S(1 + r_u), K, T, rate + rates_bp/10⁴,
  σ × volatility_multiplier, q) − BS(S, K, T, rate, σ, q)] — an instantaneous shock (same T), rates
  shifted in parallel, today's leg at model price.
No portfolio-level cap.

Pure computation: numpy, pandas for labelled input/output. No Dagster, no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from sigmasight_onboarding.analytics.factors import FACTOR_ETFS
from sigmasight_onboarding.analytics.returns import by_session
from sigmasight_onboarding.domain import CALL_TYPES, OPTION_TYPES
from sigmasight_onboarding.analytics.snapshots import (
    CONTRACT_MULTIPLIER,
    Pricer,
    lookup_values,
    option_prices,
    time_to_expiry_years,
)
from sigmasight_onboarding.scenarios import FACTOR_NAMES, MARKET_FACTOR, Scenario, load_scenarios

FACTOR_PROXIES: dict[str, str] = FACTOR_ETFS  # factor name -> ETF proxy (one definition, in factors.py)
RATES_PROXY = "^TNX"


def factor_moves(scenarios: Sequence[Scenario], factor_loadings: pd.DataFrame | None = None) -> pd.DataFrame:
    """Scenario × factor moves fed to the multivariate betas (decimal).

    f_Market = s_Market (0 if absent); style k (in FACTOR_NAMES order): f_k = s_k − Σ_u L[k, u] f_u if listed,
    else 0. ``factor_loadings`` L: factor × factor (rows: style, columns: Market and earlier styles), from
    ``factors.orthogonalise_factors``; None = the legacy spread model (L[k, Market] = 1, other entries 0).
    """
    names = list(FACTOR_NAMES)
    if factor_loadings is None:
        L = np.zeros((len(names), len(names)))
        L[1:, 0] = 1.0
    elif factor_loadings.index.tolist() == names and factor_loadings.columns.tolist() == names:
        L = np.nan_to_num(factor_loadings.to_numpy(float), nan=0.0, posinf=np.inf, neginf=-np.inf)  # = the reindex below
    else:
        L = factor_loadings.reindex(index=names, columns=names).fillna(0.0).to_numpy(float)
    rows = []
    for sc in scenarios:
        f = np.zeros(len(names))
        for j, k in enumerate(names):
            if k == MARKET_FACTOR:
                f[j] = float(sc.factor_shocks.get(MARKET_FACTOR, 0.0))
            elif k in sc.factor_shocks:
                f[j] = float(sc.factor_shocks[k]) - float(L[j, :j] @ f[:j])
        rows.append(f)
    return pd.DataFrame(rows, index=[sc.id for sc in scenarios], columns=names, dtype=float)


def scenario_symbol_returns(
    symbols: Sequence[str],
    betas: pd.DataFrame,
    rate_betas: Mapping[str, float] | pd.Series | None,
    scenarios: Sequence[Scenario],
    factor_loadings: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Scenario × symbol decimal returns r_i = Σ_k β_ik f_k + rate_beta_i × rates_bp (unfloored).

    f from `factor_moves`; realised `symbol_returns` of a scenario override the model for those
    symbols. Raises ValueError naming symbols with no betas row (unless every scenario supplies a
    realised return for them).
    """
    symbols = list(dict.fromkeys(symbols))
    b = betas if betas.columns.tolist() == list(FACTOR_NAMES) else betas.reindex(columns=list(FACTOR_NAMES))
    no_row = [s for s in symbols if s not in b.index]
    override = np.array([[s in sc.symbol_returns for s in symbols] for sc in scenarios], dtype=bool).reshape(len(scenarios), len(symbols))
    need_betas = [s for j, s in enumerate(symbols) if s in no_row and not override[:, j].all()]
    if need_betas:
        raise ValueError(f"no betas for symbols {need_betas}")
    if b.index.is_unique:  # = b.reindex(symbols).fillna(0.0), by position (a reindex per session costs more than the rest)
        rows = b.index.get_indexer(symbols)
        B = np.zeros((len(symbols), len(FACTOR_NAMES)))  # symbols × factors; a symbol without a row: 0
        if len(b):
            found = b.to_numpy(float)[np.maximum(rows, 0)]
            B = np.where((rows[:, None] >= 0) & ~np.isnan(found), found, 0.0)
    else:
        B = b.astype(float).reindex(symbols).fillna(0.0).to_numpy()  # raises on the duplicate labels, as before
    F = factor_moves(scenarios, factor_loadings).to_numpy()  # scenarios × factors
    rb = lookup_values(rate_betas, symbols, "rate_beta", default=0.0) if rate_betas is not None else np.zeros(len(symbols))
    bp = np.array([sc.rates_bp for sc in scenarios], dtype=float)
    R = F @ B.T + bp[:, None] * rb[None, :]
    realised = np.array([[sc.symbol_returns.get(s, np.nan) for s in symbols] for sc in scenarios], dtype=float).reshape(R.shape)
    R = np.where(override, realised, R)
    return pd.DataFrame(R, index=[sc.id for sc in scenarios], columns=symbols)


def _numbers(column: pd.Series, errors: str = "raise") -> np.ndarray:
    """``pd.to_numeric(column, errors=errors)`` as floats; a column that is already numeric is read as it is
    (to_numeric's own overhead was most of the per-session cost of these three columns)."""
    if column.dtype.kind in "fiu":
        return column.to_numpy(dtype=float)
    return pd.to_numeric(column, errors=errors).to_numpy(float)


@dataclass
class StressTestResult:
    """Stress results.

    position_pnl: scenario_id × position id, dollars (gain > 0).
    position_returns: scenario_id × position id, the return applied (decimal; stocks: floored
      return of the symbol; options: floored return of the underlying).
    summary: index scenario_id; columns scenario_name, category, portfolio_pnl ($),
      gross_exposure ($, Σ|market_value|), net_value ($, Σ market_value), pnl_to_gross
      (decimal = portfolio_pnl / gross_exposure), pnl_to_net (decimal = portfolio_pnl / net_value,
      NaN if net_value = 0).
    """

    position_pnl: pd.DataFrame
    position_returns: pd.DataFrame
    summary: pd.DataFrame

    def to_long(self) -> pd.DataFrame:
        """Long form: scenario_id, position_id, applied_return, pnl."""
        pnl = self.position_pnl.stack().rename("pnl")
        ret = self.position_returns.stack().rename("applied_return")
        out = pd.concat([ret, pnl], axis=1).reset_index()
        out.columns = ["scenario_id", "position_id", "applied_return", "pnl"]
        return out


def run_stress_tests(
    positions: pd.DataFrame,
    betas: pd.DataFrame,
    rate_betas: Mapping[str, float] | pd.Series | None = None,
    scenarios: Sequence[Scenario] | None = None,
    *,
    as_of: Any = None,
    spots: Mapping[str, float] | pd.Series | None = None,
    rate: float = 0.0,
    vols: Mapping[str, float] | pd.Series | None = None,
    dividend_yields: Mapping[str, float] | pd.Series | None = None,
    pricer: Pricer | None = None,
    factor_loadings: pd.DataFrame | None = None,
) -> StressTestResult:
    """Per-scenario, per-position stress P&L (module docstring for the model).

    positions (index = position id): symbol, market_value (dollars, signed), is_option (bool,
    default False); option rows also: underlying_symbol, quantity (contracts, signed), strike ($),
    expiration_date, and is_call (bool) or position_type (LC/SC = call, LP/SP = put).
    betas: symbol × factor multivariate betas (Market on SPY, styles orthogonal; pass the model's
    ``factor_loadings`` = ``multivariate_betas(...)[1].loadings`` so style shocks map exactly);
    rate_betas: symbol → decimal return per bp (missing → 0); scenarios: default load_scenarios().
    Options need as_of (for T = days/365), spots (underlying $), rate (decimal annualised), vols
    (decimal annualised per underlying), dividend_yields (default 0).
    """
    if scenarios is None:
        scenarios = load_scenarios()
    scenarios = list(scenarios)
    pos = positions  # read only; a derived is_option column goes on a copy
    if "is_option" not in pos.columns:
        if "position_type" in pos.columns:
            pos = pos.assign(is_option=pos["position_type"].astype(str).str.upper().isin(OPTION_TYPES))
        else:
            pos = pos.assign(is_option=False)
    is_opt = pos["is_option"].fillna(False).to_numpy(bool)
    mv = _numbers(pos["market_value"], errors="coerce")
    price_sym = pos["symbol"].astype(object).to_numpy().copy()
    if is_opt.any():
        price_sym[is_opt] = pos.loc[is_opt, "underlying_symbol"].astype(object).to_numpy()
    sym_list = [str(s) for s in price_sym]

    R = scenario_symbol_returns(sym_list, betas, rate_betas, scenarios, factor_loadings)
    r = np.maximum(R.to_numpy(float)[:, R.columns.get_indexer(sym_list)], -1.0)  # scenarios × positions (R columns unique)
    pnl = mv[None, :] * r

    if is_opt.any():
        if as_of is None or spots is None or vols is None:
            raise ValueError("option positions need as_of, spots and vols")
        opt = pos.loc[is_opt]
        und = [str(s) for s in opt["underlying_symbol"]]
        if "is_call" in opt.columns:
            is_call = opt["is_call"].astype(bool).to_numpy()
        else:
            is_call = opt["position_type"].astype(str).str.upper().isin(CALL_TYPES).to_numpy()
        s0 = lookup_values(spots, und, "spot")
        k = _numbers(opt["strike"])
        t = np.maximum(time_to_expiry_years(opt["expiration_date"], as_of), 0.0)
        v = lookup_values(vols, und, "vol")
        q = lookup_values(dividend_yields, und, "dividend_yield", default=0.0)
        qty = _numbers(opt["quantity"])
        vm = np.array([sc.volatility_multiplier for sc in scenarios], dtype=float)
        bp = np.array([sc.rates_bp for sc in scenarios], dtype=float)
        base = option_prices(pricer, s0, k, t, rate, v, q, is_call)  # price only (no Greeks) for the default pricer
        s1 = s0[None, :] * np.maximum(1.0 + r[:, is_opt], 1e-12)
        shocked = option_prices(
            pricer, s1, k[None, :], t[None, :], rate + bp[:, None] / 10_000.0, v[None, :] * vm[:, None], q[None, :], is_call[None, :]
        )
        pnl[:, is_opt] = (qty * CONTRACT_MULTIPLIER)[None, :] * (shocked - base[None, :])

    ids = [sc.id for sc in scenarios]
    position_pnl = pd.DataFrame(pnl, index=pd.Index(ids, name="scenario_id"), columns=pos.index)
    position_returns = pd.DataFrame(r, index=position_pnl.index, columns=pos.index)
    gross = float(np.abs(mv).sum())
    net = float(mv.sum())
    total = pnl.sum(axis=1)
    summary = pd.DataFrame(
        {
            "scenario_name": [sc.name for sc in scenarios],
            "category": [sc.category for sc in scenarios],
            "portfolio_pnl": total,
            "gross_exposure": gross,
            "net_value": net,
            "pnl_to_gross": total / gross if gross else np.nan,
            "pnl_to_net": total / net if net else np.nan,
        },
        index=position_pnl.index,
    )
    return StressTestResult(position_pnl=position_pnl, position_returns=position_returns, summary=summary)


def historical_replay_scenarios(
    prices: pd.DataFrame,
    lookback: int = 252,
    window: int = 20,
    benchmark: str = "SPY",
    n_scenarios: int = 1,
    rates_symbol: str = RATES_PROXY,
) -> list[Scenario]:
    """Worst `window`-session benchmark periods in the last `lookback` sessions, as scenarios.

    A period [t, t + window] is scored by the benchmark's window return P_{t+window}/P_t − 1; the
    `n_scenarios` worst non-overlapping periods are returned (worst first). Each scenario carries
    symbol_returns = P_end/P_start − 1 for every column with both prices (yield columns starting
    with '^' excluded), factor_shocks = realised returns of FACTOR_PROXIES, rates_bp = change of
    `rates_symbol` (percent) × 100, volatility_multiplier = realised benchmark daily-return vol in the
    window / over the `lookback` sessions ending with the window (a proxy for the implied-vol move).
    Category 'historical_replay'.

    Every field is a function of the window alone, never of the session the scenarios are built for, so
    a replay id names one definition whichever session found it (the multiplier's look-back reaches
    2 × lookback − window sessions before the newest row; rows that `prices` does not hold, or NaN, are
    left out of that vol).
    """
    px_all = by_session(prices)
    offset = max(len(px_all) - (int(lookback) + 1), 0)  # px = the look-back's rows, px_all.iloc[offset:]
    px = px_all.iloc[offset:]
    if benchmark not in px.columns:
        raise ValueError(f"benchmark {benchmark!r} not in prices")
    b_all = px_all[benchmark].to_numpy(float)
    b = b_all[offset:]
    if b.size <= window:
        return []
    win_ret = b[window:] / b[:-window] - 1.0  # start index t = 0 .. n − window − 1
    bench_ret = b[1:] / b[:-1] - 1.0
    all_ret = b_all[1:] / b_all[:-1] - 1.0  # all_ret[j] = return into row j + 1 of px_all
    taken = np.zeros(win_ret.size, dtype=bool)
    out: list[Scenario] = []
    scores = np.where(np.isfinite(win_ret), win_ret, np.inf)
    for _ in range(int(n_scenarios)):
        cand = np.where(taken, np.inf, scores)
        t = int(np.argmin(cand))
        if not np.isfinite(cand[t]):
            break
        taken[max(0, t - window + 1): t + window] = True  # windows overlapping [t, t + window]
        start, end = px.index[t], px.index[t + window]
        p0, p1 = px.iloc[t], px.iloc[t + window]
        rets = (p1 / p0 - 1.0)
        rets = rets[np.isfinite(rets.to_numpy(float)) & ~rets.index.astype(str).str.startswith("^")]
        factor_shocks = {f: float(rets[s]) for f, s in FACTOR_PROXIES.items() if s in rets.index}
        rates_bp = 0.0
        if rates_symbol in px.columns and np.isfinite(p0[rates_symbol]) and np.isfinite(p1[rates_symbol]):
            rates_bp = float((p1[rates_symbol] - p0[rates_symbol]) * 100.0)
        w_vol = np.nanstd(bench_ret[t: t + window], ddof=1)
        end_row = offset + t + window  # the window's last row in px_all
        base = all_ret[max(end_row - int(lookback), 0): end_row]  # the `lookback` returns up to the window's end
        base = base[np.isfinite(base)]
        base_vol = float(np.std(base, ddof=1)) if base.size > 1 else np.nan
        vol_mult = float(w_vol / base_vol) if base_vol > 0 and np.isfinite(w_vol) else 1.0
        out.append(
            Scenario(
                id=f"replay_worst_{window}d_{start:%Y%m%d}",
                name=f"Worst {window}-session {benchmark} window {start:%Y-%m-%d} to {end:%Y-%m-%d}",
                category="historical_replay",
                factor_shocks=factor_shocks,
                rates_bp=rates_bp,
                volatility_multiplier=vol_mult,
                description=f"{benchmark} {win_ret[t]:+.2%} over {window} sessions (realised returns per symbol)",
                symbol_returns={str(k): float(v) for k, v in rets.items()},
            )
        )
    return out


__all__ = [
    "FACTOR_PROXIES",
    "RATES_PROXY",
    "StressTestResult",
    "factor_moves",
    "historical_replay_scenarios",
    "run_stress_tests",
    "scenario_symbol_returns",
]
