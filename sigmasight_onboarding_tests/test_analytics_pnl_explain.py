"""P&L explanation: a hand-built 3-position book (stock, call, put), marks and Greeks from QuantLib
(with a dividend yield), expected terms written out by hand; Σ terms + residual = Δvalue to the cent."""

from __future__ import annotations

import pandas as pd
import pytest
import QuantLib as ql

from sigmasight_onboarding.analytics.pnl_explain import TERMS, explain_pnl, explain_total


def ql_mark(day: ql.Date, expiry: ql.Date, spot, strike, r, q, vol, is_call) -> dict[str, float]:
    ql.Settings.instance().evaluationDate = day
    dc = ql.Actual365Fixed()
    opt = ql.VanillaOption(ql.PlainVanillaPayoff(ql.Option.Call if is_call else ql.Option.Put, strike), ql.EuropeanExercise(expiry))
    proc = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(spot)),
        ql.YieldTermStructureHandle(ql.FlatForward(day, q, dc, ql.Continuous)),
        ql.YieldTermStructureHandle(ql.FlatForward(day, r, dc, ql.Continuous)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(day, ql.NullCalendar(), vol, dc)))
    opt.setPricingEngine(ql.AnalyticEuropeanEngine(proc))
    return {"price": opt.NPV(), "delta": opt.delta(), "gamma": opt.gamma(), "vega": opt.vega() * 0.01,
            "theta": opt.theta() / 365.0, "rho": opt.rho() * 0.01}


D0, D1, EXPIRY = ql.Date(31, 7, 2026), ql.Date(3, 8, 2026), ql.Date(18, 12, 2026)  # Fri → Mon: 3 calendar days
S0, S1 = 600.0, 606.0  # +1 %
VOL0, VOL1 = 0.18, 0.17  # −1 vol point
R0, R1 = 0.0410, 0.0415  # +5 bp
Q = 0.012
BOOK = {  # id: (quantity, multiplier, strike, is_call)  — stock: strike None
    "stock": (1_000.0, 1, None, None),
    "call": (-20.0, 100, 620.0, True),  # short 20 calls
    "put": (30.0, 100, 560.0, False),  # long 30 puts
}


def frames():
    prev, cur = {}, {}
    for pid, (qty, mult, k, is_call) in BOOK.items():
        if k is None:
            m0 = {"price": S0, "delta": 1.0, "gamma": 0.0, "vega": 0.0, "theta": 0.0, "rho": 0.0}
            m1 = {"price": S1}
            v0 = v1 = r0 = r1 = 0.0
        else:
            m0 = ql_mark(D0, EXPIRY, S0, k, R0, Q, VOL0, is_call)
            m1 = ql_mark(D1, EXPIRY, S1, k, R1, Q, VOL1, is_call)
            v0, v1, r0, r1 = VOL0, VOL1, R0, R1
        prev[pid] = {"quantity": qty, "multiplier": mult, "spot": S0, "vol": v0, "rate": r0, **m0}
        cur[pid] = {"spot": S1, "price": m1["price"], "vol": v1, "rate": r1}
    return pd.DataFrame(prev).T, pd.DataFrame(cur).T


def test_three_position_book_hand_explanation():
    prev, cur = frames()
    out = explain_pnl(prev, cur, calendar_days=3)
    for pid, (qty, mult, k, _c) in BOOK.items():
        p, c = prev.loc[pid], cur.loc[pid]
        n = qty * mult
        hand = {
            "delta_pnl": n * p["delta"] * (S1 - S0),
            "gamma_pnl": n * 0.5 * p["gamma"] * (S1 - S0) ** 2,
            "vega_pnl": n * p["vega"] * (c["vol"] - p["vol"]) * 100,
            "theta_pnl": n * p["theta"] * 3,
            "rates_pnl": n * p["rho"] * (c["rate"] - p["rate"]) * 100,
        }
        for term, value in hand.items():
            assert out.loc[pid, term] == pytest.approx(value, abs=0.005), (pid, term)
        dv = round(n * c["price"], 2) - round(n * p["price"], 2)
        assert out.loc[pid, "pnl"] == pytest.approx(dv, abs=1e-9)
        # terms + residual = Δvalue to the cent
        assert round(out.loc[pid, TERMS].sum() + out.loc[pid, "residual"], 2) == pytest.approx(round(dv, 2), abs=1e-9)
        # an ordinary day: the Greeks explain ≥ 95 % of the move
        assert abs(out.loc[pid, "residual"]) < 0.05 * abs(dv), (pid, out.loc[pid].to_dict())
    assert out.loc["stock", "residual"] == 0.0 and out.loc["stock", "delta_pnl"] == pytest.approx(6_000.0)
    tot = explain_total(out)
    assert tot["pnl"] == pytest.approx(tot["value_current"] - tot["value_previous"], abs=0.005)
    assert round(tot[TERMS].sum() + tot["residual"], 2) == pytest.approx(round(tot["pnl"], 2), abs=1e-9)
    # The book's net P&L nets the stock against the options (−3 222 on +6 000 / −9 222), so the book residual
    # is measured against the gross of the position P&Ls: cross effects (vanna, volga, charm) of a day with a
    # 1 % move AND a 1-vol-point drop stay under 5 % of it.
    assert abs(tot["residual"]) < 0.05 * out["pnl"].abs().sum()


def test_previous_session_keeps_its_own_vol():
    """Issue 15 item 1: the P&L is Δ of each session's OWN mark; re-marking yesterday at today's vol would
    silently drop the vega P&L. Here the previous mark at today's vol differs by ≈ the vega term."""
    prev, cur = frames()
    out = explain_pnl(prev, cur, calendar_days=3)
    remarked = ql_mark(D0, EXPIRY, S0, 560.0, R0, Q, VOL1, False)["price"]
    wrong_prev_value = 30 * 100 * remarked
    assert abs(out.loc["put", "value_previous"] - wrong_prev_value) == pytest.approx(abs(out.loc["put", "vega_pnl"]), rel=0.05)


def test_missing_current_mark_is_an_error():
    prev, cur = frames()
    with pytest.raises(ValueError, match="no current mark"):
        explain_pnl(prev, cur.drop(index="call"), calendar_days=3)


def spy_book(first_entry, call_entry, expiry) -> pd.DataFrame:
    """500 SPY and 10 long 580 puts from `first_entry`; 5 short 640 calls entering on `call_entry`."""
    return pd.DataFrame([
        dict(symbol="SPY", position_type="LONG", quantity=500, entry_price=600.0, entry_date=first_entry),
        dict(symbol="SPY_P", position_type="LP", quantity=10, entry_price=9.0, entry_date=first_entry, underlying_symbol="SPY",
             strike=580.0, expiration_date=expiry),
        dict(symbol="SPY_C", position_type="SC", quantity=-5, entry_price=8.0, entry_date=call_entry, underlying_symbol="SPY",
             strike=640.0, expiration_date=expiry),
    ], index=["stock", "put", "call"])


def test_explain_sessions_on_the_series_marks():
    """explain_sessions on `position_marks`: positions held over the night, each session at its own marks;
    terms by hand from QuantLib Greeks of the previous session; Σ pnl = daily P&L − entry P&L of the series."""
    from datetime import date

    from sigmasight_onboarding.analytics.pnl_explain import explain_sessions
    from sigmasight_onboarding.analytics.snapshots import portfolio_snapshot_series, position_marks

    from .references import ql_greeks

    d0, d1, d2, expiry = date(2026, 7, 30), date(2026, 7, 31), date(2026, 8, 3), date(2026, 12, 18)
    positions = spy_book(d0, d2, expiry)
    prices = pd.DataFrame({"SPY": [601.0, 604.0, 598.0]}, index=[d0, d1, d2])
    rates = pd.Series([0.041, 0.0412, 0.0408], index=[d0, d1, d2])
    vols = pd.DataFrame({"SPY": [0.16, 0.155, 0.17]}, index=[d0, d1, d2])
    marks = position_marks(positions, prices, [d1, d2], rates, vols=vols)
    out = explain_sessions(marks, d1, d2)
    assert list(out.index) == ["stock", "put"]  # the call enters on d2: a trade, not explained
    g0 = ql_greeks(604.0, 580.0, d1, expiry, 0.0412, 0.155, False)
    g1 = ql_greeks(598.0, 580.0, d2, expiry, 0.0408, 0.17, False)
    n, ds = 10 * 100, 598.0 - 604.0
    hand = {"delta_pnl": n * g0["delta"] * ds, "gamma_pnl": n * 0.5 * g0["gamma"] * ds ** 2,
            "vega_pnl": n * g0["vega"] * (0.17 - 0.155) * 100, "theta_pnl": n * g0["theta"] * 3,
            "rates_pnl": n * g0["rho"] * (0.0408 - 0.0412) * 100}
    for term, value in hand.items():
        assert out.loc["put", term] == pytest.approx(value, rel=1e-6, abs=1e-6), term
    assert out.loc["put", "pnl"] == pytest.approx(n * (g1["price"] - g0["price"]), abs=1e-6)
    assert out.loc["stock", "pnl"] == pytest.approx(500 * ds) and out.loc["stock", "residual"] == pytest.approx(0.0, abs=1e-9)
    assert (out[TERMS].sum(axis=1) + out["residual"] - out["pnl"]).abs().max() < 1e-9
    series = portfolio_snapshot_series(positions, prices, [d1, d2], rates, vols=vols)
    assert out["pnl"].sum() == pytest.approx(series.loc[d2, "daily_pnl"] - series.loc[d2, "entry_pnl"], abs=1e-6)
    assert abs(out.loc["put", "residual"]) < 0.05 * abs(out.loc["put", "pnl"])


def test_session_pairs_equal_the_hand_explanation_pair_by_pair():
    """explain_session_pairs over three nights (two consecutive, one across a gap) gives, pair by pair, the
    positions held over that night and the terms written out by hand from QuantLib Greeks of the previous
    session; the call entering on d2 is left out of (d1, d2) and explained from d2 on."""
    from datetime import date

    from sigmasight_onboarding.analytics.pnl_explain import EXPLAIN_COLUMNS, explain_session_pairs
    from sigmasight_onboarding.analytics.snapshots import position_marks

    from .references import ql_greeks

    d0, d1, d2, d3, expiry = date(2026, 7, 30), date(2026, 7, 31), date(2026, 8, 3), date(2026, 8, 5), date(2026, 12, 18)
    positions = spy_book(d0, d2, expiry)
    spot = {d0: 601.0, d1: 604.0, d2: 598.0, d3: 607.0}
    rate = {d0: 0.041, d1: 0.0412, d2: 0.0408, d3: 0.0409}
    vol = {d0: 0.16, d1: 0.155, d2: 0.17, d3: 0.165}
    days = [d0, d1, d2, d3]
    marks = position_marks(positions, pd.DataFrame({"SPY": [spot[d] for d in days]}, index=days), days,
                           pd.Series([rate[d] for d in days], index=days), vols=pd.DataFrame({"SPY": [vol[d] for d in days]}, index=days))
    pairs = [(d0, d1), (d1, d2), (d2, d3)]
    got = explain_session_pairs(marks, pairs)
    specs = {"put": (10, 580.0, False), "call": (-5, 640.0, True)}
    for i, (a, b) in enumerate(pairs):
        ids, terms = got.pair(i)
        expected_ids = ["stock", "put"] + (["call"] if a >= d2 else [])
        assert list(ids) == expected_ids
        row = {pid: {c: terms[c][j] for c in EXPLAIN_COLUMNS} for j, pid in enumerate(ids)}
        ds = spot[b] - spot[a]
        assert row["stock"]["pnl"] == pytest.approx(500 * ds) and row["stock"]["delta_pnl"] == pytest.approx(500 * ds)
        for pid in expected_ids[1:]:
            qty, strike, is_call = specs[pid]
            g0 = ql_greeks(spot[a], strike, a, expiry, rate[a], vol[a], is_call)
            g1 = ql_greeks(spot[b], strike, b, expiry, rate[b], vol[b], is_call)
            n = qty * 100
            assert row[pid]["pnl"] == pytest.approx(n * (g1["price"] - g0["price"]), abs=1e-6)
            assert row[pid]["delta_pnl"] == pytest.approx(n * g0["delta"] * ds, rel=1e-6)
            assert row[pid]["gamma_pnl"] == pytest.approx(n * 0.5 * g0["gamma"] * ds ** 2, rel=1e-6)
            assert row[pid]["vega_pnl"] == pytest.approx(n * g0["vega"] * (vol[b] - vol[a]) * 100, rel=1e-6)
            assert row[pid]["theta_pnl"] == pytest.approx(n * g0["theta"] * (b - a).days, rel=1e-6)
            assert row[pid]["rates_pnl"] == pytest.approx(n * g0["rho"] * (rate[b] - rate[a]) * 100, rel=1e-6, abs=1e-9)
            assert row[pid]["residual"] == pytest.approx(row[pid]["pnl"] - sum(row[pid][t] for t in TERMS), abs=1e-9)
