"""Reference tests for analytics.greeks: QuantLib AnalyticEuropeanEngine is the independent oracle."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import QuantLib as ql

from sigmasight_onboarding.analytics.greeks import (
    black_scholes,
    compute_option_greeks,
    implied_volatility,
    realised_volatility,
    risk_free_rate_from_irx,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "market" / "daily_adj_close_extract.parquet"


def load_prices(symbols: list[str]) -> pd.DataFrame:
    df = pd.read_parquet(DATA, filters=[("symbol", "in", list(symbols))])
    return df.pivot(index="date", columns="symbol", values="adj_close").sort_index()[list(symbols)]


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return load_prices(["AAPL", "MSFT", "TSLA", "NVDA", "^IRX"])


# ------------------------------------------------------------------------------------------------
# QuantLib oracle
# ------------------------------------------------------------------------------------------------
QL_TODAY = ql.Date(15, 1, 2025)


def ql_option(spot, strike, days, rate, q, vol, is_call):
    ql.Settings.instance().evaluationDate = QL_TODAY
    dc = ql.Actual365Fixed()
    payoff = ql.PlainVanillaPayoff(ql.Option.Call if is_call else ql.Option.Put, float(strike))
    option = ql.VanillaOption(payoff, ql.EuropeanExercise(QL_TODAY + int(days)))
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(float(spot))),
        ql.YieldTermStructureHandle(ql.FlatForward(QL_TODAY, float(q), dc, ql.Continuous)),
        ql.YieldTermStructureHandle(ql.FlatForward(QL_TODAY, float(rate), dc, ql.Continuous)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(QL_TODAY, ql.NullCalendar(), float(vol), dc)),
    )
    option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
    return option, process


def ql_greeks(spot, strike, days, rate, q, vol, is_call) -> dict[str, float]:
    option, _ = ql_option(spot, strike, days, rate, q, vol, is_call)
    return {
        "price": option.NPV(),
        "delta": option.delta(),
        "gamma": option.gamma(),
        "theta": option.theta() / 365.0,  # QuantLib: per year
        "vega": option.vega() * 0.01,  # QuantLib: per 1.0 of vol
        "rho": option.rho() * 0.01,  # QuantLib: per 1.0 of rate
    }


GRID = list(
    itertools.product(
        [80.0, 97.0, 100.0, 103.0, 125.0],  # strikes vs spot 100: ITM/ATM/OTM for calls and puts
        [1, 7, 30, 182, 730],  # calendar days to expiry
        [True, False],
        [0.0, 0.03],  # dividend yield
        [0.12, 0.45],  # vol
    )
)


def test_black_scholes_matches_quantlib_price_and_all_greeks():
    spot, rate = 100.0, 0.045
    k, d, c, q, v = (np.array(x) for x in zip(*GRID))
    ours = black_scholes(spot, k, d / 365.0, rate, v, q, c)  # one vectorised call
    checked = 0
    for i, (strike, days, is_call, div, vol) in enumerate(GRID):
        ref = ql_greeks(spot, strike, days, rate, div, vol, is_call)
        for key, ref_val in ref.items():
            got = ours[key][i]
            # 1e-6 relative; absolute floor 1e-10 only for values that are essentially 0
            # (e.g. a 1-day 20%-OTM option, worth ~1e-60 dollars).
            assert got == pytest.approx(ref_val, rel=1e-6, abs=1e-10), (key, strike, days, is_call, div, vol, got, ref_val)
            checked += abs(ref_val) > 1e-6
    assert checked > 300  # most comparisons are on non-negligible values


def test_black_scholes_broadcasts_and_keeps_shape():
    out = black_scholes(np.full((2, 3), 100.0), 100.0, 0.5, 0.04, 0.2, 0.0, True)
    assert all(v.shape == (2, 3) for v in out.values())


def test_put_call_parity_and_greek_relations():
    s, k, t, r, q, v = 187.3, np.array([150.0, 185.0, 220.0]), np.array([0.02, 0.5, 2.0]), 0.043, 0.012, 0.31
    call = black_scholes(s, k, t, r, v, q, True)
    put = black_scholes(s, k, t, r, v, q, False)
    np.testing.assert_allclose(call["price"] - put["price"], s * np.exp(-q * t) - k * np.exp(-r * t), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(call["delta"] - put["delta"], np.exp(-q * t), rtol=1e-12)
    np.testing.assert_allclose(call["gamma"], put["gamma"], rtol=1e-12)
    np.testing.assert_allclose(call["vega"], put["vega"], rtol=1e-12)
    # d(C − P)/dr per 1 % = 0.01·K·T·e^{−rT}
    np.testing.assert_allclose(call["rho"] - put["rho"], 0.01 * k * t * np.exp(-r * t), rtol=1e-10)


def test_expired_options_are_intrinsic_with_zero_greeks():
    spot = np.array([100.0, 100.0, 100.0, 100.0])
    strike = np.array([90.0, 110.0, 90.0, 110.0])
    is_call = np.array([True, True, False, False])
    for t in (0.0, -0.1):
        out = black_scholes(spot, strike, t, 0.05, 0.3, 0.01, is_call)
        np.testing.assert_array_equal(out["price"], [10.0, 0.0, 0.0, 10.0])
        for key in ("delta", "gamma", "theta", "vega", "rho"):
            np.testing.assert_array_equal(out[key], 0.0)


def test_implied_vol_round_trip_vectorised():
    rng = np.random.default_rng(7)
    n = 400
    spot = rng.uniform(20, 500, n)
    strike = spot * rng.uniform(0.6, 1.5, n)
    t = rng.choice([1, 3, 7, 30, 90, 365, 1000], n) / 365.0
    rate = rng.uniform(0.0, 0.06, n)
    q = rng.uniform(0.0, 0.04, n)
    vol = rng.uniform(0.05, 2.0, n)
    is_call = rng.random(n) < 0.5
    out = black_scholes(spot, strike, t, rate, vol, q, is_call)
    iv = implied_volatility(out["price"], spot, strike, t, rate, q, is_call)
    # Where the price carries information about vol (vega per point not negligible vs price), exact recovery.
    informative = (out["vega"] > 1e-6 * spot) & (out["price"] > 1e-8 * spot)
    assert informative.sum() > 250
    np.testing.assert_allclose(iv[informative], vol[informative], rtol=1e-7)
    # Everywhere a solution was found, it reprices the option.
    found = np.isfinite(iv)
    repriced = black_scholes(spot[found], strike[found], t[found], rate[found], iv[found], q[found], is_call[found])["price"]
    np.testing.assert_allclose(repriced, out["price"][found], rtol=1e-8, atol=1e-10)


def test_implied_vol_matches_quantlib():
    cases = [(100.0, 95.0, 30, 0.045, 0.01, True, 7.10), (100.0, 120.0, 7, 0.045, 0.0, False, 20.3), (250.0, 260.0, 365, 0.03, 0.02, True, 22.0)]
    for spot, strike, days, r, q, is_call, price in cases:
        option, process = ql_option(spot, strike, days, r, q, 0.2, is_call)
        ref = option.impliedVolatility(price, process, 1e-12, 1000, 1e-6, 10.0)
        ours = implied_volatility(price, spot, strike, days / 365.0, r, q, is_call)
        assert float(ours) == pytest.approx(ref, rel=1e-8)


def test_implied_vol_nan_outside_no_arbitrage_bounds():
    s, k, t, r, q = 100.0, 90.0, 0.5, 0.05, 0.0
    intrinsic_fwd = s - k * np.exp(-r * t)
    prices = np.array([intrinsic_fwd - 0.01, s + 1.0, 5.0, np.nan, 12.0])
    iv = implied_volatility(prices, s, k, [t, t, t, t, 0.0], r, q, True)
    assert np.isnan(iv[0])  # below lower bound
    assert np.isnan(iv[1])  # above the stock price
    assert np.isnan(iv[2])  # a 90-strike call cannot be worth 5 when S=100 (below S − K e^{−rT})
    assert np.isnan(iv[3])  # no quote
    assert np.isnan(iv[4])  # expired
    assert np.isfinite(implied_volatility(15.0, s, k, t, r, q, True))


def test_rate_unit_pitfall_irx_percent_to_decimal(prices):
    assert risk_free_rate_from_irx(5.0) == pytest.approx(0.05)
    assert risk_free_rate_from_irx(4.5) == pytest.approx(0.045)
    irx = float(prices["^IRX"].dropna().iloc[-1])
    assert 0.5 < irx < 10.0  # the extract quotes ^IRX in percent
    rate = risk_free_rate_from_irx(irx)
    ref = ql_greeks(100.0, 100.0, 90, rate, 0.0, 0.3, True)["price"]
    ours = black_scholes(100.0, 100.0, 90 / 365.0, rate, 0.3, 0.0, True)["price"]
    assert float(ours) == pytest.approx(ref, rel=1e-9)
    # Feeding the raw percent quote as a decimal rate is a wildly different (wrong) price.
    wrong = black_scholes(100.0, 100.0, 90 / 365.0, irx, 0.3, 0.0, True)["price"]
    assert abs(float(wrong) - ref) > 0.5 * ref


def test_realised_volatility_matches_independent_computation(prices):
    px = prices[["AAPL", "MSFT", "TSLA"]]
    vol = realised_volatility(px, window=63)
    for sym in px.columns:
        last = px[sym].to_numpy()[-64:]
        ref = np.std(np.diff(np.log(last)), ddof=1) * np.sqrt(252)
        assert vol[sym] == pytest.approx(ref, rel=1e-12)
    assert vol["TSLA"] > vol["MSFT"]  # sanity on real data
    short = px.iloc[-10:]
    assert realised_volatility(short, window=63).isna().all()  # too few returns


def test_compute_option_greeks_book(prices):
    as_of = prices.index[-1]
    spot_by_sym = prices.iloc[-1]
    rate = risk_free_rate_from_irx(prices["^IRX"].iloc[-1])
    realised = realised_volatility(prices[["AAPL", "MSFT", "TSLA", "NVDA"]], window=63)
    book = pd.DataFrame(
        {
            "underlying": ["AAPL", "AAPL", "MSFT", "TSLA", "NVDA"],
            "quantity": [10, -5, 3, -2, 4],
            "strike": [round(spot_by_sym["AAPL"]), round(spot_by_sym["AAPL"] * 1.1), round(spot_by_sym["MSFT"] * 0.9), round(spot_by_sym["TSLA"]), round(spot_by_sym["NVDA"])],
            "expiry": [as_of + dt.timedelta(days=45), as_of + dt.timedelta(days=7), as_of + dt.timedelta(days=200), as_of + dt.timedelta(days=1), as_of - dt.timedelta(days=3)],
            "is_call": [True, False, True, False, True],
        },
        index=["opt1", "opt2", "opt3", "opt4", "opt5"],
    )
    spot = book["underlying"].map(spot_by_sym).to_numpy()
    vol = book["underlying"].map(realised).to_numpy()
    # opt3 has a market quote generated at 37 % vol; opt2 has an impossible quote (falls back to realised).
    days3 = (book.loc["opt3", "expiry"] - as_of).days
    quote3 = ql_greeks(spot[2], book.loc["opt3", "strike"], days3, rate, 0.0, 0.37, True)["price"]
    market = [np.nan, 1e6, quote3, None, np.nan]
    out = compute_option_greeks(book["quantity"], book["strike"], book["expiry"], book["is_call"], spot, as_of, rate, vol, 0.0, market)

    assert list(out.index) == list(book.index)
    assert out.loc["opt3", "volatility_source"] == "implied"
    assert out.loc["opt3", "implied_vol"] == pytest.approx(0.37, rel=1e-8)
    assert (out.drop(index="opt3")["volatility_source"] == "realised_63d").all()
    assert bool(out.loc["opt2", "implied_vol_failed"]) and not bool(out.loc["opt1", "implied_vol_failed"])
    np.testing.assert_allclose(out["time_years"], [45 / 365, 7 / 365, 200 / 365, 1 / 365, -3 / 365])
    assert out["expired"].tolist() == [False, False, False, False, True]

    # Per-contract values vs QuantLib, per-position scaling, dollar conversions.
    for i, name in enumerate(book.index[:4]):
        days = (book.loc[name, "expiry"] - as_of).days
        ref = ql_greeks(spot[i], book.loc[name, "strike"], days, rate, 0.0, out.loc[name, "implied_vol"], book.loc[name, "is_call"])
        for key, val in ref.items():
            assert out.loc[name, key] == pytest.approx(val, rel=1e-6, abs=1e-10)
            assert out.loc[name, f"position_{key}"] == pytest.approx(val * book.loc[name, "quantity"] * 100, rel=1e-6, abs=1e-8)
    assert out.loc["opt5", "position_price"] == pytest.approx(4 * 100 * max(spot[4] - book.loc["opt5", "strike"], 0.0))
    assert out.loc["opt5", ["delta", "gamma", "theta", "vega", "rho"]].eq(0).all()
    np.testing.assert_allclose(out["delta_dollars"], out["position_delta"] * spot)
    assert out.loc["opt2", "position_delta"] > 0  # short put → long delta
    assert out.loc["opt4", "position_gamma"] < 0  # short option → short gamma

    # gamma_dollars = ½ Γ S² (1 %)² ≈ ½ × second difference of position value for a ±1 % spot move.
    name, i = "opt1", 0
    t1 = out.loc[name, "time_years"]
    v = [float(black_scholes(spot[i] * f, book.loc[name, "strike"], t1, rate, out.loc[name, "implied_vol"], 0.0, True)["price"]) for f in (0.99, 1.0, 1.01)]
    second_diff = 0.5 * (v[0] + v[2] - 2 * v[1]) * 10 * 100
    assert out.loc[name, "gamma_dollars"] == pytest.approx(second_diff, rel=2e-3)
