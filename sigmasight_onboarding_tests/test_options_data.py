"""Dividend yields and option quotes from the HTTP providers, replayed from vendor responses
(``vendor_responses/``) through httpx.MockTransport — no network. QuantLib is the pricing oracle."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

import httpx
import numpy as np
import pytest
import QuantLib as ql

from sigmasight_onboarding.analytics.greeks import (
    DIVIDEND_SOURCE_NONE,
    DIVIDEND_SOURCE_PROVIDER,
    black_scholes,
    compute_option_greeks,
    dividend_yields,
)
from sigmasight_onboarding.resources.price_providers import ProviderChain
from sigmasight_onboarding.resources.providers.fmp import FmpProvider
from sigmasight_onboarding.resources.providers.polygon import PolygonProvider

HERE = Path(__file__).resolve().parent / "vendor_responses"
AS_OF = date(2026, 8, 3)
KEY = "POLYSECRET-987zyx"
FMP_KEY = "FMPSECRET-abc123"


def load(name: str):
    return json.loads((HERE / name).read_text())


def respond(payload, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(payload).encode(), headers={"content-type": "application/json"})


def polygon(handler) -> PolygonProvider:
    return PolygonProvider(api_key=KEY, max_retries=0).with_hooks(transport=httpx.MockTransport(handler), sleep=lambda s: None,
                                                                  rng=random.Random(0))


def fmp(handler) -> FmpProvider:
    return FmpProvider(api_key=FMP_KEY, max_retries=0).with_hooks(transport=httpx.MockTransport(handler), sleep=lambda s: None,
                                                                  rng=random.Random(0))


def test_polygon_option_snapshot_quote_and_failure():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v3/snapshot/options/SPY/O:SPY261218P00700000":
            return respond(load("polygon_option_snapshot_SPY261218P00700000.json"))
        return respond(load("polygon_option_snapshot_not_found.json"), 404)

    quotes, failed = polygon(handler).option_quotes([("SPY261218P00700000", "SPY"), ("QQQ261218P00650000", "QQQ")])
    q = quotes["SPY261218P00700000"]
    raw = load("polygon_option_snapshot_SPY261218P00700000.json")["results"]
    assert q.mid == pytest.approx((raw["last_quote"]["bid"] + raw["last_quote"]["ask"]) / 2) and q.price_basis == "mid"
    assert q.vendor_implied_vol == pytest.approx(raw["implied_volatility"]) and q.underlying_price == raw["underlying_asset"]["price"]
    assert set(failed) == {"QQQ261218P00650000"} and KEY not in failed["QQQ261218P00650000"]
    assert all(r.url.params["apiKey"] == KEY for r in seen)


def test_polygon_and_fmp_dividends_give_the_trailing_12_month_yield():
    def poly_handler(request):
        assert request.url.path == "/v3/reference/dividends" and request.url.params["ticker"] == "SPY"
        return respond(load("polygon_dividends_SPY.json"))

    def fmp_handler(request):
        assert request.url.path == "/stable/dividends" and request.url.params["symbol"] == "KO"
        return respond(load("fmp_dividends_KO.json"))

    start = date(2025, 6, 29)
    spy, f1 = polygon(poly_handler).dividends(["SPY"], start, AS_OF)
    ko, f2 = fmp(fmp_handler).dividends(["KO"], start, AS_OF)
    assert not f1 and not f2
    assert len(ko["KO"]) == 4  # the 2025-06-13 ex-date is before `start`
    out = dividend_yields(["SPY", "KO", "XYZ"], [681.75, 70.0, 10.0], AS_OF, {"SPY": spy["SPY"], "KO": ko["KO"]})
    # by hand from the files: ex-dates in (2025-08-03, 2026-08-03]
    assert out.loc["SPY", "dividend_yield"] == pytest.approx((1.8323 + 1.6959 + 1.9966 + 1.7447) / 681.75, rel=1e-12)
    assert out.loc["KO", "dividend_yield"] == pytest.approx((0.53 + 0.53 + 0.51 + 0.51) / 70.0, rel=1e-12)
    assert out.loc["SPY", "dividend_yield_source"] == DIVIDEND_SOURCE_PROVIDER
    assert out.loc["XYZ", "dividend_yield"] == 0.0 and out.loc["XYZ", "dividend_yield_source"] == DIVIDEND_SOURCE_NONE


def test_chain_skips_providers_without_dividends_and_reports_why():
    class PricesOnly:
        name = "file"

    def handler(request):
        return respond(load("polygon_dividends_SPY.json")) if request.url.params.get("ticker") == "SPY" else respond(
            {"status": "ERROR", "error": "bad ticker"})

    chain = ProviderChain([PricesOnly(), polygon(handler)])
    served, failed = chain.dividends(["SPY", "ZZZ"], date(2025, 6, 29), AS_OF)
    assert set(served) == {"SPY"} and "polygon" in failed["ZZZ"]
    only_file = ProviderChain([PricesOnly()])
    served, failed = only_file.dividends(["SPY"], date(2025, 6, 29), AS_OF)
    assert served == {} and "no provider offers dividends" in failed["SPY"]


def ql_put(spot, strike, days, r, q, vol):
    today = ql.Date(3, 8, 2026)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    option = ql.VanillaOption(ql.PlainVanillaPayoff(ql.Option.Put, strike), ql.EuropeanExercise(today + days))
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(spot)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, q, dc, ql.Continuous)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, r, dc, ql.Continuous)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), vol, dc)),
    )
    option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
    return option, process


def test_implied_vol_from_the_quote_with_dividend_yield_matches_quantlib():
    """The SPY 700 put quote → our BSM implied vol with the provider's dividend yield = QuantLib's; Greeks at
    that vol = QuantLib's (q > 0); with q = 0 the implied vol differs (the dividend matters for index puts)."""
    snap = load("polygon_option_snapshot_SPY261218P00700000.json")["results"]
    divs = load("polygon_dividends_SPY.json")["results"]
    spot = snap["underlying_asset"]["price"]
    mid = snap["last_quote"]["midpoint"]
    q = dividend_yields(["SPY"], [spot], AS_OF, {"SPY": [(d["ex_dividend_date"], d["cash_amount"]) for d in divs]}).loc["SPY", "dividend_yield"]
    assert q > 0.009
    r, days = 0.041, (date(2026, 12, 18) - AS_OF).days
    out = compute_option_greeks(quantity=[60], strike=[700.0], expiry=["2026-12-18"], is_call=[False], spot=[spot], as_of=AS_OF,
                                rate=r, vol=[0.30], dividend_yield=[q], market_price=[mid])
    row = out.iloc[0]
    assert row["volatility_source"] == "implied"
    option, process = ql_put(spot, 700.0, days, r, q, 0.2)
    ref_iv = option.impliedVolatility(mid, process, 1e-12, 1000, 1e-6, 4.0)
    assert row["implied_vol"] == pytest.approx(ref_iv, rel=1e-8)
    option, _ = ql_put(spot, 700.0, days, r, q, ref_iv)
    assert row["price"] == pytest.approx(mid, rel=1e-9)
    assert row["delta"] == pytest.approx(option.delta(), rel=1e-7)
    assert row["gamma"] == pytest.approx(option.gamma(), rel=1e-7)
    assert row["vega"] == pytest.approx(option.vega() * 0.01, rel=1e-7)
    assert row["theta"] == pytest.approx(option.theta() / 365.0, rel=1e-7)
    assert row["rho"] == pytest.approx(option.rho() * 0.01, rel=1e-7)
    no_div = compute_option_greeks(quantity=[60], strike=[700.0], expiry=["2026-12-18"], is_call=[False], spot=[spot], as_of=AS_OF,
                                   rate=r, vol=[0.30], dividend_yield=[0.0], market_price=[mid]).iloc[0]
    assert abs(no_div["implied_vol"] - row["implied_vol"]) > 5e-4
    # and the fallback: no quote → realised vol, labelled
    fb = compute_option_greeks(quantity=[60], strike=[700.0], expiry=["2026-12-18"], is_call=[False], spot=[spot], as_of=AS_OF,
                               rate=r, vol=[0.30], dividend_yield=[q], market_price=[np.nan]).iloc[0]
    assert fb["volatility_source"] == "realised_63d" and fb["implied_vol"] == 0.30
    assert fb["price"] == pytest.approx(float(black_scholes(spot, 700.0, days / 365.0, r, 0.30, q, False)["price"]), rel=1e-12)
