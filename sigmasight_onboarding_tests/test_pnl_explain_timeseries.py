"""Issue 15: daily P&L = Δ value and the stored P&L explanation, on the hedge-fund demo book (stocks, shorts,
8 listed options) with the shipped real prices, on SQLite and PostgreSQL.

The reference is computed here, independently of the engines: positions from the demo drop's CSV, adjusted
closes from the shipped Parquet, each session's option marks from QuantLib with THAT session's realised
63-session vol (log returns, ddof 1, × √252) and ^IRX rate — no code of the package is used for it.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from sigmasight_onboarding.assets.timeseries import compute_client_range, write_client_range
from sigmasight_onboarding.calendar import last_sessions
from sigmasight_onboarding.cli import run_onboarding
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.offboarding import offboard_client
from sigmasight_onboarding.resources.market_data_resource import MarketDataResource
from sigmasight_onboarding.ephemeral_instance import ephemeral_instance

from .conftest import DEMO_IMPORTS, copy_demo
from .references import ql_greeks, real_price_matrix

HF = "demo_hedgefundstyle@sigmasight.com"
DAY = date(2026, 8, 3)
SESSIONS = 24  # 2026-06-29 .. 2026-08-03: 23 sessions without an entry, one (2026-07-01) with two
TERMS = ["delta_pnl", "gamma_pnl", "vega_pnl", "theta_pnl", "rates_pnl"]


def rows(url, sql, **params):
    with get_engine(url).connect() as conn:
        return [dict(r) for r in conn.execute(text(sql), params).mappings()]


def _book() -> pd.DataFrame:
    book = pd.read_csv(DEMO_IMPORTS / HF / "portfolio.csv", parse_dates=["entry_date", "expiration_date"])
    book["is_option"] = book["position_type"].isin(["LC", "LP", "SC", "SP"])
    book["price_symbol"] = book["underlying_symbol"].where(book["is_option"], book["symbol"])
    return book


def _reference(book: pd.DataFrame, px: pd.DataFrame, day: date) -> pd.DataFrame:
    """Each held position's own mark on `day` (dollars; options: QuantLib, that day's vol and rate)."""
    hist = px.loc[:day]
    rate = float(hist["^IRX"].ffill().iloc[-1]) / 100.0
    held = book[book["entry_date"].dt.date <= day]
    out = []
    for _, p in held.iterrows():
        s = float(hist[p["price_symbol"]].iloc[-1])
        if not p["is_option"]:
            out.append({"symbol": p["symbol"], "value": p["quantity"] * s, "spot": s})
            continue
        closes = hist[p["price_symbol"]].dropna().to_numpy()[-64:]
        vol = float(np.std(np.diff(np.log(closes)), ddof=1) * np.sqrt(252))
        g = ql_greeks(s, p["strike_price"], day, p["expiration_date"].date(), rate, vol, p["position_type"] in ("LC", "SC"))
        out.append({"symbol": p["symbol"], "value": p["quantity"] * 100 * g["price"], "spot": s, "vol": vol, "rate": rate,
                    **{k: g[k] for k in ("delta", "gamma", "vega", "theta", "rho")}})
    return pd.DataFrame(out).set_index("symbol")


@pytest.fixture
def hedge_fund(env):
    copy_demo(env["imports"], HF)
    assert run_onboarding(HF, ephemeral_instance()).success
    engine = get_engine(env["db_url"])
    days = last_sessions(DAY, SESSIONS)
    res = compute_client_range(engine, MarketDataResource(), HF, days, {"portfolio_snapshots"})
    write_client_range(engine, res)
    return env, engine, days, res


def test_daily_pnl_is_the_change_in_value_and_the_explain_sums_to_it(hedge_fund):
    env, engine, days, res = hedge_fund
    url = env["db_url"]
    assert res.problems["snapshot_valid"] == {}
    book = _book()
    px = real_price_matrix(sorted(set(book["price_symbol"]) | {"^IRX"}))
    px.index = pd.to_datetime(px.index).date
    prev_of = {d: last_sessions(d, 2)[0] for d in days}
    ref = {d: _reference(book, px, d) for d in set(days) | set(prev_of.values())}
    snaps = {r["snapshot_date"] if isinstance(r["snapshot_date"], date) else date.fromisoformat(str(r["snapshot_date"])): r
             for r in rows(url, "SELECT * FROM onb_portfolio_snapshots")}
    assert sorted(snaps) == days
    explain = pd.DataFrame(rows(url, "SELECT e.*, p.symbol FROM onb_position_pnl_explain e JOIN positions p ON p.id = e.position_id"))
    explain["calculation_date"] = pd.to_datetime(explain["calculation_date"]).dt.date
    entry_days = set(book["entry_date"].dt.date)
    checked = 0
    for d in days:
        s, v_prev, v_now = snaps[d], ref[prev_of[d]]["value"].sum(), ref[d]["value"].sum()
        assert s["total_value"] == pytest.approx(v_now, abs=0.01), d
        ex = explain[explain["calculation_date"] == d].set_index("symbol")
        # terms + residual = pnl per position; Σ value_previous = the previous session at ITS OWN marks
        assert (ex[TERMS].sum(axis=1) + ex["residual"] - ex["pnl"]).abs().max() < 1e-6
        assert ex["value_previous"].sum() == pytest.approx(v_prev, abs=0.01), d
        if d in entry_days:  # 2026-07-01: the META call and AMZN put enter — P&L since their entry prices
            entering = book[book["entry_date"].dt.date == d]
            capital = float((entering["quantity"] * 100 * entering["entry_price"]).sum())
            assert s["daily_pnl"] == pytest.approx(v_now - v_prev - capital, abs=0.01)
            assert set(entering["symbol"]).isdisjoint(ex.index)
            assert ex["pnl"].sum() == pytest.approx(v_now - ref[d].loc[list(entering["symbol"]), "value"].sum() - v_prev, abs=0.01)
            continue
        checked += 1
        assert s["daily_pnl"] == pytest.approx(v_now - v_prev, abs=0.01), d
        if prev_of[d] in snaps:
            assert s["daily_pnl"] == pytest.approx(s["total_value"] - snaps[prev_of[d]]["total_value"], abs=0.01), d
            assert s["daily_pnl"] == pytest.approx(s["cumulative_pnl"] - snaps[prev_of[d]]["cumulative_pnl"], abs=0.01), d
        assert ex["pnl"].sum() == pytest.approx(s["daily_pnl"], abs=0.01), d
        assert len(ex) == len(ref[prev_of[d]])
    assert checked >= 20
    # one position's terms by hand (QuantLib Greeks of the previous session, its own vol and rate)
    d, p = DAY, prev_of[DAY]
    row, g0, g1 = explain[(explain["calculation_date"] == d)].set_index("symbol").loc["SPY261218P00700000"], ref[p].loc["SPY261218P00700000"], ref[d].loc["SPY261218P00700000"]
    n, ds, days_between = 60 * 100, g1["spot"] - g0["spot"], (d - p).days
    hand = {"delta_pnl": n * g0["delta"] * ds, "gamma_pnl": n * 0.5 * g0["gamma"] * ds ** 2,
            "vega_pnl": n * g0["vega"] * (g1["vol"] - g0["vol"]) * 100, "theta_pnl": n * g0["theta"] * days_between,
            "rates_pnl": n * g0["rho"] * (g1["rate"] - g0["rate"]) * 100}
    for term, value in hand.items():
        assert row[term] == pytest.approx(value, rel=1e-6, abs=0.01), term
    assert row["pnl"] == pytest.approx(g1["value"] - g0["value"], abs=0.01)


def test_residual_is_small_on_ordinary_days(hedge_fund):
    """|residual| < 5 % of |Δvalue| on ordinary days — no option underlying moved more than 3 daily σ, and the
    book's Δvalue is not a small net of large offsetting position P&Ls (≥ 10 % of Σ|position pnl|) — and
    < 2 % of Σ|position pnl| on every day (the TSLA −14.5 % day of 2026-07-23 included)."""
    env, _engine, days, _res = hedge_fund
    ex = pd.DataFrame(rows(env["db_url"], "SELECT e.*, p.symbol, p.underlying_symbol FROM onb_position_pnl_explain e "
                                          "JOIN positions p ON p.id = e.position_id"))
    ex["calculation_date"] = pd.to_datetime(ex["calculation_date"]).dt.date
    und = sorted(set(ex["underlying_symbol"].dropna()))
    px = real_price_matrix(und)
    px.index = pd.to_datetime(px.index).date
    rets = np.log(px).diff()
    sigma = rets.rolling(63).std()
    ordinary = 0
    for d, g in ex.groupby("calculation_date"):
        gross = g["pnl"].abs().sum()
        assert abs(g["residual"].sum()) < 0.02 * gross, d
        jump = (rets.loc[d].abs() > 3 * sigma.shift(1).loc[d]).any()
        if not jump and abs(g["pnl"].sum()) >= 0.10 * gross:
            ordinary += 1
            assert abs(g["residual"].sum()) < 0.05 * abs(g["pnl"].sum()), d
    assert ordinary >= 15


def test_rerun_replaces_and_offboarding_removes_the_explanation(hedge_fund):
    env, engine, days, res = hedge_fund
    url = env["db_url"]
    n = rows(url, "SELECT COUNT(*) AS n FROM onb_position_pnl_explain")[0]["n"]
    assert n == sum(len(_reference(_book(), _px(), last_sessions(d, 2)[0])) for d in days)
    write_client_range(engine, compute_client_range(engine, MarketDataResource(), HF, days[-3:], {"portfolio_snapshots"}))
    assert rows(url, "SELECT COUNT(*) AS n FROM onb_position_pnl_explain")[0]["n"] == n
    deleted = offboard_client(engine, HF)
    assert deleted["onb_position_pnl_explain"] == n
    assert rows(url, "SELECT COUNT(*) AS n FROM onb_position_pnl_explain")[0]["n"] == 0


def _px():
    book = _book()
    px = real_price_matrix(sorted(set(book["price_symbol"]) | {"^IRX"}))
    px.index = pd.to_datetime(px.index).date
    return px


def test_snapshot_valid_flags_pnl_that_is_not_the_value_change():
    """The cross-session part of snapshot_valid: a daily P&L that is not Δ total value (e.g. the previous session
    re-marked with today's vol) fails the check; an entry day is reconciled with the entering positions' value."""
    from types import SimpleNamespace

    from sigmasight_onboarding.assets.timeseries import ClientRange, _check_pnl_is_value_change

    d0, d1, d2 = date(2026, 7, 30), date(2026, 7, 31), date(2026, 8, 3)
    res = ClientRange(SimpleNamespace(portfolio_id=None, email="x@example.com"), [d0, d1, d2])
    res.snapshots = [{"snapshot_date": d0, "total_value": 1000.0, "daily_pnl": 5.0},
                     {"snapshot_date": d1, "total_value": 1010.0, "daily_pnl": 10.0},
                     {"snapshot_date": d2, "total_value": 1530.0, "daily_pnl": 25.0}]
    # d2: a position enters worth 500 at cost 495 → entry P&L 5; the book held over the night made 20
    res.entry = {d1: {"entry_pnl": 0.0, "entering_value": 0.0, "n_entering": 0},
                 d2: {"entry_pnl": 5.0, "entering_value": 500.0, "n_entering": 1}}
    _check_pnl_is_value_change(res)
    assert res.problems["snapshot_valid"] == {}
    res.snapshots[1]["daily_pnl"] = 10.02  # two cents off
    _check_pnl_is_value_change(res)
    assert list(res.problems["snapshot_valid"]) == [d1] and "Δ total value" in res.problems["snapshot_valid"][d1]
