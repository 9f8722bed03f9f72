"""Snapshots, risk metrics and stress tests per (client, session), on SQLite and PostgreSQL.

References are computed here from the real shipped prices, independently of the engines.
"""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from sigmasight_onboarding.cli import main, run_onboarding, run_timeseries
from sigmasight_onboarding.config import SHIPPED_MARKET_DATA
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.ephemeral_instance import ephemeral_instance
from sigmasight_onboarding.scenarios import load_scenarios

from .conftest import copy_demo

JOHN = "john.smith@example.com"
HF = "demo_hedgefundstyle@sigmasight.com"
DAY, PREV = date(2026, 8, 3), date(2026, 7, 31)


def prices(symbols, start=date(2024, 1, 1), end=DAY) -> pd.DataFrame:
    frame = pd.read_parquet(SHIPPED_MARKET_DATA, filters=[("symbol", "in", symbols), ("date", ">=", start), ("date", "<=", end)])
    return frame.pivot(index="date", columns="symbol", values="adj_close").sort_index()


def as_json(value):
    return json.loads(value) if isinstance(value, str) else value


def rows(url, sql, **params):
    with get_engine(url).connect() as conn:
        return [dict(r) for r in conn.execute(text(sql), params).mappings()]


@pytest.fixture
def john(env):
    copy_demo(env["imports"], JOHN)
    instance = ephemeral_instance()
    assert run_onboarding(JOHN, instance).success
    results = run_timeseries(JOHN, [PREV, DAY], instance)
    assert all(r.success for _d, r in results)
    return env, instance


def john_value(px: pd.DataFrame, day: date) -> float:
    """Hand valuation of the runbook portfolio: stocks at the close; the SPY 460 call expired on
    2025-09-19 and is worth its intrinsic value at that day's SPY close (× 200 contracts × 100)."""
    p = px.loc[day]
    spy_at_expiry = px.loc[date(2025, 9, 19), "SPY"]
    return 1000 * p["AAPL"] + 800 * p["MSFT"] + 500 * p["GOOGL"] - 300 * p["TSLA"] + max(spy_at_expiry - 460, 0) * 200 * 100


def test_snapshot_matches_hand_valuation(john):
    env, _ = john
    px = prices(["AAPL", "MSFT", "GOOGL", "TSLA", "SPY"])
    snap = rows(env["db_url"], "SELECT * FROM onb_portfolio_snapshots WHERE snapshot_date = :d", d=DAY)[0]
    assert snap["total_value"] == pytest.approx(john_value(px, DAY), rel=1e-9)
    assert snap["daily_pnl"] == pytest.approx(john_value(px, DAY) - john_value(px, PREV), rel=1e-9)
    assert snap["short_value"] == pytest.approx(-300 * px.loc[DAY, "TSLA"], rel=1e-9)
    assert (snap["num_positions"], snap["num_long_positions"], snap["num_short_positions"]) == (5, 4, 1)
    assert snap["portfolio_delta"] == pytest.approx(1000 + 800 + 500 - 300)  # expired option: delta 0


def test_historical_var_matches_numpy_quantile(john):
    env, _ = john
    px = prices(["AAPL", "MSFT", "GOOGL", "TSLA"])
    shares = pd.Series({"AAPL": 1000, "MSFT": 800, "GOOGL": 500, "TSLA": -300})
    mv = shares * px.loc[DAY]
    returns = px.pct_change().dropna().tail(252)
    pnl = (returns * mv).sum(axis=1).to_numpy()  # today's positions on each historical day
    risk = rows(env["db_url"], "SELECT * FROM onb_portfolio_risk_metrics WHERE calculation_date = :d", d=DAY)[0]
    assert risk["quality_flag"] == "ok" and risk["n_observations"] == 252
    assert risk["var_95_historical"] == pytest.approx(-np.quantile(pnl, 0.05), rel=1e-9)
    assert risk["var_99_historical"] == pytest.approx(-np.quantile(pnl, 0.01), rel=1e-9)
    assert risk["var_99_historical_10d"] == pytest.approx(risk["var_99_historical"] * np.sqrt(10), rel=1e-12)
    cov = returns.cov().to_numpy()
    sigma = float(np.sqrt(mv.to_numpy() @ cov @ mv.to_numpy()))
    assert risk["var_99_parametric"] == pytest.approx(2.3263478740408408 * sigma, rel=1e-6)
    assert risk["var_99_historical"] >= risk["var_95_historical"] >= 0
    assert risk["es_975_historical"] >= risk["var_95_historical"]
    parts = as_json(risk["details"])["component_var_99_parametric"]
    assert sum(parts.values()) == pytest.approx(risk["var_99_parametric"], rel=1e-9)


def test_stress_results_for_every_scenario(john):
    env, _ = john
    results = rows(env["db_url"], "SELECT scenario_id, portfolio_pnl, gross_exposure FROM onb_stress_test_results WHERE calculation_date = :d", d=DAY)
    ids = {r["scenario_id"] for r in results}
    assert {s.id for s in load_scenarios()} <= ids and len(load_scenarios()) == 18
    assert any(i.startswith("replay_worst_20d") for i in ids)
    pnl = {r["scenario_id"]: r["portfolio_pnl"] for r in results}
    assert pnl["market_crash_35"] < pnl["market_down_10"] < 0 < pnl["market_up_10"]
    # no loss cap: a long-only equity book's loss grows ~linearly with the shock
    assert pnl["market_crash_35"] < 3 * pnl["market_down_10"]


def test_a_replay_window_keeps_every_clients_symbol_moves(john):
    """A historical replay is one market window shared by every client, while each client's run computes
    moves for its own symbols: the stored definition holds the union (not the last writer's symbols only),
    each move equal to P_end / P_start − 1 of the shipped closes on the window's two dates."""
    env, instance = john
    other = "demo_individual@sigmasight.com"
    copy_demo(env["imports"], other)
    assert run_onboarding(other, instance).success
    assert all(r.success for _d, r in run_timeseries(other, [DAY], instance))
    sql = ("SELECT DISTINCT r.scenario_id FROM onb_stress_test_results r JOIN portfolios p ON p.id = r.portfolio_id "
           "JOIN users u ON u.id = p.user_id WHERE r.calculation_date = :d AND u.email = :e AND r.scenario_id LIKE 'replay_worst%'")
    (john_replay,) = [r["scenario_id"] for r in rows(env["db_url"], sql, d=DAY, e=JOHN)]
    (other_replay,) = [r["scenario_id"] for r in rows(env["db_url"], sql, d=DAY, e=other)]
    assert john_replay == other_replay  # the same worst SPY window for both books
    (scenario,) = rows(env["db_url"], "SELECT name, definition FROM onb_stress_test_scenarios WHERE id = :i", i=john_replay)
    moves = as_json(scenario["definition"])["symbol_returns"]
    start, end = (date.fromisoformat(d) for d in scenario["name"].split(" window ")[1].split(" to "))
    john_stocks = {"AAPL", "MSFT", "GOOGL", "TSLA"}
    other_stocks = set(pd.read_csv(env["imports"] / other / "portfolio.csv")["symbol"])
    assert "TSLA" not in other_stocks and "JNJ" in other_stocks  # neither book covers the other's symbols
    wanted = sorted(john_stocks | other_stocks)
    px = prices(wanted, start=start, end=end)
    for symbol in wanted:
        assert moves[symbol] == pytest.approx(px.loc[end, symbol] / px.loc[start, symbol] - 1.0, rel=1e-12, abs=1e-15), symbol


def test_a_run_of_two_clients_writes_only_the_changed_scenario_definition_once(john):
    """One time-series run for two clients × one session (what the daily automation requests), after John's own
    run stored every definition: the fixed scenarios are not written again, the shared replay window once, with
    both books' moves (not once per client); the same run again writes nothing."""
    from sqlalchemy import event

    from sigmasight_onboarding.definitions import defs
    from sigmasight_onboarding.partitions import client_range_tags

    env, instance = john
    other = "demo_individual@sigmasight.com"
    copy_demo(env["imports"], other)
    assert run_onboarding(other, instance).success
    updated = []  # the scenario id of every UPDATE of a definition

    def count(_conn, _cursor, statement, parameters, *_args):
        if statement.lstrip().upper().startswith("UPDATE ONB_STRESS_TEST_SCENARIOS"):
            updated.append(parameters[-1] if isinstance(parameters, (list, tuple)) else parameters["id_1"])

    def run_both():
        engine = get_engine(env["db_url"])
        event.listen(engine, "before_cursor_execute", count)
        try:
            return defs.resolve_job_def("backfill_timeseries").execute_in_process(
                instance=instance, tags=client_range_tags([JOHN, other], [DAY]), raise_on_error=False)
        finally:
            event.remove(engine, "before_cursor_execute", count)

    assert run_both().success
    stored = rows(env["db_url"], "SELECT u.email, r.scenario_id FROM onb_stress_test_results r JOIN portfolios p "
                                 "ON p.id = r.portfolio_id JOIN users u ON u.id = p.user_id WHERE r.calculation_date = :d", d=DAY)
    by_client = {e: {r["scenario_id"] for r in stored if r["email"] == e} for e in (JOHN, other)}
    assert by_client[JOHN] == by_client[other] and by_client[JOHN] > {s.id for s in load_scenarios()}  # + replays
    (replay,) = [s for s in by_client[JOHN] if s.startswith("replay_worst")]
    assert updated == [replay]  # John's run stored the rest as they are; the window gains the other book's moves
    (scenario,) = rows(env["db_url"], "SELECT definition FROM onb_stress_test_scenarios WHERE id = :i", i=replay)
    other_stocks = set(pd.read_csv(env["imports"] / other / "portfolio.csv")["symbol"])
    assert {"AAPL", "MSFT", "GOOGL", "TSLA"} | other_stocks <= set(as_json(scenario["definition"])["symbol_returns"])
    updated.clear()
    assert run_both().success
    assert updated == []


def test_an_older_session_run_again_keeps_the_replay_definition(john):
    """John's range run stored the replay window's definition (PREV and DAY find the same window). Running PREV
    again alone computes that window's definition again, multiplier included, so nothing is rewritten: a replay
    id names one definition, not the one of whichever session ran last."""
    from sqlalchemy import event

    env, instance = john
    sql = ("SELECT r.calculation_date, r.scenario_id FROM onb_stress_test_results r JOIN portfolios p ON p.id = r.portfolio_id "
           "JOIN users u ON u.id = p.user_id WHERE u.email = :e AND r.scenario_id LIKE 'replay_worst%'")
    found = {r["calculation_date"]: r["scenario_id"] for r in rows(env["db_url"], sql, e=JOHN)}
    assert len(found) == 2 and len(set(found.values())) == 1  # the same window on both sessions
    (replay,) = set(found.values())
    (before,) = rows(env["db_url"], "SELECT definition FROM onb_stress_test_scenarios WHERE id = :i", i=replay)
    statements = []
    engine = get_engine(env["db_url"])

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement.lstrip().upper())

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert all(r.success for _d, r in run_timeseries(JOHN, [PREV], instance))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert not [s for s in statements if s.startswith("UPDATE ONB_STRESS_TEST_SCENARIOS")]
    (after,) = rows(env["db_url"], "SELECT definition FROM onb_stress_test_scenarios WHERE id = :i", i=replay)
    assert as_json(after["definition"]) == as_json(before["definition"])


def test_rerun_is_idempotent(john):
    env, instance = john
    before = rows(env["db_url"], "SELECT COUNT(*) AS n FROM onb_stress_test_results")[0]["n"]
    snap_before = rows(env["db_url"], "SELECT total_value FROM onb_portfolio_snapshots ORDER BY snapshot_date")
    assert all(r.success for _d, r in run_timeseries(JOHN, [DAY], instance))
    assert rows(env["db_url"], "SELECT COUNT(*) AS n FROM onb_stress_test_results")[0]["n"] == before
    assert rows(env["db_url"], "SELECT total_value FROM onb_portfolio_snapshots ORDER BY snapshot_date") == snap_before


def test_holiday_and_after_data_end_are_rejected(john):
    """Neither is a date partition (sessions-only axis ending at the data); the CLI and the asset
    both refuse them with the reason and nothing is written."""
    from dagster import Failure

    from sigmasight_onboarding.assets.timeseries import compute_client_range
    from sigmasight_onboarding.partitions import date_partitions
    from sigmasight_onboarding.resources.market_data_resource import MarketDataResource

    env, instance = john
    assert not date_partitions().has_partition_key("2025-12-25") and not date_partitions().has_partition_key("2026-09-01")
    assert date_partitions().get_last_partition_key() == DAY.isoformat()
    for day, words in ((date(2025, 12, 25), "not an NYSE session"), (date(2026, 9, 1), "after the newest session")):
        with pytest.raises(ValueError, match=words):
            run_timeseries(JOHN, [day], instance)
        with pytest.raises(Failure, match=words):
            compute_client_range(get_engine(env["db_url"]), MarketDataResource(), JOHN, [day], {"portfolio_snapshots"})
    assert rows(env["db_url"], "SELECT COUNT(*) AS n FROM onb_portfolio_snapshots WHERE snapshot_date IN ('2025-12-25', '2026-09-01')")[0]["n"] == 0


def test_sessions_before_the_first_entry_are_an_empty_book(john):
    """John's first entries are on 2024-01-10: a range from the first date partition succeeds, the
    earlier sessions are an empty book (zero snapshot, risk flagged, no stress rows)."""
    env, instance = john
    from sigmasight_onboarding.calendar import sessions_between

    days = sessions_between(date(2024, 1, 2), date(2024, 1, 11))  # the first date partition onwards
    (block, result), = run_timeseries(JOHN, days, instance)
    assert result.success and block == days
    snaps = {str(r["snapshot_date"]): r for r in rows(env["db_url"], "SELECT * FROM onb_portfolio_snapshots WHERE snapshot_date < '2024-02-01'")}
    assert snaps["2024-01-02"]["total_value"] == 0 and snaps["2024-01-02"]["num_positions"] == 0
    assert snaps["2024-01-10"]["num_positions"] == 2 and snaps["2024-01-11"]["total_value"] > 0
    risk = {str(r["calculation_date"]): r for r in rows(env["db_url"], "SELECT * FROM onb_portfolio_risk_metrics WHERE calculation_date < '2024-02-01'")}
    assert risk["2024-01-09"]["quality_flag"] == "empty_portfolio" and risk["2024-01-09"]["var_99_historical"] is None
    stress = rows(env["db_url"], "SELECT DISTINCT calculation_date FROM onb_stress_test_results WHERE calculation_date < '2024-02-01'")
    assert sorted(str(r["calculation_date"]) for r in stress) == ["2024-01-10", "2024-01-11"]


def _timeseries_rows(url):
    out = {}
    for table, day_col, key in (("onb_portfolio_snapshots", "snapshot_date", ()), ("onb_portfolio_risk_metrics", "calculation_date", ()),
                                ("onb_stress_test_results", "calculation_date", ("scenario_id",)),
                                ("onb_position_pnl_explain", "calculation_date", ("position_id",))):
        for r in rows(url, f"SELECT * FROM {table}"):
            r.pop("id", None)
            r.pop("created_at", None)
            out[(table, str(r[day_col]), *(r[k] for k in key))] = r
    return out


def _assert_same(a, b, path=""):
    """Equal up to 1e-9 relative (floats), recursively through JSON details."""
    if isinstance(a, str) and a[:1] in "{[":
        a, b = as_json(a), as_json(b)
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert b == pytest.approx(a, rel=1e-9, abs=1e-9), path
    else:
        assert a == b, path


def test_session_alone_equals_session_inside_a_range(env):
    """Real prices, an options book: 12 sessions as ONE range run give the same rows (≤ 1e-9) as
    each session run alone — risk (historical, parametric, seeded Monte Carlo), backtest, stress."""
    from sigmasight_onboarding.calendar import last_sessions

    copy_demo(env["imports"], HF)
    instance = ephemeral_instance()
    assert run_onboarding(HF, instance).success
    days = last_sessions(DAY, 12)
    (block, result), = run_timeseries(HF, days, instance)
    assert result.success and block == days
    materialized = {e.partition for e in result.get_asset_materialization_events()}
    assert len(materialized) == 12  # Dagster recorded every (client, date) key of the range run
    snap_meta = next(e.materialization.metadata for e in result.get_asset_materialization_events()
                     if e.asset_key.path == ["portfolio_snapshots"])
    explained = snap_meta["pnl_explain_usd"].value  # the last session's P&L explanation, shown in the UI
    assert explained["pnl"] == pytest.approx(sum(explained[k] for k in explained if k != "pnl"), abs=0.05)
    assert snap_meta["pnl_explain_residual_pct"].value < 5
    evaluations = result.get_asset_check_evaluations()  # and one check result per partition and check
    assert len(evaluations) == 36 and {e.partition for e in evaluations} == materialized and all(e.passed for e in evaluations)
    in_range = _timeseries_rows(env["db_url"])
    assert len([k for k in in_range if k[0] == "onb_portfolio_risk_metrics"]) == 12
    assert len([k for k in in_range if k[0] == "onb_position_pnl_explain"]) == 12 * 30  # every position held over each night
    with get_engine(env["db_url"]).begin() as conn:
        for table in ("onb_portfolio_snapshots", "onb_portfolio_risk_metrics", "onb_stress_test_results", "onb_position_pnl_explain"):
            conn.execute(text(f"DELETE FROM {table}"))
    for day in (days[0], days[5], days[-1]):
        (_, alone), = run_timeseries(HF, [day], instance)
        assert alone.success
    single = _timeseries_rows(env["db_url"])
    assert {k[1] for k in single} == {str(days[0]), str(days[5]), str(days[-1])}
    for key, row in single.items():
        _assert_same(row, in_range[key], str(key))
    assert any(r["quality_flag"] == "ok" and r["var_99_monte_carlo"] for k, r in single.items() if k[0] == "onb_portfolio_risk_metrics")


def test_hedge_fund_onboard_cli_produces_30_sessions(env, capsys):
    copy_demo(env["imports"], HF)
    assert main(["onboard", str(env["imports"] / HF)]) == 0
    out = capsys.readouterr().out
    assert "30/30 sessions" in out
    counts = rows(env["db_url"], "SELECT (SELECT COUNT(*) FROM onb_portfolio_snapshots) AS s, (SELECT COUNT(*) FROM onb_portfolio_risk_metrics) AS r, "
                                 "(SELECT COUNT(*) FROM onb_stress_test_results WHERE calculation_date = '2026-08-03') AS t")[0]
    assert counts["s"] == 30 and counts["r"] == 30 and counts["t"] >= 18
    # the options book: a high-beta long under the crash loses at most its value, the book is hedged by puts
    stress = rows(env["db_url"], "SELECT position_pnl FROM onb_stress_test_results WHERE scenario_id = 'market_crash_35' AND calculation_date = '2026-08-03'")[0]
    positions = {r["symbol"]: float(r["market_value"]) for r in rows(env["db_url"], "SELECT symbol, market_value FROM positions")}
    pnl = as_json(stress["position_pnl"])
    assert pnl["NVDA"] >= -positions["NVDA"] - 1e-6
    assert pnl["SPY261218P00700000"] > 0


def test_backfill_one_date_for_all_clients(env, capsys):
    copy_demo(env["imports"], JOHN)
    copy_demo(env["imports"], "demo_individual@sigmasight.com")
    for key in (JOHN, "demo_individual@sigmasight.com"):
        assert main(["onboard", str(env["imports"] / key), "--sessions", "0"]) == 0
    assert main(["backfill", "all", "--start", "2026-06-15"]) == 0
    snaps = rows(env["db_url"], "SELECT snapshot_date FROM onb_portfolio_snapshots")
    assert [str(r["snapshot_date"]) for r in snaps] == ["2026-06-15", "2026-06-15"]
    assert main(["backfill", "nobody@example.com", "--start", "2026-06-15"]) == 4
    assert main(["backfill", JOHN, "--start", "2025-12-25"]) == 2  # no session in range


def test_a_clients_frame_of_the_shared_window_is_its_loc_selection():
    """SharedWindow.frame cuts by position exactly what ``matrix.loc[sessions, symbols]`` selects (values, NaN,
    labels, order), and raises the same KeyError for a session or symbol the window lacks."""
    import numpy as np
    import pandas as pd

    from sigmasight_onboarding.assets.timeseries import SharedWindow

    days = [date(2026, 7, 27), date(2026, 7, 28), date(2026, 7, 29), date(2026, 7, 30)]
    matrix = pd.DataFrame({"SPY": [600.0, 601.5, np.nan, 603.0], "AAPL": [210.0, 211.0, 212.0, 213.0],
                           "^IRX": [4.2, 4.21, 4.19, 4.2]}, index=pd.Index(days, name="date"))
    window = SharedWindow({}, {}, matrix, {})
    wanted_days, wanted = days[1:], ["^IRX", "SPY"]
    pd.testing.assert_frame_equal(window.frame(wanted_days, wanted), matrix.loc[wanted_days, wanted])
    for bad_days, bad_symbols in ((days[:2] + [date(2026, 7, 31)], ["SPY"]), (days, ["SPY", "MSFT"])):
        with pytest.raises(KeyError):
            window.frame(bad_days, bad_symbols)
