"""Measure the P&L explanation on a demo book with the shipped real prices (no database).

    python scripts/pnl_explain_demo.py [data/imports/demo_hedgefundstyle@sigmasight.com] [sessions]

Marks as the onboarding computes them: stocks at the adjusted close; options by Black–Scholes–Merton with
the realised 63-session vol of the underlying, ^IRX as the rate, q = 0 (the file provider has no
dividends). For each pair of consecutive sessions after the last entry date: Σ terms + residual vs Δvalue
and the residual as a share of |Δvalue|.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from sigmasight_onboarding.analytics.greeks import compute_option_greeks, realised_volatility
from sigmasight_onboarding.analytics.pnl_explain import TERMS, explain_pnl, explain_total
from sigmasight_onboarding.config import SHIPPED_MARKET_DATA


def marks(book: pd.DataFrame, px: pd.DataFrame, day) -> pd.DataFrame:
    hist = px.loc[:day]
    spot = hist.iloc[-1]
    rate = float(spot["^IRX"]) / 100.0
    out = pd.DataFrame(index=book.index)
    out["spot"] = book["price_symbol"].map(spot.to_dict()).astype(float)
    out["quantity"] = book["quantity"].astype(float)
    out["multiplier"] = np.where(book["is_option"], 100, 1)
    out["price"], out["delta"] = out["spot"], 1.0
    for c in ("gamma", "vega", "theta", "rho"):
        out[c] = 0.0
    out["vol"], out["rate"] = np.nan, rate
    opt = book[book["is_option"]]
    vols = realised_volatility(hist[sorted(set(opt["price_symbol"]))], window=63)
    g = compute_option_greeks(quantity=opt["quantity"], strike=opt["strike_price"].astype(float), expiry=opt["expiration_date"],
                              is_call=opt["position_type"].isin(["LC", "SC"]), spot=out.loc[opt.index, "spot"], as_of=day,
                              rate=rate, vol=opt["price_symbol"].map(vols.to_dict()).astype(float), index=opt.index)
    for c in ("price", "delta", "gamma", "vega", "theta", "rho"):
        out.loc[opt.index, c] = g[c]
    out.loc[opt.index, "vol"] = g["implied_vol"]
    return out


def main(folder: str = "data/imports/demo_hedgefundstyle@sigmasight.com", sessions: int = 20) -> None:
    book = pd.read_csv(Path(folder) / "portfolio.csv")
    book["is_option"] = book["position_type"].isin(["LC", "LP", "SC", "SP"])
    book["price_symbol"] = book["underlying_symbol"].where(book["is_option"], book["symbol"])
    syms = sorted(set(book["price_symbol"]) | {"^IRX"})
    px = pd.read_parquet(SHIPPED_MARKET_DATA, filters=[("symbol", "in", syms)]).pivot(index="date", columns="symbol", values="adj_close").sort_index()
    days = [d for d in px.index if pd.Timestamp(d) > pd.Timestamp(book["entry_date"].max())][-(sessions + 1):]
    rows = []
    for d0, d1 in zip(days[:-1], days[1:]):
        m0, m1 = marks(book, px, d0), marks(book, px, d1)
        ex = explain_pnl(m0, m1, calendar_days=(pd.Timestamp(d1) - pd.Timestamp(d0)).days)
        t = explain_total(ex)
        gap = round(t[TERMS].sum() + t["residual"] - t["pnl"], 2)
        rows.append({"date": d1, "dvalue": t["value_current"] - t["value_previous"], "pnl": t["pnl"], **{k: t[k] for k in TERMS},
                     "residual": t["residual"], "sum_gap_cents": gap * 100,
                     "residual_pct_of_dvalue": 100 * abs(t["residual"]) / abs(t["pnl"]) if t["pnl"] else np.nan,
                     "options_residual_pct": 100 * ex.loc[book.index[book["is_option"]], "residual"].abs().sum()
                     / max(ex.loc[book.index[book["is_option"]], "pnl"].abs().sum(), 1e-9)})
    out = pd.DataFrame(rows).set_index("date")
    pd.set_option("display.width", 200)
    print(out.round(2).to_string())
    print(f"\nmax |Σ terms + residual − Δvalue| = {out['sum_gap_cents'].abs().max():.0f} cents over {len(out)} sessions")
    print(f"median |residual| / |Δvalue| = {out['residual_pct_of_dvalue'].median():.3f} %, max = {out['residual_pct_of_dvalue'].max():.3f} %")


if __name__ == "__main__":
    main(*sys.argv[1:2], *(int(a) for a in sys.argv[2:3]))
