"""Derived numbers of the onboarding report: totals, exposures, the reconstructed VaR P&L, the
data-quality table, the four chat-verification answers and the warnings.

Pure pandas/numpy on a `ReportData`; no database, no plotting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sigmasight_onboarding.analytics.returns import simple_returns
from sigmasight_onboarding.domain import MIN_COVERAGE, POSITION_TYPES
from sigmasight_onboarding.finite import finite_float as _f
from sigmasight_onboarding.report.data import (
    BENCHMARK,
    COVERAGE_SESSIONS,
    MIN_SNAPSHOT_RETURNS,
    REFERENCE_SYMBOLS,
    RETURN_SESSIONS,
    ReportData,
)

QUESTIONS = {
    "top_holdings": "What are my top 5 holdings by value?",
    "factor_exposures": "Show me my portfolio's factor exposures",
    "spy_correlation": "What's my portfolio's correlation with the S&P 500?",
    "stress_test": "Run a stress test on my portfolio",
}
TYPE_ORDER = list(POSITION_TYPES)
TYPE_NAMES = {"LONG": "Long stock", "SHORT": "Short stock", "LC": "Long call", "LP": "Long put",
              "SC": "Short call", "SP": "Short put"}
UNTAGGED = "(untagged)"
COVERAGE_WARN = MIN_COVERAGE


@dataclass
class Analysis:
    totals: dict[str, Any] = field(default_factory=dict)
    by_type: pd.DataFrame = field(default_factory=pd.DataFrame)  # type, count, long, short
    by_tag: pd.DataFrame = field(default_factory=pd.DataFrame)  # tag, count, long, short
    var_pnl: pd.Series | None = None  # reconstructed delta P&L, dollars, by date
    var_note: str = ""
    pnl: dict[str, Any] = field(default_factory=dict)  # `pnl_reconciliation`: value change, daily P&L, explain
    quality: pd.DataFrame = field(default_factory=pd.DataFrame)
    synthetic: list[str] = field(default_factory=list)
    answers: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------- exposures


def totals(positions: pd.DataFrame) -> dict[str, Any]:
    mv = positions["market_value"] if "market_value" in positions else pd.Series(dtype=float)
    long = float(mv[mv > 0].sum())
    short = float(mv[mv < 0].sum())
    counts = positions["position_type"].value_counts().to_dict() if len(positions) else {}
    return {
        "net_value": long + short, "gross_exposure": long - short, "long_value": long, "short_value": short,
        "positions": int(len(positions)), "unrealized_pnl": float(positions["unrealized_pnl"].sum()) if len(positions) else 0.0,
        "by_type": {t: int(counts.get(t, 0)) for t in TYPE_ORDER if counts.get(t, 0)},
        "unpriced": sorted(positions.loc[positions["market_value"].isna(), "symbol"]) if len(positions) else [],
    }


def exposure_by(positions: pd.DataFrame, key: str) -> pd.DataFrame:
    """Long (> 0) and short (< 0) market value per tag or per position type.

    By tag, a position with several tags counts in each of them (tag totals overlap); untagged
    positions are grouped under '(untagged)'.
    """
    cols = [key, "count", "long", "short"]
    if positions.empty:
        return pd.DataFrame(columns=cols)
    frame = positions[["symbol", "position_type", "market_value", "tags"]].copy()
    if key == "tag":
        frame["tag"] = frame["tags"].map(lambda t: list(t) if t else [UNTAGGED])
        frame = frame.explode("tag")
    else:
        frame = frame.rename(columns={"position_type": "type"})
    mv = frame["market_value"].fillna(0.0)
    frame["long"], frame["short"] = mv.clip(lower=0), mv.clip(upper=0)
    out = frame.groupby(key).agg(count=("symbol", "size"), long=("long", "sum"), short=("short", "sum")).reset_index()
    if key == "type":
        out["_o"] = out["type"].map({t: i for i, t in enumerate(TYPE_ORDER)}).fillna(99)
        return out.sort_values("_o").drop(columns="_o").reset_index(drop=True)
    out["_g"] = out["long"] - out["short"]
    return out.sort_values(["_g", "tag"], ascending=[False, True]).drop(columns="_g").reset_index(drop=True)


# --------------------------------------------------------------------------------- returns


def benchmark_returns(data: ReportData) -> pd.Series:
    """SPY daily simple returns on the report's NYSE sessions (NaN where a price is missing)."""
    if BENCHMARK not in data.prices.columns or len(data.prices) < 2:
        return pd.Series(dtype=float)
    return simple_returns(data.prices[[BENCHMARK]])[BENCHMARK]


def reconstructed_pnl(data: ReportData) -> tuple[pd.Series | None, str]:
    """Delta-approximate daily P&L of today's book: P&L_t = Σ_i exposure_i × r_i,t.

    exposure_i = portfolio_risk_metrics.details['exposures'] (dollar delta per underlying);
    r = daily simple returns of market_data_cache closes over the RETURN_SESSIONS sessions up to
    as_of; days where any exposure symbol lacks a return are dropped (as the risk engine does).
    Returns (series or None, note).
    """
    exposures = ((data.risk or {}).get("details") or {}).get("exposures") or {}
    w = pd.Series({k: _f(v) for k, v in exposures.items()}, dtype=float).dropna()
    if w.empty:
        return None, "no stored exposures (portfolio_risk_metrics.details['exposures'])"
    if data.prices.empty or len(data.prices) < 2:
        return None, "no cached prices for the exposure symbols"
    have = [s for s in w.index if s in data.prices.columns and data.prices[s].notna().any()]
    dropped = sorted(set(w.index) - set(have))
    if not have:
        return None, "no cached prices for the exposure symbols"
    rets = simple_returns(data.prices[have]).tail(RETURN_SESSIONS)
    rets = rets[np.isfinite(rets.to_numpy(float)).all(axis=1)]
    if len(rets) < 2:
        return None, "fewer than 2 sessions with complete returns"
    pnl = pd.Series(rets.to_numpy(float) @ w[have].to_numpy(float), index=rets.index, name="pnl")
    note = f"{len(pnl)} sessions {pnl.index[0]} .. {pnl.index[-1]}"
    if dropped:
        note += f"; no prices for {', '.join(dropped)} (left out)"
    return pnl, note


def spy_correlation(data: ReportData, var_pnl: pd.Series | None) -> dict[str, Any]:
    """Pearson ρ of the portfolio's daily returns with SPY's.

    Source: portfolio_snapshots.daily_return when ≥ MIN_SNAPSHOT_RETURNS sessions have one, else the
    reconstructed delta P&L over RETURN_SESSIONS sessions (scaled by gross; ρ is scale-free).
    """
    out: dict[str, Any] = {"question": QUESTIONS["spy_correlation"], "correlation": None, "source": None,
                           "n_observations": 0, "start": None, "end": None,
                           "beta_spy": _f((data.risk or {}).get("beta_spy")),
                           "beta_spy_source": "portfolio_risk_metrics.beta_spy (252 sessions, full revaluation)"}
    spy = benchmark_returns(data)
    if spy.empty:
        out["note"] = "no SPY prices in market_data_cache"
        return out
    snaps = data.snapshots.dropna(subset=["daily_return"]) if len(data.snapshots) else data.snapshots
    if len(snaps) >= MIN_SNAPSHOT_RETURNS:
        port = pd.Series(snaps["daily_return"].to_numpy(float), index=list(snaps["snapshot_date"]))
        out["source"] = "portfolio_snapshots.daily_return"
        out["note"] = f"daily returns of the stored snapshots (last {len(snaps)} sessions up to the as-of date) vs SPY"
    elif var_pnl is not None:
        gross = _f((data.risk or {}).get("gross_exposure")) or 1.0
        port = var_pnl / gross
        out["source"] = "reconstructed_pnl"
        out["note"] = (f"only {len(snaps)} snapshot session(s) with a return (< {MIN_SNAPSHOT_RETURNS}): the delta-approximate "
                       f"P&L of today's positions over up to {RETURN_SESSIONS} sessions, divided by gross, vs SPY")
    else:
        out["note"] = (f"only {len(snaps)} snapshot session(s) with a return (< {MIN_SNAPSHOT_RETURNS}) and no stored "
                       "exposures to reconstruct a series: not yet computable")
        return out
    joined = pd.concat([port.rename("p"), spy.rename("m")], axis=1, join="inner").dropna()
    out["n_observations"] = int(len(joined))
    if len(joined) < 3 or joined["p"].std() == 0 or joined["m"].std() == 0:
        out["note"] += "; too few overlapping sessions for a correlation"
        return out
    out["correlation"] = float(np.corrcoef(joined["p"].to_numpy(float), joined["m"].to_numpy(float))[0, 1])
    out["start"], out["end"] = joined.index[0].isoformat(), joined.index[-1].isoformat()
    return out


# --------------------------------------------------------------------------------- answers


def top_holdings(positions: pd.DataFrame, n: int = 5) -> dict[str, Any]:
    out: dict[str, Any] = {"question": QUESTIONS["top_holdings"], "holdings": []}
    if positions.empty:
        out["note"] = "no active positions"
        return out
    priced = positions.dropna(subset=["market_value"])
    gross = float(priced["market_value"].abs().sum())
    order = priced.assign(_abs=priced["market_value"].abs()).sort_values(["_abs", "symbol"], ascending=[False, True])
    out["holdings"] = [
        {"symbol": r.symbol, "position_type": r.position_type, "market_value": float(r.market_value),
         "share_of_gross": float(abs(r.market_value) / gross) if gross else None}
        for r in order.head(n).itertuples()
    ]
    out["gross_exposure"] = gross
    out["ranking"] = "by |market value| (shorts rank by size); share = |market value| / gross exposure"
    return out


def factor_answer(data: ReportData) -> dict[str, Any]:
    out: dict[str, Any] = {"question": QUESTIONS["factor_exposures"],
                           "as_of": data.factor_date.isoformat() if data.factor_date else None,
                           "multivariate": {}, "single": {}}
    if data.factor_exposures.empty:
        out["note"] = "factor exposures not computed yet"
        return out
    for r in data.factor_exposures.itertuples():
        if r.model in ("multivariate", "single"):
            out[r.model][r.factor] = {"dollars": _f(r.dollars), "beta": _f(r.beta_gross), "beta_net": _f(r.beta_net)}
    out["note"] = ("dollars = Σ position exposure × beta (options delta-adjusted); beta = dollars / gross exposure, "
                   "beta_net = dollars / net value. Multivariate: SPY plus orthogonalised styles (each style ETF net of SPY and the earlier styles), so its "
                   "Market beta equals the single-factor one for positions with a full window; single: one ETF at a time")
    m, s = out["multivariate"].get("Market"), out["single"].get("Market")
    if m and s and m["dollars"] is not None and s["dollars"] is not None:
        out["market_reconciliation"] = {"single_dollars": s["dollars"], "multivariate_dollars": m["dollars"],
                                        "difference": m["dollars"] - s["dollars"]}
    return out


def stress_answer(data: ReportData) -> dict[str, Any]:
    out: dict[str, Any] = {"question": QUESTIONS["stress_test"],
                           "as_of": data.stress_date.isoformat() if data.stress_date else None, "scenarios": {}}
    if data.stress.empty:
        out["note"] = "stress tests not computed yet"
        return out
    for r in data.stress.itertuples():
        out["scenarios"][r.scenario_id] = {"name": r.name, "category": r.category, "pnl": _f(r.pnl),
                                           "pct_gross": _f(r.pct_gross)}
    worst = data.stress.iloc[0]
    out["worst"] = {"scenario_id": worst["scenario_id"], "pnl": _f(worst["pnl"])}
    out["note"] = "signed P&L in dollars (negative = loss), sorted worst first; pct_gross = P&L / gross exposure"
    return out


# --------------------------------------------------------------------------------- data quality


def data_quality(data: ReportData) -> tuple[pd.DataFrame, list[str]]:
    """One row per price symbol (held first, then reference series): sources, 90-session coverage,
    known gaps, quality flags and extreme betas. Returns (frame, symbols with synthetic rows)."""
    held = data.price_symbols
    symbols = held + [s for s in REFERENCE_SYMBOLS if s not in held]
    recent = data.prices.tail(COVERAGE_SESSIONS)
    n_recent = len(recent)
    rows, synthetic = [], []
    pf = data.position_factors
    positions = data.positions
    for sym in symbols:
        src = data.sources.loc[sym] if sym in data.sources.index else pd.Series(dtype=int)
        src = src[src > 0]
        if src.get("synthetic", 0):
            synthetic.append(sym)
        cov = float(recent[sym].notna().sum() / n_recent) if n_recent and sym in recent.columns else 0.0
        gaps = data.gaps[data.gaps["symbol"] == sym] if len(data.gaps) else data.gaps
        flags: set[str] = set()
        extreme: list[str] = []
        if sym in held and len(positions):
            pos_syms = set(positions.loc[(positions["symbol"] == sym) | (positions["underlying_symbol"] == sym), "symbol"])
            sub = pf[pf["symbol"].isin(pos_syms)] if len(pf) else pf
            if len(sub):
                flags |= {f for f in sub["quality_flag"] if f and f != "full_history"}
                ext = sub[sub["extreme_beta"]].drop_duplicates(["model", "factor"])
                extreme = [f"{r.factor} ({r.model}) {r.beta:+.2f}" for r in ext.itertuples()]
            rb = data.rate_betas[data.rate_betas["symbol"].isin(pos_syms)] if len(data.rate_betas) else data.rate_betas
            if len(rb):
                flags |= {f"rates:{f}" for f in rb["quality_flag"] if f and f != "full_history"}
        rows.append({
            "symbol": sym, "role": "held" if sym in held else "reference",
            "sources": ", ".join(f"{k} {int(v)}" for k, v in src.items()) or "none",
            "synthetic": bool(src.get("synthetic", 0)),
            "coverage_90": cov, "gaps": int(len(gaps)),
            "gap_dates": ", ".join(str(d) for d in list(gaps["date"])[:5]) + (" …" if len(gaps) > 5 else ""),
            "flags": ", ".join(sorted(flags)) or "ok", "extreme_betas": "; ".join(extreme),
        })
    return pd.DataFrame(rows), synthetic


# --------------------------------------------------------------------------------- assembly


EXPLAIN_TERMS = ["delta_pnl", "gamma_pnl", "vega_pnl", "theta_pnl", "rates_pnl", "residual"]
OPTION_TYPE_SET = {"LC", "LP", "SC", "SP"}


def pnl_reconciliation(snapshots: pd.DataFrame, explain: pd.DataFrame, positions: pd.DataFrame) -> dict[str, Any]:
    """How the window's P&L figures reconcile (dollars).

    The stored daily P&L of the FIRST session is its move from the session before the window (not part of
    the window's value change), so it is reported apart: over sessions 2..N,

        value change (last − first total_value) = Σ daily P&L (sessions 2..N) + capital of the positions entered
        in the window (quantity × multiplier × entry price, signed: a short receives premium),

    exactly (each session valued with its own marks). Σ daily P&L = market P&L of the book held over each night
    (= Σ of the stored P&L explanation) + entry P&L (positions entering: their P&L since the entry price).
    The explanation is given for the window (sessions 2..N) and the last session; residual_pct = |residual| /
    |explained P&L| × 100.
    """
    out: dict[str, Any] = {}
    if snapshots is None or snapshots.empty:
        return out
    s = snapshots.reset_index(drop=True)
    first, last = s["snapshot_date"].iloc[0], s["snapshot_date"].iloc[-1]
    out.update(first_date=first, last_date=last, sessions=len(s), value_first=_f(s["total_value"].iloc[0]),
               value_last=_f(s["total_value"].iloc[-1]), first_day_pnl=_f(s["daily_pnl"].iloc[0]))
    out["value_change"] = _f(s["total_value"].iloc[-1] - s["total_value"].iloc[0])
    window = s.iloc[1:]
    out["window_pnl"] = _f(window["daily_pnl"].sum(min_count=1)) if len(window) else 0.0
    out["window_pnl_complete"] = bool(window["daily_pnl"].notna().all())
    capital, entered = 0.0, []
    if positions is not None and len(positions) and "entry_date" in positions:
        ed = pd.to_datetime(positions["entry_date"]).dt.date
        inside = positions[(ed > first) & (ed <= last)]
        mult = np.where(inside["position_type"].isin(OPTION_TYPE_SET), 100.0, 1.0)
        capital = float((inside["quantity"].astype(float) * mult * inside["entry_price"].astype(float)).sum())
        entered = sorted(inside["symbol"].astype(str))
    out["entry_capital"], out["entered"] = capital, entered
    if out["value_change"] is not None and out["window_pnl"] is not None:
        out["reconciliation_gap"] = out["value_change"] - capital - out["window_pnl"]
    if explain is not None and len(explain):
        ex = explain.copy()
        ex["calculation_date"] = pd.to_datetime(ex["calculation_date"]).dt.date
        win = ex[(ex["calculation_date"] > first) & (ex["calculation_date"] <= last)]
        lst = ex[ex["calculation_date"] == last]
        for key, part in (("window", win), ("last", lst)):
            if part.empty:
                continue
            tot = {t: float(part[t].sum()) for t in ["pnl", *EXPLAIN_TERMS]}
            tot["residual_pct"] = abs(tot["residual"]) / abs(tot["pnl"]) * 100 if tot["pnl"] else None
            tot["gross_position_pnl"] = float(part["pnl"].abs().sum())
            out[f"explain_{key}"] = tot
        if "explain_window" in out and out["window_pnl"] is not None:
            out["entry_pnl"] = out["window_pnl"] - out["explain_window"]["pnl"]
        if "explain_last" in out:
            out["last_daily_pnl"] = _f(s["daily_pnl"].iloc[-1])
    return out


def analyse(data: ReportData) -> Analysis:
    a = Analysis()
    w = a.warnings
    w.extend(data.warnings)
    pos = data.positions
    if len(pos):
        a.totals = totals(pos)
        a.by_type = exposure_by(pos, "type")
        a.by_tag = exposure_by(pos, "tag")
        if a.totals["unpriced"]:
            w.append(f"{len(a.totals['unpriced'])} position(s) have no market value yet: {', '.join(a.totals['unpriced'])}")
    else:
        a.totals = totals(pd.DataFrame(columns=["symbol", "position_type", "market_value", "unrealized_pnl"]))

    as_of = data.as_of
    if data.factor_exposures.empty:
        w.append("factor exposures not computed yet (factor_exposures has no row up to the as-of date)")
    elif data.factor_date != as_of:
        w.append(f"factor exposures are from {data.factor_date}, not the as-of date {as_of}")
    if data.correlation is None:
        w.append("correlations not computed yet (no correlation_calculations row up to the as-of date)")
    elif data.correlation["calculation_date"] != as_of:
        w.append(f"correlations are from {data.correlation['calculation_date']}, not the as-of date {as_of}")
    if data.snapshots.empty:
        w.append("no portfolio snapshots up to the as-of date: the 30-session value/P&L history is not available")
    elif len(data.snapshots) < 30:
        w.append(f"only {len(data.snapshots)} snapshot session(s) up to the as-of date (30 wanted)")
    a.pnl = pnl_reconciliation(data.snapshots, data.pnl_explain, pos)
    if len(data.snapshots) > 1 and data.pnl_explain.empty:
        w.append("P&L explanation not computed yet (no onb_position_pnl_explain rows for the snapshot sessions)")
    if data.risk is None:
        w.append("risk metrics not computed yet (no portfolio_risk_metrics row up to the as-of date)")
    else:
        if data.risk["calculation_date"] != as_of:
            w.append(f"risk metrics are from {data.risk['calculation_date']}, not the as-of date {as_of}")
        if data.risk.get("quality_flag") != "ok":
            w.append(f"risk metrics quality flag: {data.risk.get('quality_flag')} "
                     f"({data.risk.get('n_observations')} observations): VaR not available")
    if data.stress.empty:
        w.append("stress tests not computed yet (no stress_test_results row up to the as-of date)")
    elif data.stress_date != as_of:
        w.append(f"stress tests are from {data.stress_date}, not the as-of date {as_of}")
    if len(data.greeks):
        models = data.greeks[data.greeks["price_source"] == "model"]
        if len(models):
            w.append(f"{len(models)} option(s) valued with Black–Scholes (model prices, realised volatility): no option quotes")

    if data.risk is not None and data.risk.get("quality_flag") == "ok":
        a.var_pnl, a.var_note = reconstructed_pnl(data)
        if a.var_pnl is None:
            w.append(f"VaR histogram not drawn: {a.var_note}")
    a.quality, a.synthetic = data_quality(data)
    if a.synthetic:
        w.append(f"SYNTHETIC PRICES used for {', '.join(a.synthetic)}: not real market data — analytics of these symbols "
                 "are illustrative only")
    if len(a.quality):
        held = a.quality[a.quality["role"] == "held"]
        low = held[held["coverage_90"] < COVERAGE_WARN]
        if len(low):
            w.append(f"price coverage below {COVERAGE_WARN:.0%} over the last {COVERAGE_SESSIONS} sessions: "
                     + ", ".join(f"{r.symbol} {r.coverage_90:.0%}" for r in low.itertuples()))
        gapped = a.quality[a.quality["gaps"] > 0]
        if len(gapped):
            w.append("known market-data gaps: " + ", ".join(f"{r.symbol} ({r.gaps})" for r in gapped.itertuples()))
        flagged = a.quality[a.quality["flags"] != "ok"]
        if len(flagged):
            w.append("history quality flags: " + ", ".join(f"{r.symbol} [{r.flags}]" for r in flagged.itertuples()))
        extreme = a.quality[a.quality["extreme_betas"] != ""]
        if len(extreme):
            w.append("extreme betas (|beta| > 3, not clipped): " + ", ".join(f"{r.symbol}" for r in extreme.itertuples()))

    correlation = spy_correlation(data, a.var_pnl if a.var_pnl is not None else _fallback_pnl(data))
    if correlation["correlation"] is None:
        w.append(f"S&P 500 correlation not available: {correlation.get('note')}")
    a.answers = {
        "top_holdings": top_holdings(pos),
        "factor_exposures": factor_answer(data),
        "spy_correlation": correlation,
        "stress_test": stress_answer(data),
    }
    return a


def _fallback_pnl(data: ReportData) -> pd.Series | None:
    """The reconstructed series even when the risk row is flagged (exposures may still be stored)."""
    pnl, _note = reconstructed_pnl(data)
    return pnl


__all__ = ["Analysis", "QUESTIONS", "analyse", "exposure_by", "reconstructed_pnl", "spy_correlation", "top_holdings"]
