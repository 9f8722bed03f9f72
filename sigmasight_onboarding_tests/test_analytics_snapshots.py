"""Reference tests for analytics.snapshots (hand cases, QuantLib option values, real prices)."""

from __future__ import annotations

import warnings
from datetime import date

import numpy as np
import pandas as pd
import pytest

from sigmasight_onboarding.analytics import snapshots

from .references import MARKET, ql_european, ql_greeks

D1, D2, D3, D4 = date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4), date(2026, 3, 5)


def ql_price_delta(spot, strike, as_of: date, expiry: date, rate, vol, is_call, q=0.0):
    """Independent Black–Scholes reference (QuantLib, see references.ql_european)."""
    return ql_european(spot, strike, as_of, expiry, rate, vol, is_call, q)


def _stock_case():
    positions = pd.DataFrame(
        [
            dict(symbol="A", position_type="LONG", quantity=10, entry_price=100.0, entry_date=D1),
            dict(symbol="B", position_type="SHORT", quantity=-5, entry_price=50.0, entry_date=D2),
        ]
    )
    prices = pd.DataFrame({"A": [101.0, 103.0, 99.0, 100.0], "B": [49.0, 52.0, 50.0, 51.0]}, index=[D1, D2, D3, D4])
    return positions, prices


def test_stock_hand_case():
    positions, prices = _stock_case()
    out = snapshots.portfolio_snapshot_series(positions, prices, [D1, D2, D3], rates=0.04)
    # D1: A 10×101 = 1010; enters today → P&L 1010 − 1000 = 10.
    # D2: A 1030 (+20); B enters short: −5×52 = −260 vs cost −250 → −10. P&L 10, return 10/1010.
    # D3: A 990 (−40); B −250 (+10). P&L −30, return −30/1290.
    np.testing.assert_allclose(out["total_value"], [1010.0, 770.0, 740.0])
    np.testing.assert_allclose(out["long_value"], [1010.0, 1030.0, 990.0])
    np.testing.assert_allclose(out["short_value"], [0.0, -260.0, -250.0])
    np.testing.assert_allclose(out["gross_exposure"], [1010.0, 1290.0, 1240.0])
    np.testing.assert_allclose(out["net_exposure"], out["total_value"])
    np.testing.assert_allclose(out["daily_pnl"], [10.0, 10.0, -30.0])
    assert np.isnan(out["daily_return"].iloc[0])
    np.testing.assert_allclose(out["daily_return"].iloc[1:], [10 / 1010, -30 / 1290])
    np.testing.assert_allclose(out["cumulative_pnl"], [10.0, 20.0, -10.0])
    np.testing.assert_allclose(out["cumulative_pnl"], out["daily_pnl"].cumsum())
    np.testing.assert_allclose(out["portfolio_delta"], [10.0, 5.0, 5.0])
    np.testing.assert_allclose(out[["portfolio_gamma", "portfolio_theta", "portfolio_vega"]].to_numpy(), 0.0)
    assert out["num_positions"].tolist() == [1, 2, 2]
    assert out["num_long"].tolist() == [1, 1, 1]
    assert out["num_short"].tolist() == [0, 1, 1]
    assert out["missing_prices"].tolist() == ["", "", ""]
    assert list(out.index) == [D1, D2, D3]


def test_missing_price_flagged_not_stale():
    positions, prices = _stock_case()
    prices.loc[D3, "B"] = np.nan
    out = snapshots.portfolio_snapshot_series(positions, prices, [D1, D2, D3, D4], rates=0.04)
    assert out.loc[D3, "missing_prices"] == "B"
    assert np.isnan(out.loc[D3, "total_value"]) and np.isnan(out.loc[D3, "daily_pnl"])
    # next date: no valid previous valuation → daily P&L NaN; values and cumulative P&L are valid
    assert out.loc[D4, "missing_prices"] == ""
    assert np.isnan(out.loc[D4, "daily_pnl"])
    assert out.loc[D4, "total_value"] == pytest.approx(10 * 100.0 - 5 * 51.0)
    assert out.loc[D4, "cumulative_pnl"] == pytest.approx(10 * (100 - 100.0) - 5 * (51.0 - 50.0))
    # a symbol held before its first price is flagged too
    prices2 = prices.drop(columns="B")
    out2 = snapshots.portfolio_snapshot_series(positions, prices2, [D1, D2], rates=0.04)
    assert out2["missing_prices"].tolist() == ["", "B"]


def test_option_revalued_each_date_and_frozen_after_expiry():
    expiry = D3
    positions = pd.DataFrame(
        [
            dict(symbol="AC", position_type="LC", quantity=2, entry_price=3.0, entry_date=D1,
                 underlying_symbol="A", strike=100.0, expiration_date=expiry),
            dict(symbol="AP", position_type="SP", quantity=-1, entry_price=2.5, entry_date=D1,
                 underlying_symbol="A", strike=98.0, expiration_date=expiry),
        ]
    )
    prices = pd.DataFrame({"A": [101.0, 103.0, 99.0, 104.0]}, index=[D1, D2, D3, D4])
    rates = pd.Series([0.04, 0.041], index=[D1, D2])  # forward-filled to D3, D4
    vol = 0.3
    out = snapshots.portfolio_snapshot_series(positions, prices, [D1, D2, D3, D4], rates=rates, vols={"A": vol})
    for d, r in ((D1, 0.04), (D2, 0.041)):
        c, cd = ql_price_delta(prices.loc[d, "A"], 100.0, d, expiry, r, vol, True)
        p, pdl = ql_price_delta(prices.loc[d, "A"], 98.0, d, expiry, r, vol, False)
        assert out.loc[d, "total_value"] == pytest.approx(200 * c - 100 * p, rel=1e-9)
        assert out.loc[d, "portfolio_delta"] == pytest.approx(200 * cd - 100 * pdl, rel=1e-7)
        assert out.loc[d, "long_value"] == pytest.approx(200 * c, rel=1e-9)
        assert out.loc[d, "short_value"] == pytest.approx(-100 * p, rel=1e-9)
    assert out.loc[D1, "portfolio_theta"] < 0  # long call decays faster than the short put in this case
    # expiry day: intrinsic (call 0 at 99 < 100; put 0 at 99 > 98), Greeks 0
    assert out.loc[D3, "total_value"] == pytest.approx(0.0)
    assert out.loc[D3, "portfolio_delta"] == 0.0
    # after expiry: frozen at settlement (spot on expiry day), not revalued at D4's 104
    assert out.loc[D4, "total_value"] == pytest.approx(0.0)
    assert out.loc[D4, "daily_pnl"] == pytest.approx(0.0)
    assert out.loc[D4, "cumulative_pnl"] == pytest.approx(-(2 * 100 * 3.0) + 100 * 2.5)


def test_position_counts_only_from_entry_and_quantity_sign_checked():
    positions, prices = _stock_case()
    out = snapshots.portfolio_snapshot_series(positions, prices, [D1], rates=0.0)
    assert out["num_positions"].tolist() == [1]  # B enters on D2
    bad = positions.assign(quantity=[10, 5])  # SHORT with positive quantity
    with pytest.raises(ValueError, match="signed"):
        snapshots.portfolio_snapshot_series(bad, prices, [D1], rates=0.0)


def test_real_prices_stock_portfolio():
    df = pd.read_parquet(MARKET)
    prices = df.pivot(index="date", columns="symbol", values="adj_close").sort_index()
    dates = [d for d in prices.index if d >= date(2026, 1, 2)]
    positions = pd.DataFrame(
        [
            dict(symbol="AAPL", position_type="LONG", quantity=100, entry_price=250.0, entry_date=date(2026, 1, 2)),
            dict(symbol="MSFT", position_type="LONG", quantity=50, entry_price=480.0, entry_date=date(2026, 2, 2)),
            dict(symbol="TSLA", position_type="SHORT", quantity=-20, entry_price=400.0, entry_date=date(2026, 1, 2)),
        ]
    )
    out = snapshots.portfolio_snapshot_series(positions, prices, dates, rates=prices["^IRX"] / 100)
    last = dates[-1]
    expected = 100 * prices.loc[last, "AAPL"] + 50 * prices.loc[last, "MSFT"] - 20 * prices.loc[last, "TSLA"]
    assert out.loc[last, "total_value"] == pytest.approx(expected)
    assert (out["missing_prices"] == "").all()
    np.testing.assert_allclose(out["cumulative_pnl"], out["daily_pnl"].cumsum(), rtol=1e-9)
    np.testing.assert_allclose(out["gross_exposure"], out["long_value"] - out["short_value"])
    assert out.loc[last, "cumulative_pnl"] == pytest.approx(
        100 * (prices.loc[last, "AAPL"] - 250) + 50 * (prices.loc[last, "MSFT"] - 480) - 20 * (prices.loc[last, "TSLA"] - 400)
    )


def test_price_only_black_scholes_equals_full_pricer():
    """snapshots.bs_price_only (used on the big revaluation grids) = greeks.black_scholes price, incl. edge cases."""
    from sigmasight_onboarding.analytics.greeks import black_scholes

    rng = np.random.default_rng(4)
    spot = 100.0 * np.exp(rng.normal(0.0, 0.2, size=(500, 1)))  # scenarios × 1
    strike = np.array([[80.0, 100.0, 120.0, 100.0, 100.0, 100.0, 90.0, 110.0]])
    t = np.array([[0.5, 0.01, 2.0, 0.0, -0.1, 0.3, 0.3, 1.0]])  # expired (0, < 0) → intrinsic
    vol = np.array([[0.2, 0.5, 0.3, 0.2, 0.2, 0.0, np.nan, 1.5]])  # zero / NaN vol alive → NaN
    q = np.array([[0.0, 0.01, 0.02, 0.0, 0.0, 0.0, 0.0, 0.03]])
    is_call = np.array([[True, False, True, False, True, True, False, False]])
    rate = np.linspace(-0.01, 0.06, 500)[:, None]
    fast = snapshots.bs_price_only(spot, strike, t, rate, vol, q, is_call)
    full = black_scholes(spot, strike, t, rate, vol, q, is_call)["price"]
    assert fast.shape == full.shape == (500, 8)
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(full))
    np.testing.assert_allclose(fast, full, rtol=1e-13, atol=1e-12, equal_nan=True)
    assert np.isnan(fast[:, 5:7]).all() and np.isfinite(fast[:, [0, 1, 2, 3, 4, 7]]).all()
    # scalar inputs broadcast like the full pricer
    assert snapshots.bs_price_only(100.0, 95.0, 0.25, 0.04, 0.3, 0.0, False) == pytest.approx(
        float(black_scholes(100.0, 95.0, 0.25, 0.04, 0.3, 0.0, False)["price"]), rel=1e-14)


def test_value_positions_columns_and_prepared_input_unchanged():
    positions = pd.DataFrame(
        [
            dict(symbol="A", position_type="long ", quantity="10", entry_price=100.0, entry_date=D1),
            dict(symbol="AC", position_type="LC", quantity=2, entry_price=3.0, entry_date=D1, underlying_symbol="A",
                 strike="100", expiration_date=D4),
        ],
        index=["p1", "p2"],
    )
    prepared = snapshots.prepare_positions(positions)
    assert list(prepared.columns) == list(positions.columns) + ["is_option", "is_call", "multiplier", "price_symbol"]
    assert prepared["position_type"].tolist() == ["LONG", "LC"] and prepared["quantity"].dtype == float
    assert prepared["strike"].tolist()[1] == 100.0 and prepared["price_symbol"].tolist() == ["A", "A"]
    assert positions["position_type"].tolist() == ["long ", "LC"]  # input not modified
    out = snapshots.value_positions(positions, {"A": 101.0}, D1, 0.04, vols={"A": 0.3})
    assert list(out.columns) == list(prepared.columns) + ["spot", "time_years", "vol", "unit_price", "market_value",
                                                        "delta_shares", "dollar_delta", "gamma_shares", "theta", "vega"]
    again = snapshots.value_positions(out, {"A": 102.0}, D1, 0.04, vols=pd.Series({"A": 0.3}))  # valued table in, same columns out
    assert list(again.columns) == list(out.columns)
    assert again.loc["p1", "market_value"] == pytest.approx(1020.0)
    assert out.loc["p1", "market_value"] == pytest.approx(1010.0)


def _own_marks_case():
    """A stock and a long call held from D1, a short put entering on D3; vol and rate differ every day."""
    expiry = date(2026, 6, 19)
    positions = pd.DataFrame(
        [
            dict(symbol="A", position_type="LONG", quantity=100, entry_price=95.0, entry_date=D1),
            dict(symbol="AC", position_type="LC", quantity=3, entry_price=4.0, entry_date=D1,
                 underlying_symbol="A", strike=105.0, expiration_date=expiry),
            dict(symbol="AP", position_type="SP", quantity=-2, entry_price=5.0, entry_date=D3,
                 underlying_symbol="A", strike=95.0, expiration_date=expiry),
        ],
        index=["stock", "call", "put"],
    )
    prices = pd.DataFrame({"A": [100.0, 102.0, 98.5, 99.0]}, index=[D1, D2, D3, D4])
    rates = pd.Series([0.040, 0.041, 0.0405, 0.042], index=[D1, D2, D3, D4])
    vols = pd.DataFrame({"A": [0.25, 0.28, 0.31, 0.27]}, index=[D1, D2, D3, D4])
    return positions, prices, rates, vols, expiry


def test_each_session_valued_with_its_own_marks_pnl_is_value_change():
    """Issue 15 item 1: daily P&L = Δ value with each session's OWN vol and rate (QuantLib by hand)."""
    positions, prices, rates, vols, expiry = _own_marks_case()
    days = [D1, D2, D3, D4]
    out = snapshots.portfolio_snapshot_series(positions, prices, days, rates=rates, vols=vols)
    hand, new_put = {}, {}
    for d in days:
        s, r, v = prices.loc[d, "A"], rates.loc[d], vols.loc[d, "A"]
        call = ql_price_delta(s, 105.0, d, expiry, r, v, True)[0]
        put = ql_price_delta(s, 95.0, d, expiry, r, v, False)[0]
        new_put[d] = -2 * 100 * put if d >= D3 else 0.0
        hand[d] = 100 * s + 3 * 100 * call + new_put[d]
    for d in days:
        assert out.loc[d, "total_value"] == pytest.approx(hand[d], rel=1e-9)
    # no entry on D2 and D4: daily P&L = Δ total value (to the cent)
    assert out.loc[D2, "daily_pnl"] == pytest.approx(hand[D2] - hand[D1], abs=0.005)
    assert out.loc[D4, "daily_pnl"] == pytest.approx(hand[D4] - hand[D3], abs=0.005)
    assert out.loc[D2, "entry_pnl"] == 0.0 and out.loc[D4, "entry_pnl"] == 0.0
    # D3: the short put enters — its P&L since the entry price (a trade) is entry_pnl, separate from the book's move
    entry = new_put[D3] - (-2 * 100 * 5.0)
    assert out.loc[D3, "entry_pnl"] == pytest.approx(entry, abs=0.005)
    assert out.loc[D3, "daily_pnl"] == pytest.approx((hand[D3] - new_put[D3]) - hand[D2] + entry, abs=0.005)
    assert out.loc[D3, "num_entering"] == 1 and out.loc[D1, "num_entering"] == 2
    # cumulative P&L differences = daily P&L on every date after the first, entries included
    np.testing.assert_allclose(out["cumulative_pnl"].diff().iloc[1:], out["daily_pnl"].iloc[1:], atol=1e-6)
    # the old bug: a [previous, today] series with ONE vol (today's) re-marks yesterday, so its daily P&L is not Δ value
    wrong = snapshots.portfolio_snapshot_series(positions, prices, [D1, D2], rates=rates, vols={"A": vols.loc[D2, "A"]})
    assert abs(wrong.loc[D2, "daily_pnl"] - (hand[D2] - hand[D1])) > 50.0
    # a two-session series with each session's own vol gives the same as the long one
    pair = snapshots.portfolio_snapshot_series(positions, prices, [D3, D4], rates=rates, vols=vols.loc[[D3, D4]])
    assert pair.loc[D4, "daily_pnl"] == pytest.approx(out.loc[D4, "daily_pnl"], abs=1e-8)


def test_per_date_vols_missing_only_allowed_where_not_held():
    positions, prices, rates, vols, _ = _own_marks_case()
    gap = vols.astype(float).copy()
    gap["P"] = np.nan
    out = snapshots.portfolio_snapshot_series(positions.iloc[:2], prices, [D1, D2], rates=rates, vols=gap)
    assert np.isfinite(out["total_value"]).all()
    gap.loc[D2, "A"] = np.nan
    with pytest.raises(ValueError, match="vol missing"):
        snapshots.portfolio_snapshot_series(positions, prices, [D1, D2], rates=rates, vols=gap)


def test_position_marks_are_the_series_valuation():
    positions, prices, rates, vols, expiry = _own_marks_case()
    marks = snapshots.position_marks(positions, prices, [D2, D3], rates=rates, vols=vols)
    series = snapshots.portfolio_snapshot_series(positions, prices, [D2, D3], rates=rates, vols=vols)
    for d in (D2, D3):
        m = marks.xs(pd.Timestamp(d), level="date")
        assert m["market_value"].sum() == series.loc[d, "total_value"]
    m2 = marks.xs(pd.Timestamp(D2), level="date")
    assert not m2.loc["put", "held"] and m2.loc["put", "market_value"] == 0.0
    ref = ql_greeks(102.0, 105.0, D2, expiry, 0.041, 0.28, True)
    for k in ("price", "delta", "gamma", "vega", "theta", "rho"):
        assert m2.loc["call", k] == pytest.approx(ref[k], rel=1e-6), k
    assert m2.loc["call", "vol"] == 0.28 and m2.loc["call", "rate"] == 0.041
    assert (m2.loc["stock", ["delta", "gamma", "vega", "theta", "rho"]].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0])


def test_marks_and_snapshots_is_one_valuation_of_both():
    """The time-series asset's one-pass valuation gives exactly the marks and the snapshot series of the two
    public functions (which QuantLib checks above)."""
    positions, prices, rates, vols, _expiry = _own_marks_case()
    days = [D1, D2, D3, D4]
    marks, series = snapshots.marks_and_snapshots(positions, prices, days, rates=rates, vols=vols)
    pd.testing.assert_frame_equal(marks, snapshots.position_marks(positions, prices, days, rates=rates, vols=vols))
    pd.testing.assert_frame_equal(series, snapshots.portfolio_snapshot_series(positions, prices, days, rates=rates, vols=vols))


@pytest.mark.parametrize("values", [
    [date(2026, 1, 2), date(2024, 2, 29)],
    ["2026-01-02", "2024-02-29"],
    [pd.Timestamp("2026-01-02 15:30"), pd.Timestamp("2024-02-29")],
    [None, date(2026, 1, 2)],
    [float("nan"), pd.NaT, "2026-01-02"],
    ["01/02/2026", "2/29/2024"],  # a format numpy refuses: parsed by pandas
    pd.Series(pd.to_datetime(["2026-01-02 09:00", "2024-02-29"], format="mixed")),
    [pd.Timestamp("2026-01-02 23:00", tz="US/Eastern"), pd.Timestamp("2026-01-05 01:00", tz="US/Eastern")],  # UTC days
    pd.Series(pd.to_datetime(["2026-01-02 23:00", "2024-02-29"], format="mixed").tz_localize("US/Eastern")),
], ids=["dates", "iso", "timestamps", "none", "nan-nat", "us-format", "datetime64-series", "tz-aware", "tz-aware-series"])
def test_day_arrays_are_the_days_pandas_parses(values):
    """to_day_array (numpy where it can) gives the calendar days pandas.to_datetime gives, NaT for missing."""
    from sigmasight_onboarding.analytics.greeks import to_day_array

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy time-zone warning on the way
        got = to_day_array(values)
    expected = pd.to_datetime(pd.Series(list(values), dtype=object), format="mixed", utc=True).dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    assert got.dtype == np.dtype("datetime64[D]")
    np.testing.assert_array_equal(got, expected)


def test_by_session_leaves_a_session_frame_alone_and_fixes_any_other():
    """returns.by_session: a sorted midnight DatetimeIndex frame is returned itself (no copy); a frame on
    date objects, out of order or with times of day comes back sorted on midnight Timestamps, the input untouched."""
    from sigmasight_onboarding.analytics.returns import by_session

    days = [date(2026, 1, 5), date(2026, 1, 2), date(2026, 1, 6)]
    raw = pd.DataFrame({"SPY": [2.0, 1.0, 3.0]}, index=days)
    fixed = by_session(raw)
    assert list(fixed.index) == [pd.Timestamp("2026-01-02"), pd.Timestamp("2026-01-05"), pd.Timestamp("2026-01-06")]
    assert fixed["SPY"].tolist() == [1.0, 2.0, 3.0] and raw.index.tolist() == days
    assert by_session(fixed) is fixed
    timed = fixed.set_axis(fixed.index + pd.Timedelta(hours=16), axis=0)
    assert by_session(timed) is not timed and by_session(timed).index.equals(fixed.index)
    unsorted = fixed.iloc[::-1]
    assert by_session(unsorted).index.equals(fixed.index) and unsorted.index[0] == pd.Timestamp("2026-01-06")


def test_session_index_parses_labels_once():
    """returns.session_index: a normalised naive DatetimeIndex is returned itself; dates, strings and Timestamps with
    a time of day become the midnight Timestamps pandas parses."""
    from sigmasight_onboarding.analytics.returns import session_index

    done = pd.DatetimeIndex(["2026-01-02", "2026-01-05"])
    assert session_index(done) is done
    for labels in ([date(2026, 1, 2), date(2026, 1, 5)], ["2026-01-02", "2026-01-05"],
                   pd.DatetimeIndex(["2026-01-02 09:30", "2026-01-05 16:00"])):
        got = session_index(labels)
        assert got is not labels and got.equals(done)
