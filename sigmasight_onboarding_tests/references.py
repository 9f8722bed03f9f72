"""Independent references shared by the analytics tests (test-only: QuantLib, real prices)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import QuantLib as ql

MARKET = Path(__file__).resolve().parents[1] / "data" / "market" / "daily_adj_close_extract.parquet"


def real_price_matrix(symbols=None) -> pd.DataFrame:
    """Real adjusted closes of the shipped extract as a date × symbol matrix."""
    filters = [("symbol", "in", list(symbols))] if symbols is not None else None
    df = pd.read_parquet(MARKET, filters=filters)
    return df.pivot(index="date", columns="symbol", values="adj_close").sort_index()


def _ql_option(spot, strike, as_of: date, expiry: date, rate, vol, is_call, q=0.0):
    """A QuantLib European option on QuantLib's analytic BSM engine (Act/365F, flat continuous curves)."""
    today = ql.Date(as_of.day, as_of.month, as_of.year)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    payoff = ql.PlainVanillaPayoff(ql.Option.Call if is_call else ql.Option.Put, float(strike))
    option = ql.VanillaOption(payoff, ql.EuropeanExercise(ql.Date(expiry.day, expiry.month, expiry.year)))
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(float(spot))),
        ql.YieldTermStructureHandle(ql.FlatForward(today, q, dc, ql.Continuous)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, rate, dc, ql.Continuous)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), vol, dc)),
    )
    option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
    return option


def ql_european(spot, strike, as_of: date, expiry: date, rate, vol, is_call, q=0.0) -> tuple[float, float]:
    """(price, delta) from QuantLib's analytic European engine (Act/365F, flat continuous curves)."""
    option = _ql_option(spot, strike, as_of, expiry, rate, vol, is_call, q)
    return option.NPV(), option.delta()


def ql_greeks(spot, strike, as_of: date, expiry: date, rate, vol, is_call, q=0.0) -> dict[str, float]:
    """Price and per-share Greeks from QuantLib in the units of ``analytics.greeks``: delta per $1, gamma per
    $1², vega $ per vol point (QuantLib per 1.00 × 0.01), theta $ per calendar day (QuantLib per year / 365),
    rho $ per 1 % rate (QuantLib per 1.00 × 0.01)."""
    option = _ql_option(spot, strike, as_of, expiry, rate, vol, is_call, q)
    return {"price": option.NPV(), "delta": option.delta(), "gamma": option.gamma(), "vega": option.vega() * 0.01,
            "theta": option.theta() / 365.0, "rho": option.rho() * 0.01}
