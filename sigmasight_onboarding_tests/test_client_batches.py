"""Several clients in ONE run: the daily refresh (prices + position analytics over a range of the
`clients` partitions) and a new session's time series for neighbouring clients — what
`daily_refresh_schedule` and `onboarding_timeseries_sensor` request. Each client's rows must be exactly
those of its own one-client run, every client's partition materialised with its own check results,
and a failed batch must fall back to one run per client."""

from __future__ import annotations

from datetime import date

import pytest
from dagster import AssetKey, DagsterInstance, build_sensor_context, instance_for_test
from sqlalchemy import text

from sigmasight_onboarding.cli import run_onboarding, run_timeseries
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.definitions import defs
from sigmasight_onboarding.partitions import client_range_tags
from sigmasight_onboarding.sensors import missing_timeseries_requests, onboarding_timeseries_sensor

from .conftest import DEMO_IMPORTS, copy_demo, project_instance_overrides

JOHN = "john.smith@example.com"
HNW = "demo_hnw@sigmasight.com"
HEDGE_FUND = "demo_hedgefundstyle@sigmasight.com"  # long/short with 8 live listed options
YESTERDAY, NEW_DAY = date(2026, 7, 31), date(2026, 8, 3)  # the shipped extract ends on NEW_DAY
ANALYTICS = ("price_history", "position_greeks", "factor_exposures", "interest_rate_betas", "correlations")
# rows of the as-of date, by client (portfolio), in the analytics tables; volatile columns left out
ANALYTICS_TABLES = {
    "greeks": "SELECT position_id, calculation_date, unit_price, delta, gamma, theta, vega, rho, implied_volatility "
              "FROM onb_position_greeks",
    "position_factors": "SELECT position_id, factor_id, model, calculation_date, exposure_value, t_stat, r_squared, n_obs, "
                        "quality_flag, extreme_beta, exposure_dollars FROM onb_position_factor_exposures",
    "portfolio_factors": "SELECT portfolio_id, factor_id, model, calculation_date, exposure_value, exposure_dollar, beta_gross, beta_net "
                         "FROM onb_factor_exposures",
    "rate_betas": "SELECT position_id, calculation_date, rate_beta, r_squared, tlt_beta, pnl_up_100bp, pnl_up_100bp_repriced "
                  "FROM onb_position_interest_rate_betas",
    "correlations": "SELECT portfolio_id, calculation_date, overall_correlation, effective_positions, positions_included "
                    "FROM onb_correlation_calculations",
    "pairs": "SELECT correlation_calculation_id, symbol_1, symbol_2, correlation_value, p_value FROM onb_pairwise_correlations",
    "clusters": "SELECT id, correlation_calculation_id, cluster_number, nickname, avg_correlation, total_value, "
                "portfolio_percentage FROM onb_correlation_clusters",
    "cluster_members": "SELECT cluster_id, position_id, symbol, value, portfolio_percentage FROM onb_correlation_cluster_positions",
    "position_values": "SELECT id, last_price, market_value, unrealized_pnl FROM positions",
    "desk_exposures": "SELECT position_id, calculation_date, underlying_symbol, share_delta, dollar_delta, market_beta, "
                      "beta_adjusted_dollar_delta FROM onb_position_exposures",
    "portfolio_desk": "SELECT portfolio_id, calculation_date, long_dollar_delta, short_dollar_delta, delta_adjusted_gross, "
                      "delta_adjusted_net, beta_adjusted_gross, beta_adjusted_net, n_positions_missing_beta "
                      "FROM onb_portfolio_exposures",
}


def _rows(url: str, queries: dict[str, str]) -> dict[str, list[tuple]]:
    with get_engine(url).connect() as conn:
        return {name: sorted(tuple(str(v) for v in row) for row in conn.execute(text(sql))) for name, sql in queries.items()}


def _as_number(cell: str):
    try:
        return float(cell)
    except ValueError:
        return cell


def assert_same_rows(actual: dict, expected: dict, rel: float = 1e-12, abs_: float = 1e-9) -> None:
    """Same tables, same rows (sorted), same text cells; numbers equal to `rel` relative or `abs_` absolute (a batch
    solves every symbol's regression in one multi-column least-squares call, a client alone only its own columns:
    BLAS may sum in another order, nothing more — a beta that is 0 in exact arithmetic, SPY's on an orthogonalised
    style factor, comes out as ±1e-17 either way, and times a $600,000 position as ±1e-11 dollars)."""
    assert actual.keys() == expected.keys()
    for table in expected:
        assert len(actual[table]) == len(expected[table]), table
        for got, want in zip(actual[table], expected[table]):
            for g, w in zip(map(_as_number, got), map(_as_number, want)):
                if isinstance(w, float) and isinstance(g, float):
                    assert g == pytest.approx(w, rel=rel, abs=abs_) or (g != g and w != w), (table, got, want)
                else:
                    assert g == w, (table, got, want)


def _onboard_yesterday(env, monkeypatch, instance: DagsterInstance, clients: tuple[str, ...] = (JOHN, HNW)) -> None:
    """`clients` (JOHN and HNW) onboarded as of YESTERDAY with that one session of time series; then the new session arrives."""
    monkeypatch.setenv("SIGMASIGHT_AS_OF", YESTERDAY.isoformat())
    for email in clients:
        copy_demo(env["imports"], email)
        assert run_onboarding(email, instance).success
        assert all(r.success for _b, r in run_timeseries(email, [YESTERDAY], instance))
    monkeypatch.setenv("SIGMASIGHT_AS_OF", NEW_DAY.isoformat())


def _refresh(instance, clients: list[str]):
    job = defs.resolve_job_def("daily_refresh")
    partition = clients[0] if len(clients) == 1 else None
    return job.execute_in_process(instance=instance, tags=client_range_tags(clients), partition_key=partition,
                                  raise_on_error=False)


def test_daily_refresh_of_a_client_range_equals_one_run_per_client(env, monkeypatch, caplog):
    """The analytics rows of the new session from ONE run over both clients equal, value for value, those of
    one run per client; each client's partition of every asset is materialised by that one run and each
    check has a result on each client's partition. Dagster's wrong "emitted no result ... without gating"
    notices for those checks are not logged (`client_batch.BatchCheckNotices`)."""
    with instance_for_test(overrides=project_instance_overrides()) as instance:
        clients = [JOHN, HNW, HEDGE_FUND]  # an expired option, no option, live options
        _onboard_yesterday(env, monkeypatch, instance, tuple(clients))
        alone_checks = {}
        for client in clients:
            result = _refresh(instance, [client])
            assert result.success
            alone_checks.update(_check_outcomes(result))
        alone = _rows(env["db_url"], ANALYTICS_TABLES)
        assert all(alone.values()), {t: len(v) for t, v in alone.items()}
        _forget_analytics_of(env["db_url"], NEW_DAY)  # so every row compared below is one the batch wrote

        caplog.clear()
        batch = _refresh(instance, clients)
        assert batch.success
        assert not [r.getMessage() for r in caplog.records if "emitted no result" in r.getMessage()]
        assert_same_rows(_rows(env["db_url"], ANALYTICS_TABLES), alone)
        for asset in ANALYTICS:
            keys = {e.partition for e in batch.get_asset_materialization_events() if e.asset_key == AssetKey(asset)}
            assert keys == set(clients), (asset, keys)
        evaluations = batch.get_asset_check_evaluations()
        checks = {(e.asset_key.path[-1], e.check_name) for e in evaluations}
        spec_checks = {(k.asset_key.path[-1], k.name) for a in ANALYTICS for k in defs.resolve_assets_def(a).check_keys}
        assert checks == spec_checks
        by_check = {}
        for e in evaluations:
            by_check.setdefault((e.asset_key.path[-1], e.check_name), set()).add(e.partition)
        assert all(parts == set(clients) for parts in by_check.values()), by_check
        blocking_failed = [e for e in evaluations if not e.passed and e.severity.value == "ERROR"]
        assert not blocking_failed
        assert _check_outcomes(batch) == alone_checks  # each client's result and its figures, as in a run of its own


def _forget_analytics_of(url: str, day: date) -> None:
    """Delete every analytics row of ``day`` (children before parents)."""
    calcs = "SELECT id FROM onb_correlation_calculations WHERE calculation_date = :d"
    with get_engine(url).begin() as conn:
        conn.execute(text(f"DELETE FROM onb_correlation_cluster_positions WHERE cluster_id IN "
                          f"(SELECT id FROM onb_correlation_clusters WHERE correlation_calculation_id IN ({calcs}))"), {"d": day})
        for table in ("onb_correlation_clusters", "onb_pairwise_correlations"):
            conn.execute(text(f"DELETE FROM {table} WHERE correlation_calculation_id IN ({calcs})"), {"d": day})
        dated = ("onb_correlation_calculations", "onb_position_greeks", "onb_position_factor_exposures",
                 "onb_factor_exposures", "onb_position_interest_rate_betas", "onb_position_exposures", "onb_portfolio_exposures")
        for table in dated:
            assert conn.execute(text(f"DELETE FROM {table} WHERE calculation_date = :d"), {"d": day}).rowcount > 0, table


def _check_outcomes(result) -> dict:
    """{(asset, check, client): (passed, metadata values)} of a run's check evaluations."""
    return {(e.asset_key.path[-1], e.check_name, e.partition): (e.passed, {k: getattr(v, "value", v) for k, v in e.metadata.items()})
            for e in result.get_asset_check_evaluations()}


@pytest.mark.parametrize(("n", "size", "runs", "skip", "expected"), [
    (200, 250, 1, (), [200]),
    (200, 250, 2, (), [100, 100]),  # spread over two runs of equal size
    (201, 250, 2, (), [101, 100]),
    (200, 60, 2, (), [60, 60, 60, 20]),  # SIGMASIGHT_BATCH_CLIENTS still caps a run
    (45, 250, 4, (), [23, 22]),  # four runs would hold fewer than 20 clients each: two
    (39, 250, 4, (), [39]),
    (200, 250, 2, (50,), [50, 100, 49]),  # a skipped client splits its run, the others keep the spread size
    (5, 2, 8, (1,), [1, 2, 1]),
])
def test_client_batches_spread_over_parallel_runs(n, size, runs, skip, expected):
    from sigmasight_onboarding.partitions import client_batches

    clients = [f"c{i:03d}" for i in range(n)]
    batches = client_batches(clients, size, skip={clients[i] for i in skip}, runs=runs)
    assert [len(b) for b in batches] == expected
    assert [c for b in batches for c in b] == [c for i, c in enumerate(clients) if i not in skip]  # order kept, once each


def _runless_materialisations(instance, clients: list[str], as_of: date) -> None:
    """What the sensor reads of an onboarded client: its analytics' partitions materialised, its price history with
    the as-of of that refresh (no run: the sensor only reads Dagster's records)."""
    from dagster import AssetMaterialization

    from sigmasight_onboarding.sensors import ANALYTICS_ASSETS

    for client in clients:
        for asset in ("price_history", *ANALYTICS_ASSETS):
            instance.report_runless_asset_event(AssetMaterialization(
                asset_key=asset, partition=client, metadata={"as_of": as_of.isoformat()} if asset == "price_history" else None))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # Dagster's records decide, not the SigmaSight database
def test_new_session_of_many_clients_is_spread_over_parallel_runs(env, monkeypatch):
    """42 onboarded clients missing the same new session: with `parallel_runs` 2 the sensor requests two range runs of
    21 consecutive clients each (the range tags cover every client once), with 1 a single run, and the sensor as Dagster
    evaluates it reads SIGMASIGHT_PARALLEL_RUNS."""
    clients = [f"client{i:02d}@example.com" for i in range(42)]
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("clients", clients)
        _runless_materialisations(instance, clients, NEW_DAY)
        spread, _notes = missing_timeseries_requests(instance, sessions=1, as_of=NEW_DAY, parallel_runs=2)
        assert [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"]) for r in spread] == [
            (f"{clients[0]}|{NEW_DAY}", f"{clients[20]}|{NEW_DAY}"), (f"{clients[21]}|{NEW_DAY}", f"{clients[41]}|{NEW_DAY}")]
        (single,), _notes = missing_timeseries_requests(instance, sessions=1, as_of=NEW_DAY, parallel_runs=1)
        assert single.tags["sigmasight/clients"].startswith("42: ")
        monkeypatch.setenv("SIGMASIGHT_ONBOARD_SESSIONS", "1")
        monkeypatch.setenv("SIGMASIGHT_AS_OF", NEW_DAY.isoformat())
        monkeypatch.setenv("SIGMASIGHT_PARALLEL_RUNS", "2")
        context = build_sensor_context(instance=instance, definitions=defs, resources=defs.resources)
        assert [r.tags for r in onboarding_timeseries_sensor(context)] == [r.tags for r in spread]


def test_new_session_of_neighbouring_clients_is_one_time_series_run(env, monkeypatch):
    """After the refresh, the level-triggered sensor requests ONE run over both clients × the new session;
    its rows equal those of each client's own run of that session; then nothing is missing."""
    timeseries = {
        "portfolio_snapshots": "SELECT portfolio_id, snapshot_date, total_value, daily_pnl, gross_exposure, portfolio_delta "
                               "FROM onb_portfolio_snapshots",
        "risk": "SELECT portfolio_id, calculation_date, var_95_historical, var_99_parametric, var_99_monte_carlo, "
                "es_975_historical FROM onb_portfolio_risk_metrics",
        "stress": "SELECT portfolio_id, calculation_date, scenario_id, portfolio_pnl FROM onb_stress_test_results",
    }
    with instance_for_test(overrides=project_instance_overrides()) as instance:
        _onboard_yesterday(env, monkeypatch, instance)
        assert _refresh(instance, [JOHN, HNW]).success
        requests, _notes = missing_timeseries_requests(instance, sessions=2)
        (request,) = requests
        assert request.tags["dagster/asset_partition_range_start"] == f"{JOHN}|{NEW_DAY}"
        assert request.tags["dagster/asset_partition_range_end"] == f"{HNW}|{NEW_DAY}"
        assert "sigmasight/client" not in request.tags and request.tags["sigmasight/clients"].startswith("2: ")
        # the sensor as Dagster evaluates it asks for the same run (validated against the Definitions)
        context = build_sensor_context(instance=instance, definitions=defs, resources=defs.resources)
        monkeypatch.setenv("SIGMASIGHT_ONBOARD_SESSIONS", "2")
        (evaluated,) = onboarding_timeseries_sensor(context)
        assert evaluated.tags == request.tags

        result = defs.resolve_job_def("backfill_timeseries").execute_in_process(instance=instance, tags=request.tags)
        assert result.success
        for asset in ("portfolio_snapshots", "portfolio_risk_metrics", "stress_test_results"):
            assert {f"{JOHN}|{NEW_DAY}", f"{HNW}|{NEW_DAY}"} <= instance.get_materialized_partitions(AssetKey(asset))
        batch_rows = _rows(env["db_url"], timeseries)
        assert all(any(NEW_DAY.isoformat() in str(r) for r in rows) for rows in batch_rows.values())
        for client in (JOHN, HNW):  # each client's own run of the session rewrites exactly the same rows
            assert all(r.success for _b, r in run_timeseries(client, [NEW_DAY], instance))
            assert _rows(env["db_url"], timeseries) == batch_rows
        assert missing_timeseries_requests(instance, sessions=2)[0] == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_failed_batch_falls_back_to_one_run_per_client(env, monkeypatch):
    """A batch over both clients that fails (here: run while the market data still ends on YESTERDAY, so the new
    session is refused) is not requested again: the next evaluation asks for one run per client."""
    with instance_for_test(overrides=project_instance_overrides()) as instance:
        _onboard_yesterday(env, monkeypatch, instance)
        assert _refresh(instance, [JOHN, HNW]).success
        (request,) = missing_timeseries_requests(instance, sessions=2)[0]
        monkeypatch.setenv("SIGMASIGHT_AS_OF", YESTERDAY.isoformat())  # the run sees no price for the new session
        failed = defs.resolve_job_def("backfill_timeseries").execute_in_process(
            instance=instance, tags={**request.tags, "sigmasight/trigger": "onboarding_timeseries_sensor"}, raise_on_error=False)
        assert not failed.success
        monkeypatch.setenv("SIGMASIGHT_AS_OF", NEW_DAY.isoformat())
        requests = missing_timeseries_requests(instance, sessions=2)[0]
        assert sorted(r.tags["sigmasight/client"] for r in requests) == [HNW, JOHN]
        assert all(r.tags["dagster/asset_partition_range_start"].endswith(NEW_DAY.isoformat()) for r in requests)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_only_a_short_block_is_shared_a_backlog_is_a_run_per_client(env, monkeypatch):
    """Neighbours missing the same block share ONE run only when it is short (≤ BATCH_MAX_SESSIONS: the new
    session after the daily refresh). A longer backlog — an onboarding's last sessions — is one run per client,
    so that work spreads over the run queue and the workers instead of queueing behind one step."""
    from sigmasight_onboarding.domain import BATCH_MAX_SESSIONS

    with instance_for_test(overrides=project_instance_overrides()) as instance:
        _onboard_yesterday(env, monkeypatch, instance)  # both hold YESTERDAY only: the sessions before it are missing
        (shared,) = missing_timeseries_requests(instance, sessions=BATCH_MAX_SESSIONS + 1, as_of=YESTERDAY)[0]
        assert shared.tags["sigmasight/clients"] == f"2: {JOHN} .. {HNW}"
        assert shared.tags["sigmasight/range"].endswith(f"({BATCH_MAX_SESSIONS} sessions)")
        backlog = missing_timeseries_requests(instance, sessions=BATCH_MAX_SESSIONS + 2, as_of=YESTERDAY)[0]
        assert sorted(r.tags["sigmasight/client"] for r in backlog) == [HNW, JOHN]
        assert all(r.tags["sigmasight/range"].endswith(f"({BATCH_MAX_SESSIONS + 1} sessions)") for r in backlog)


# -------------------------------------------------------------- a re-onboarding lands while a batch computes
# The run queue keeps one client's runs apart, but a batch over many clients and a re-drop's onboarding can be
# requested in the same instant (schedule and sensor tick together). Whatever the order, a batch must never store
# results of a book that the re-onboarding replaced after the batch read it. The re-onboarding is injected right
# after the batch's read of the books (the real `write_client`, committed on its own connection, as the other
# run's process would).

REDROP = {"AAPL": 1500}  # JOHN's new drop: AAPL 1000 → 1500 shares; TSLA and the SPY call sold (soft-deleted)
SOLD = ("TSLA", "SPY250919C00460000")
READ_POINTS = {  # where each step of a batch reads the books (module attribute the test wraps)
    "price step": ("sigmasight_onboarding.assets.price_history", "client_books", "daily_refresh"),
    "analytics": ("sigmasight_onboarding.assets.client_market", "client_books", "daily_refresh"),
    "time series": ("sigmasight_onboarding.assets.timeseries", "client_books", "backfill_timeseries"),
}


def _redrop_john(env) -> None:
    import pandas as pd

    from sigmasight_onboarding.config import Settings
    from sigmasight_onboarding.db.onboarding_writer import write_client
    from sigmasight_onboarding.drops.reader import read_drop

    csv = env["imports"] / JOHN / "portfolio.csv"
    book = pd.read_csv(csv, dtype=str, keep_default_na=False)
    book = book[~book["symbol"].isin(SOLD)]
    for symbol, quantity in REDROP.items():
        book.loc[book["symbol"] == symbol, "quantity"] = str(quantity)
    book.to_csv(csv, index=False)
    settings = Settings.from_env()
    result = write_client(get_engine(settings.database_url), read_drop(env["imports"] / JOHN, settings), settings,
                          actor="test-redrop")
    assert result.positions_updated == 1 and result.positions_soft_deleted == len(SOLD)


@pytest.mark.parametrize("read_point", list(READ_POINTS))
def test_a_batch_never_stores_results_of_a_book_re_onboarded_meanwhile(env, monkeypatch, read_point):
    """JOHN is re-onboarded (AAPL quantity changed, TSLA and the option sold) just after a two-client batch read the
    books: the batch succeeds, stores HNW's results, stores nothing of JOHN's old book from that step on (no mark of
    the old quantity on the new row, no analytics row of the new session for a sold position, no time series row of
    the old book) and names JOHN in the step's metadata."""
    import importlib

    module_name, attribute, job_name = READ_POINTS[read_point]
    with instance_for_test(overrides=project_instance_overrides()) as instance:
        _onboard_yesterday(env, monkeypatch, instance)
        if job_name == "backfill_timeseries":  # the new session's prices and analytics first, as the automation does
            assert _refresh(instance, [JOHN, HNW]).success
        module = importlib.import_module(module_name)
        real = getattr(module, attribute)
        calls = []

        def read_then_redrop(*args, **kwargs):
            frames = real(*args, **kwargs)
            if not calls:
                _redrop_john(env)
            calls.append(1)
            return frames

        monkeypatch.setattr(module, attribute, read_then_redrop)
        job = defs.resolve_job_def(job_name)
        tags = client_range_tags([JOHN, HNW], [NEW_DAY] if job_name == "backfill_timeseries" else None)
        result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
        monkeypatch.setattr(module, attribute, real)
        assert calls and result.success

        url = env["db_url"]
        with get_engine(url).connect() as conn:
            pid = {e: conn.execute(text("SELECT p.id FROM portfolios p JOIN users u ON u.id = p.user_id WHERE u.email = :e"),
                                   {"e": e}).scalar_one() for e in (JOHN, HNW)}
            book = {r.symbol: r for r in conn.execute(text(
                "SELECT id, symbol, quantity, last_price, market_value, deleted_at FROM positions WHERE portfolio_id = :p"),
                {"p": pid[JOHN]})}
            sold = [book[s].id for s in SOLD]
            assert all(book[s].deleted_at is not None for s in SOLD) and float(book["AAPL"].quantity) == REDROP["AAPL"]
            # every mark is quantity × price of the row it is on (the old 1000 × price never lands on the 1500 row)
            for row in book.values():
                if row.market_value is not None and row.symbol in ("AAPL", "MSFT", "GOOGL"):
                    assert float(row.market_value) == pytest.approx(float(row.quantity) * float(row.last_price), abs=0.01), row
            if job_name == "daily_refresh":
                per_position = {(t, s): conn.execute(text(f"SELECT count(*) FROM {t} WHERE position_id = :s AND calculation_date = :d"),
                                                     {"s": s, "d": NEW_DAY}).scalar_one()
                                for t in ("onb_position_greeks", "onb_position_factor_exposures", "onb_position_interest_rate_betas")
                                for s in sold}
                assert not any(per_position.values()), per_position  # nothing of a sold position
                hnw = conn.execute(text("SELECT count(*) FROM onb_factor_exposures WHERE portfolio_id = :p AND calculation_date = :d"),
                                   {"p": pid[HNW], "d": NEW_DAY}).scalar_one()
                assert hnw > 0
            else:
                new_rows = {e: conn.execute(text("SELECT count(*) FROM onb_portfolio_snapshots WHERE portfolio_id = :p AND snapshot_date = :d"),
                                            {"p": pid[e], "d": NEW_DAY}).scalar_one() for e in (JOHN, HNW)}
                assert new_rows == {JOHN: 0, HNW: 1}, new_rows  # JOHN's old book not stored; its own run computes it
                stress_of_sold = conn.execute(text(
                    "SELECT count(*) FROM onb_stress_test_results WHERE portfolio_id = :p AND calculation_date = :d"),
                    {"p": pid[JOHN], "d": NEW_DAY}).scalar_one()
                assert stress_of_sold == 0
        named = [m for e in result.get_asset_materialization_events()
                 for m in [e.step_materialization_data.materialization.metadata.get("positions_changed_meanwhile")] if m]
        assert named and all(JOHN in str(m.value) for m in named), named


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_check_failing_for_one_client_of_a_batch_fails_only_that_clients_result(env, monkeypatch):
    """When the union's betas fail the factor schema in a multi-client run (here a quality flag outside the allowed set
    on the symbols only HNW holds), each client's own frame is validated as in a run of its own: JOHN's check passes
    with the row count of its own run, HNW's fails and shows the bad flag, and the run fails (the check is blocking)."""
    import pandas as pd

    from sigmasight_onboarding.assets import position_analytics

    def symbols(email: str) -> set[str]:
        return set(pd.read_csv(DEMO_IMPORTS / email / "portfolio.csv")["symbol"])

    hnw_only = symbols(HNW) - symbols(JOHN)
    real = position_analytics._factor_betas

    def flawed(prices, price_symbols):
        single, multi, diagnostics = real(prices, price_symbols)
        return single, multi.assign(quality_flag=multi["quality_flag"].mask(multi["symbol"].isin(hnw_only), "made_up")), diagnostics

    with instance_for_test(overrides=project_instance_overrides()) as instance:
        _onboard_yesterday(env, monkeypatch, instance)
        alone = _check_outcomes(_refresh(instance, [JOHN]))[("factor_exposures", "factor_schema", JOHN)]
        monkeypatch.setattr(position_analytics, "_factor_betas", flawed)
        batch = _refresh(instance, [JOHN, HNW])
        assert not batch.success
        schema = {e.partition: e for e in batch.get_asset_check_evaluations() if e.check_name == "factor_schema"}
        assert schema[JOHN].passed and alone[0] and schema[JOHN].metadata["rows"].value == alone[1]["rows"]
        assert not schema[HNW].passed and "made_up" in str(schema[HNW].metadata["failures"].value)
