"""Verification, offboarding/rollback, re-execution from failure, schedules, Dagster storage on PostgreSQL."""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    DagsterInstance,
    DagsterRunStatus,
    ReexecutionOptions,
    build_sensor_context,
    execute_job,
    instance_for_test,
    reconstructable,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.engine import make_url

from sigmasight_onboarding.calendar import last_sessions
from sigmasight_onboarding.cli import main, run_onboarding, run_timeseries
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.models import Base, MarketDataCache, OnboardingAuditLog
from sigmasight_onboarding.definitions import defs
from sigmasight_onboarding.resources.sigmasight_api import BACKEND_ROUTES, check_live_api
from sigmasight_onboarding.sensors import verification_sensor
from sigmasight_onboarding.ephemeral_instance import ephemeral_instance

from .conftest import PG_ADMIN_URL, REPO, copy_demo, project_instance_overrides
from .scale_out_cluster import deploy_env
from .test_timeseries import DAY

JOHN = "john.smith@example.com"
# shared by all clients (ours and the backend's reference tables): kept by offboarding
SHARED = {"onb_prices", "onb_price_gaps", "onb_factor_definitions", "onb_stress_test_scenarios", "onb_audit_log",
          "market_data_cache", "factor_definitions", "stress_test_scenarios"}


def onboard_job():
    return defs.resolve_job_def("onboard_client")


def client_rows(url: str, email: str) -> dict[str, int]:
    """Rows of every client table that belong to `email` (via user/portfolio/position ids)."""
    engine = get_engine(url)
    counts = {}
    with engine.connect() as conn:
        user_ids = [r[0] for r in conn.execute(text("SELECT id FROM users WHERE email = :e"), {"e": email})]
        counts["users"] = len(user_ids)
        for table in Base.metadata.sorted_tables:
            if table.name in SHARED or table.name == "users":
                continue
            total = conn.execute(select(func.count()).select_from(table)).scalar_one()
            counts[table.name] = total
    return counts


def test_onboard_verify_offboard_and_onboard_again(env, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster_home" / "dagster.yaml")  # as scripts/dagster_dev.py installs it
    copy_demo(env["imports"], JOHN)
    assert main(["onboard", str(env["imports"] / JOHN)]) == 0
    out = capsys.readouterr().out
    assert "READY" in out and "30/30 sessions" in out
    # without SIGMASIGHT_API_URL the live check is skipped, never counted as a pass
    assert "verification:  READY (checks 7/7 passed, 1 skipped)" in out
    assert "[SKIP] live_api: SIGMASIGHT_API_URL is not set" in out
    assert main(["verify", JOHN]) == 0
    out = capsys.readouterr().out
    assert out.count("[PASS]") == 6 and "READY" in out
    assert "[SKIP] live_api: SIGMASIGHT_API_URL is not set" in out and "checks: 6/6 passed, 1 skipped" in out
    instance = DagsterInstance.get()
    # in the UI the check is Skipped: planned by the run, which succeeded, with no evaluation
    live_key = AssetCheckKey(AssetKey("onboarding_verification"), "live_api")
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key([live_key])[live_key]
    assert record.status == AssetCheckExecutionRecordStatus.PLANNED
    assert instance.get_run_by_id(record.run_id).status == DagsterRunStatus.SUCCESS
    assert instance.has_dynamic_partition("clients", JOHN)
    # the daemon path: once the 30 sessions exist, the verification sensor asks for verify_client
    requests = verification_sensor(build_sensor_context(instance=instance, definitions=defs, resources=defs.resources))
    assert [(r.partition_key, r.run_key.startswith(f"verify:{JOHN}:2026-08-03:")) for r in requests] == [(JOHN, True)]
    with get_engine(env["db_url"]).connect() as conn:
        prices_before = conn.execute(select(func.count()).select_from(MarketDataCache)).scalar_one()

    assert main(["offboard", JOHN]) == 0
    assert all(n == 0 for n in client_rows(env["db_url"], JOHN).values()), client_rows(env["db_url"], JOHN)
    assert not DagsterInstance.get().has_dynamic_partition("clients", JOHN)
    with get_engine(env["db_url"]).connect() as conn:
        assert conn.execute(select(func.count()).select_from(MarketDataCache)).scalar_one() == prices_before
        actions = [r.action for r in conn.execute(select(OnboardingAuditLog.action))]
    assert "offboard" in actions

    capsys.readouterr()
    assert main(["offboard", JOHN]) == 4  # unknown now: says so, changes nothing
    assert "nothing changed" in capsys.readouterr().err
    assert main(["onboard", str(env["imports"] / JOHN), "--sessions", "0"]) == 0
    assert client_rows(env["db_url"], JOHN)["positions"] == 5


def test_verify_names_every_missing_piece(env, capsys):
    copy_demo(env["imports"], JOHN)
    assert main(["onboard", str(env["imports"] / JOHN), "--sessions", "0"]) == 0
    instance = ephemeral_instance()
    instance.add_dynamic_partitions("clients", [JOHN])
    skipped = verification_sensor(build_sensor_context(instance=instance, definitions=defs, resources=defs.resources))
    assert "no client with all 30 sessions" in skipped.skip_message  # nothing to verify yet
    capsys.readouterr()
    assert main(["verify", JOHN]) == 3
    out = capsys.readouterr().out
    assert "[PASS] positions_match_csv" in out and "[PASS] price_coverage" in out
    assert "[FAIL] engines_ran: no rows for 2026-08-03 in: portfolio_snapshots, portfolio_risk_metrics, stress_test_results" in out
    assert "[FAIL] snapshots_30_sessions: 30 missing" in out
    assert "NOT READY" in out
    # a changed CSV is caught
    csv = env["imports"] / JOHN / "portfolio.csv"
    csv.write_text(csv.read_text().replace("MSFT,800", "MSFT,801"))
    assert main(["verify", JOHN]) == 3
    assert "MSFT: quantity" in capsys.readouterr().out
    assert main(["verify", "nobody@example.com"]) == 4


def test_reexecute_from_failure_leaves_no_duplicates(env, tmp_path):
    """A run that fails half-way (a real DB error in `correlations`) is re-executed from failure."""
    copy_demo(env["imports"], JOHN)
    engine = get_engine(env["db_url"])
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        if postgres:
            conn.execute(text("CREATE OR REPLACE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected'; END $$ LANGUAGE plpgsql"))
            conn.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON onb_correlation_calculations FOR EACH ROW EXECUTE FUNCTION refuse()"))
        else:
            conn.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON onb_correlation_calculations BEGIN SELECT RAISE(ABORT, 'injected'); END"))
    (tmp_path / "dh").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dh"), overrides=project_instance_overrides()) as instance:
        instance.add_dynamic_partitions("clients", [JOHN])
        first = execute_job(reconstructable(onboard_job), instance, tags={"dagster/partition": JOHN}, raise_on_error=False)
        assert not first.success
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER refuse" + (" ON onb_correlation_calculations" if postgres else "")))
        before = {t: n for t, n in client_rows(env["db_url"], JOHN).items()}
        assert before["positions"] == 5 and before["onb_correlation_calculations"] == 0
        options = ReexecutionOptions.from_failure(first.run_id, instance)
        second = execute_job(reconstructable(onboard_job), instance, reexecution_options=options, raise_on_error=False,
                             tags={"dagster/partition": JOHN})
        from sigmasight_onboarding.cli import failure_reasons

        assert second.success, failure_reasons(second)
        steps = {e.step_key for e in second.all_events if e.event_type_value == "STEP_SUCCESS"}
        assert "correlations" in steps and "client_onboarding" not in steps  # only what failed (and after)
    after = client_rows(env["db_url"], JOHN)
    assert after["onb_correlation_calculations"] == 1
    assert {k: v for k, v in after.items() if k != "onb_correlation_calculations" and not k.startswith(("onb_pairwise", "onb_correlation_cl"))} == \
        {k: v for k, v in before.items() if k != "onb_correlation_calculations" and not k.startswith(("onb_pairwise", "onb_correlation_cl"))}


class _FakeApi(BaseHTTPRequestHandler):
    portfolio_id = ""
    symbols: list[str] = []

    def log_message(self, *args):  # keep test output quiet
        pass

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/api/v1/auth/login" and body == {"email": JOHN, "password": "secure_client_password_123"}:
            self._send(200, {"access_token": "jwt-token", "token_type": "bearer"})
        else:
            self._send(401, {"detail": "bad credentials"})

    def do_GET(self):
        if self.headers.get("Authorization") != "Bearer jwt-token":
            return self._send(401, {"detail": "unauthorised"})
        if self.path == f"/api/v1/data/portfolio/{self.portfolio_id}/complete":
            return self._send(200, {"positions": [{"symbol": s} for s in self.symbols]})
        if self.path == f"/api/v1/analytics/portfolio/{self.portfolio_id}/stress-test":
            return self._send(200, {"available": False, "metadata": {"reason": "no_results"}})
        if self.portfolio_id in self.path or self.path.startswith("/api/v1/data/"):
            return self._send(200, {"data": "ok"})
        self._send(404, {})


def test_live_api_check_against_local_server():
    _FakeApi.portfolio_id, _FakeApi.symbols = "pid-1", ["AAPL", "TSLA"]
    server = HTTPServer(("127.0.0.1", 0), _FakeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        ok = check_live_api(url, JOHN, "secure_client_password_123", "pid-1", ["AAPL", "TSLA"])
        # every backend route is called; "available: false" fails the route that said it
        assert [c.name for c in ok] == ["api_login", *BACKEND_ROUTES]
        assert [c.name for c in ok if not c.passed] == ["analytics_stress_test"]
        assert "available: false" in next(c.detail for c in ok if c.name == "analytics_stress_test")
        missing = check_live_api(url, JOHN, "secure_client_password_123", "pid-1", ["AAPL", "NVDA"])
        complete = next(c for c in missing if c.name == "data_portfolio_complete")
        assert not complete.passed and "NVDA" in complete.detail
        wrong = check_live_api(url, JOHN, "wrong", "pid-1", ["AAPL"])
        assert [(c.name, c.passed) for c in wrong] == [("api_login", False)]
    finally:
        server.shutdown()
    down = check_live_api("http://127.0.0.1:9", JOHN, "x", "pid-1", ["AAPL"], timeout=1.0)
    assert not down[0].passed and down[0].name == "api_reachable"
    assert "secure_client_password_123" not in str(ok + missing + wrong + down)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_dagster_storage_on_postgresql(env, monkeypatch, tmp_path):
    """The shipped deploy/dagster-postgres.yaml, with settings from the environment, runs the demo graph;
    with deploy/dagster.env's batched event writes, a range run records every (client, session)
    partition of each time-series asset exactly once, and one check result per partition, through the
    event log's pooled connection instead of a connection per event."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"dagster_storage_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover
        if __import__("os").environ.get("CI"):
            pytest.fail(f"PostgreSQL needed in CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    url = make_url(PG_ADMIN_URL)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster-postgres.yaml", home / "dagster.yaml")
    dagster_url = url.set(drivername="postgresql+psycopg2", database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_url)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    deployment_env = deploy_env()  # as every host of the deployment loads it
    for key, value in deployment_env.items():
        monkeypatch.setenv(key, value)
    assert int(deployment_env["DAGSTER_EVENT_BATCH_SIZE"]) > 0
    try:
        copy_demo(env["imports"], JOHN)
        with DagsterInstance.get() as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert type(instance.event_log_storage).__name__ == "PooledPostgresEventLogStorage"
            result = run_onboarding(JOHN, instance)
            assert result.success
            assert instance.get_run_by_id(result.run_id).is_success
            assert instance.has_dynamic_partition("clients", JOHN)
            storage = type(instance.event_log_storage)
            batches = []  # observe dagster-postgres' batch writes (Dagster's code, not ours)

            def store_event_batch(self, events, _original=storage.store_event_batch):
                batches.append(sorted({e.dagster_event.event_type_value for e in events}) + [len(events)])
                return _original(self, events)

            monkeypatch.setattr(storage, "store_event_batch", store_event_batch)
            days = last_sessions(DAY, 6)
            dagster_db_connects = []

            def count_dagster_db_connects(dbapi_connection, _record):
                if getattr(getattr(dbapi_connection, "info", None), "dbname", None) == name:
                    dagster_db_connects.append(1)

            event.listen(Engine, "connect", count_dagster_db_connects)
            try:
                (_block, ranged), = run_timeseries(JOHN, days, instance)
            finally:
                event.remove(Engine, "connect", count_dagster_db_connects)
            # the event log writes ~100 events through its one pooled connection (dagster-postgres' own class
            # opens one per write: 201 here); what remains is the run storage's own connect-per-call
            assert len(dagster_db_connects) <= 40, len(dagster_db_connects)
            assert batches.count(["ASSET_MATERIALIZATION", 6]) == 3  # each asset's 6 sessions: one insert
            assert ranged.success
            keys = sorted(f"{JOHN}|{d.isoformat()}" for d in days)
            for asset, check_name in (("portfolio_snapshots", "snapshot_valid"), ("portfolio_risk_metrics", "risk_metrics_consistent"),
                                      ("stress_test_results", "stress_results_complete")):
                assert sorted(instance.get_materialized_partitions(AssetKey(asset))) == keys
                stored = instance.fetch_materializations(AssetKey(asset), limit=100).records
                assert sorted(r.partition_key for r in stored if r.run_id == ranged.run_id) == keys  # each once
                checked = [e for e in ranged.get_asset_check_evaluations() if e.check_name == check_name]
                assert sorted(e.partition for e in checked) == keys and all(e.passed for e in checked)
        with create_engine(url.set(database=name)).connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM runs")).scalar_one() >= 1
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
