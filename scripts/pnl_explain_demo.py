"""Measure daily P&L = Δ value and the P&L explanation on a demo book with the shipped real prices (no database).

    python scripts/pnl_explain_demo.py [data/imports/demo_hedgefundstyle@sigmasight.com] [sessions]

Marks as the time-series asset computes them (`analytics.snapshots.position_marks`): stocks at the adjusted close;
options by Black–Scholes–Merton with each session's OWN realised 63-session vol of the underlying and ^IRX rate,
q = 0 (the file provider has no dividends). For each session: daily P&L vs Δ total value (sessions without an
entry), Σ explain terms + residual vs Δ value, and the residual as a share of |Δ value| and of the gross of the
position P&Ls.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from sigmasight_onboarding.analytics.greeks import realised_volatility
from sigmasight_onboarding.analytics.pnl_explain import TERMS, explain_sessions
from sigmasight_onboarding.analytics.snapshots import portfolio_snapshot_series, position_marks
from sigmasight_onboarding.config import SHIPPED_MARKET_DATA


def main(folder: str = "data/imports/demo_hedgefundstyle@sigmasight.com", sessions: int = 30) -> None:
    book = pd.read_csv(Path(folder) / "portfolio.csv").rename(columns={"strike_price": "strike"})
    is_opt = book["position_type"].isin(["LC", "LP", "SC", "SP"])
    syms = sorted(set(book["underlying_symbol"].where(is_opt, book["symbol"])) | {"^IRX"})
    px = pd.read_parquet(SHIPPED_MARKET_DATA, filters=[("symbol", "in", syms)]).pivot(index="date", columns="symbol", values="adj_close")
    px.index = pd.to_datetime(px.index)
    px = px.sort_index()
    days = list(px.index[-(sessions + 1):])
    und = sorted(set(book.loc[is_opt, "underlying_symbol"]))
    vols = pd.DataFrame({d: realised_volatility(px.loc[:d, und], window=63) for d in days}).T
    rates = (px["^IRX"] / 100.0).ffill()
    series = portfolio_snapshot_series(book, px, days, rates, vols=vols)
    marks = position_marks(book, px, days, rates, vols=vols)
    rows = []
    for d0, d1 in zip(days[:-1], days[1:]):
        ex = explain_sessions(marks, d0, d1)
        s1, s0 = series.loc[d1], series.loc[d0]
        pnl = ex["pnl"].sum()
        rows.append({"date": d1.date(), "daily_pnl": s1["daily_pnl"], "dvalue": s1["total_value"] - s0["total_value"],
                     "entering": int(s1["num_entering"]), "explained": pnl, **{k: ex[k].sum() for k in TERMS},
                     "residual": ex["residual"].sum(),
                     "sum_gap": (ex[TERMS].sum(axis=1) + ex["residual"] - ex["pnl"]).abs().max(),
                     "res_pct_dvalue": 100 * abs(ex["residual"].sum()) / abs(pnl) if pnl else np.nan,
                     "res_pct_gross": 100 * abs(ex["residual"].sum()) / ex["pnl"].abs().sum()})
    out = pd.DataFrame(rows).set_index("date")
    pd.set_option("display.width", 250)
    print(out.round(2).to_string())
    no_entry = out[out["entering"] == 0]
    print(f"\nmax |daily_pnl − Δ total_value| over {len(no_entry)} sessions without an entry: "
          f"{(no_entry['daily_pnl'] - no_entry['dvalue']).abs().max():.2e} $")
    print(f"max |Σ terms + residual − pnl| per position: {out['sum_gap'].max():.2e} $")
    print(f"|residual| / |Δ value|: median {out['res_pct_dvalue'].median():.2f} %, max {out['res_pct_dvalue'].max():.2f} %; "
          f"sessions < 5 %: {(out['res_pct_dvalue'] < 5).sum()} of {len(out)}; / gross position P&L max {out['res_pct_gross'].max():.2f} %")


if __name__ == "__main__":
    main(*sys.argv[1:2], *(int(a) for a in sys.argv[2:3]))
