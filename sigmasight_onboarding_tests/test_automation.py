"""Automation through Dagster's own evaluation: the daily schedule (the scheduler daemon's code
path, code loaded in a gRPC server), the level-triggered time-series sensor, and end to end with a
real `dagster-daemon` on a temporary DAGSTER_HOME: drop → READY in either switch-on order."""

from __future__ import annotations

import logging
from contextlib import contextmanager
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from dagster import DagsterRunStatus, RunsFilter, build_sensor_context, instance_for_test
from sqlalchemy import text

from sigmasight_onboarding.calendar import last_sessions
from sigmasight_onboarding.cli import run_onboarding
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.definitions import defs
from sigmasight_onboarding.partitions import session_blocks
from sigmasight_onboarding.sensors import onboarding_timeseries_sensor, verification_sensor

from .conftest import REPO, copy_demo, project_instance_overrides

JOHN = "john.smith@example.com"
HNW = "demo_hnw@sigmasight.com"
AS_OF = date(2026, 8, 3)
MOCK_LAUNCHER = project_instance_overrides(run_launcher={"module": "dagster._core.test_utils", "class": "MockedRunLauncher"})


def _workspace(instance):
    from dagster._core.test_utils import create_test_daemon_workspace_context
    from dagster._core.workspace.load_target import ModuleTarget

    target = ModuleTarget(module_name="sigmasight_onboarding.definitions", attribute="defs",
                          working_directory=str(REPO), location_name="sigmasight_onboarding")
    return create_test_daemon_workspace_context(target, instance)


def _remote(context, kind: str, name: str):
    location = next(iter(context.create_request_context().get_code_location_entries().values())).code_location
    repo = next(iter(location.get_repositories().values()))
    return repo.get_schedule(name) if kind == "schedule" else repo.get_sensor(name)


def _schedule_tick(instance) -> list:
    """One tick of daily_refresh_schedule as the scheduler daemon evaluates it (code in a gRPC server);
    asserts the tick succeeded and returns the runs it created."""
    from dagster._core.scheduler.instigation import TickStatus
    from dagster._core.test_utils import freeze_time
    from dagster._scheduler.scheduler import launch_scheduled_runs

    with _workspace(instance) as context:
        schedule = _remote(context, "schedule", "daily_refresh_schedule")
        with freeze_time(datetime(2026, 11, 24, 23, 0, tzinfo=timezone.utc)):  # 18:00 New York
            instance.start_schedule(schedule)
        with freeze_time(datetime(2026, 11, 24, 23, 31, tzinfo=timezone.utc)):  # after the 18:30 tick
            list(launch_scheduled_runs(context, logging.getLogger("test"), datetime.now(timezone.utc), {}))
        ticks = instance.get_ticks(schedule.get_remote_origin_id(), schedule.selector_id)
        assert [t.status for t in ticks] == [TickStatus.SUCCESS], [t.error for t in ticks]
    return instance.get_runs()


def test_daily_schedule_through_the_scheduler_daemon(env, monkeypatch):
    """The schedule's tick as the scheduler daemon evaluates it: every client's prices and analytics as
    ONE `daily_refresh` run over the range of clients (partition order), tagged; the tick succeeds."""
    monkeypatch.delenv("SIGMASIGHT_AS_OF", raising=False)
    with instance_for_test(overrides=MOCK_LAUNCHER) as instance:
        instance.add_dynamic_partitions("clients", [JOHN, HNW])
        (run,) = _schedule_tick(instance)
    assert run.job_name == "daily_refresh" and run.tags["sigmasight/trigger"] == "daily_refresh_schedule"
    assert (run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"]) == (JOHN, HNW)
    assert run.tags["sigmasight/clients"] == f"2: {JOHN} .. {HNW}"
    assert run.tags["sigmasight/as_of"] == AS_OF.isoformat()  # the newest session of the market data


def test_daily_schedule_cuts_batches_and_skips_clients_in_flight(env, monkeypatch):
    """SIGMASIGHT_BATCH_CLIENTS=2, five clients, the second being onboarded (a run in flight): it is left out and
    splits the range — a one-client run (partition = client) of the first, a range run of the next two, a
    one-client run of the last — through the daemon's evaluation."""
    from dagster import DagsterRunStatus
    from dagster._core.test_utils import create_run_for_test

    monkeypatch.setenv("SIGMASIGHT_BATCH_CLIENTS", "2")
    c3, c4, c5 = "third@example.com", "fourth@example.com", "fifth@example.com"
    with instance_for_test(overrides=MOCK_LAUNCHER) as instance:
        instance.add_dynamic_partitions("clients", [JOHN, HNW, c3, c4, c5])
        create_run_for_test(instance, job_name="onboard_client", status=DagsterRunStatus.STARTED,
                            tags={"sigmasight/client": HNW, "dagster/partition": HNW})
        runs = [r for r in _schedule_tick(instance) if r.job_name == "daily_refresh"]
    shapes = {(r.tags.get("dagster/partition"), r.tags.get("dagster/asset_partition_range_start"),
               r.tags.get("dagster/asset_partition_range_end")) for r in runs}
    assert len(runs) == 3 and shapes == {(JOHN, None, None), (None, c3, c4), (c5, None, None)}


@contextmanager
def _sensor_ticks(instance, name: str):
    """`tick(at)`: one tick of sensor `name` at time `at` as the sensor daemon evaluates it (code loaded once in a
    gRPC server); returns that tick."""
    from dagster._core.test_utils import freeze_time
    from dagster._daemon.sensor import execute_sensor_iteration

    with _workspace(instance) as context:
        sensor = _remote(context, "sensor", name)

        def tick(at: datetime):
            with freeze_time(at):
                if not instance.get_instigator_state(sensor.get_remote_origin_id(), sensor.selector_id):
                    instance.start_sensor(sensor)
                list(execute_sensor_iteration(context, logging.getLogger("test"), None, None))
            return instance.get_ticks(sensor.get_remote_origin_id(), sensor.selector_id)[0]

        yield tick


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # Dagster's run records decide, not the SigmaSight database
def test_changed_drop_waits_for_the_range_run_covering_its_client(env):
    """A client's drop changes while the daily refresh's range run covers that client (a run in flight whose range
    tags include it): the drop sensor requests nothing (that run would write analytics of the old positions over the
    new ones) and says why; once the range run has ended, the next tick requests the new drop's onboarding."""
    from dagster._core.scheduler.instigation import TickStatus
    from dagster._core.test_utils import create_run_for_test

    from sigmasight_onboarding.partitions import client_range_tags

    folder = copy_demo(env["imports"], JOHN)
    copy_demo(env["imports"], HNW)
    t0 = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
    with instance_for_test(overrides=MOCK_LAUNCHER) as instance, _sensor_ticks(instance, "client_drop_sensor") as tick:
        first = tick(t0)
        assert first.status == TickStatus.SUCCESS and len(first.run_ids) == 2  # both new clients
        for run in instance.get_runs():
            instance.report_run_canceled(run)  # their onboarding is over
        refresh = create_run_for_test(instance, job_name="daily_refresh", status=DagsterRunStatus.STARTED,
                                      tags=client_range_tags(instance.get_dynamic_partitions("clients")))
        csv = folder / "portfolio.csv"
        csv.write_text(csv.read_text().rstrip("\n") + "\n\n")  # new content (a blank line), the same positions
        waiting = tick(t0 + timedelta(minutes=1))
        assert waiting.status == TickStatus.SKIPPED and not waiting.run_ids, (waiting.status, waiting.run_ids)
        assert "run in flight: 1" in waiting.skip_reason
        instance.report_run_canceled(instance.get_run_by_id(refresh.run_id))
        after = tick(t0 + timedelta(minutes=2))
        assert after.status == TickStatus.SUCCESS and len(after.run_ids) == 1
        run = instance.get_run_by_id(after.run_ids[0])
        assert run.job_name == "onboard_client" and run.tags["dagster/partition"] == JOHN
        (john_first,) = [r for r in map(instance.get_run_by_id, first.run_ids) if r.tags["sigmasight/client"] == JOHN]
        assert run.tags["sigmasight/drop_hash"] != john_first.tags["sigmasight/drop_hash"]  # the changed drop


def test_timeseries_sensor_is_level_triggered(env):
    """Switched on late (after the onboarding, no run-status event): it still requests the missing
    sessions, as ONE range run per client; once they exist it skips; the verification sensor then
    requests the verification. Requests are validated against the Definitions."""
    copy_demo(env["imports"], JOHN)
    with instance_for_test(overrides=project_instance_overrides()) as instance:
        context = build_sensor_context(instance=instance, definitions=defs, resources=defs.resources)
        assert "no clients" in str(onboarding_timeseries_sensor(context).skip_message)
        assert run_onboarding(JOHN, instance).success
        result = onboarding_timeseries_sensor(build_sensor_context(instance=instance, definitions=defs, resources=defs.resources))
        (request,) = result
        assert request.tags["dagster/asset_partition_range_start"] == f"{JOHN}|{last_sessions(AS_OF, 30)[0]}"
        assert request.tags["dagster/asset_partition_range_end"] == f"{JOHN}|{AS_OF}"
        assert request.tags["sigmasight/client"] == JOHN and "30 sessions" in request.tags["sigmasight/range"]
        # execute exactly what was requested (in-process, same tags) and re-evaluate
        job = defs.resolve_job_def(request.job_name or "backfill_timeseries")
        assert job.execute_in_process(instance=instance, tags=request.tags).success
        again = onboarding_timeseries_sensor(build_sensor_context(instance=instance, definitions=defs, resources=defs.resources))
        assert "every onboarded client has its last sessions" in str(again.skip_message)
        (verify,) = verification_sensor(build_sensor_context(instance=instance, definitions=defs, resources=defs.resources))
        assert verify.partition_key == JOHN


@pytest.mark.slow
@pytest.mark.parametrize("failed_step", ["prices", "analytics"])
def test_clients_of_a_failed_refresh_batch_are_refreshed_alone(env, monkeypatch, failed_step):
    """A `daily_refresh` batch fails as a whole when one client's blocking check fails: its other clients miss the
    new session's prices (and so its time series), or — the price step done, an analytics step failed — its
    analytics, until the next day. Evaluated as the sensor daemon does: the time-series sensor requests one
    `daily_refresh` run per client of the failed batch (once per batch), and once a client's own refresh ran for
    real, that client's new session."""
    from dagster._core.scheduler.instigation import TickStatus
    from dagster._core.test_utils import create_run_for_test

    from sigmasight_onboarding.cli import run_timeseries
    from sigmasight_onboarding.partitions import client_range_tags, run_clients_of

    yesterday = last_sessions(AS_OF, 2)[0]
    monkeypatch.setenv("SIGMASIGHT_ONBOARD_SESSIONS", "1")
    monkeypatch.setenv("SIGMASIGHT_AS_OF", yesterday.isoformat())
    t0 = datetime(2026, 11, 24, 23, 40, tzinfo=timezone.utc)
    with instance_for_test(overrides=MOCK_LAUNCHER) as instance:
        for email in (JOHN, HNW):
            copy_demo(env["imports"], email)
            assert run_onboarding(email, instance).success
            assert all(r.success for _d, r in run_timeseries(email, [yesterday], instance))
        monkeypatch.setenv("SIGMASIGHT_AS_OF", AS_OF.isoformat())  # the new session arrives
        with _sensor_ticks(instance, "onboarding_timeseries_sensor") as tick:
            before = tick(t0 - timedelta(minutes=1))  # no batch has run yet: both wait for their prices, and say so
            assert before.status == TickStatus.SKIPPED and not before.run_ids
            assert before.skip_reason.startswith("nothing to request now; waiting:"), before.skip_reason
            assert f"{JOHN}: 1 session(s) wait for a price refresh" in before.skip_reason
        batch = create_run_for_test(instance, job_name="daily_refresh", status=DagsterRunStatus.FAILURE,
                                    tags={**client_range_tags([JOHN, HNW]), "sigmasight/trigger": "daily_refresh_schedule",
                                          "sigmasight/as_of": AS_OF.isoformat()})
        if failed_step == "analytics":  # the batch's price step had succeeded for both clients (a real run of it)
            from dagster import AssetKey

            assert defs.resolve_job_def("daily_refresh").execute_in_process(
                instance=instance, tags=client_range_tags([JOHN, HNW]), asset_selection=[AssetKey("price_history")]).success
        with _sensor_ticks(instance, "onboarding_timeseries_sensor") as tick:
            first = tick(t0)
            assert first.status == TickStatus.SUCCESS, (first.status, first.error, first.skip_reason)
            runs = [r for r in map(instance.get_run_by_id, first.run_ids) if r.job_name == "daily_refresh"]
            assert sorted((r.job_name, r.tags["dagster/partition"], r.tags["sigmasight/client"]) for r in runs) == [
                ("daily_refresh", HNW, HNW), ("daily_refresh", JOHN, JOHN)]
            assert all(r.tags["sigmasight/as_of"] == AS_OF.isoformat() and "dagster/asset_partition_range_start" not in r.tags
                       and r.tags["sigmasight/refresh_of"] == batch.run_id for r in runs)
            for run in map(instance.get_run_by_id, first.run_ids):
                instance.report_run_canceled(run)  # not in flight any more: the clients are free again
            again = tick(t0 + timedelta(minutes=1))
            assert not again.run_ids, again.run_ids  # once per failed batch
            john = next(r for r in runs if r.tags["sigmasight/client"] == JOHN)
            refresh = defs.resolve_job_def("daily_refresh").execute_in_process(
                instance=instance, partition_key=JOHN, tags=john.tags)
            assert refresh.success
            after = tick(t0 + timedelta(minutes=2))
            (series,) = [instance.get_run_by_id(i) for i in after.run_ids]  # JOHN's new session (HNW's too if due)
            order = instance.get_dynamic_partitions("clients")
            assert series.job_name == "backfill_timeseries" and JOHN in run_clients_of(series.tags, order)
            assert series.tags["dagster/asset_partition_range_end"].endswith(f"|{AS_OF}")
            if failed_step == "prices":  # HNW's new session still waits for its prices: not requested
                assert not [r for r in map(instance.get_run_by_id, first.run_ids) if r.job_name == "backfill_timeseries"]
        assert batch.run_id not in after.run_ids


def test_session_blocks_split_at_gaps():
    blocks = session_blocks([date(2026, 7, 31), date(2026, 8, 3), date(2026, 7, 2), date(2026, 7, 6)])
    assert blocks == [[date(2026, 7, 2), date(2026, 7, 6)], [date(2026, 7, 31), date(2026, 8, 3)]]  # 07-03 holiday skipped


# ------------------------------------------------------------------------------------------------
# end to end with a real dagster-daemon
# ------------------------------------------------------------------------------------------------


def _ready(url: str, email: str) -> bool:
    with get_engine(url).connect() as conn:
        return bool(conn.execute(text("SELECT COUNT(*) FROM onb_verifications WHERE client_email = :e AND passed"),
                                 {"e": email}).scalar_one())


def _wait(predicate, timeout: float, what: str, daemon, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if daemon.poll() is not None:
            pytest.fail(f"dagster-daemon exited ({daemon.returncode}) while waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(2)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


@pytest.mark.slow(seconds=100)
# On the embedded default (SQLite): the switch-on order is Dagster's state, not the SigmaSight database's; the daemon
# path drop → READY on PostgreSQL (Dagster's storage and the SigmaSight database) is test_scale_out's end-to-end test.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_daemon_end_to_end_drop_to_ready_in_either_order(env, tmp_path):
    """A real `dagster-daemon run` on a temporary DAGSTER_HOME. Client 1: only client_drop_sensor
    is on; once it is onboarded the time-series and verification sensors are switched on LATE →
    READY with no manual step. Client 2 is dropped with everything on → READY."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(f"load_from:\n  - python_module:\n      module_name: sigmasight_onboarding.definitions\n"
                         f"      working_directory: {REPO}\n      location_name: sigmasight_onboarding\n")
    child_env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO)}
    bin_dir = Path(sys.executable).parent

    def dagster(*args):
        subprocess.run([str(bin_dir / "dagster"), *args, "-w", str(workspace)], env=child_env, check=True,
                       capture_output=True, timeout=180)

    log = tmp_path / "daemon.log"
    dagster("sensor", "start", "client_drop_sensor")
    with open(log, "w") as out:
        daemon = subprocess.Popen([str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace)], env=child_env,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        from dagster import DagsterInstance

        copy_demo(env["imports"], JOHN)
        with DagsterInstance.from_config(str(home)) as instance:
            def onboarded():
                runs = instance.get_runs(filters=RunsFilter(job_name="onboard_client", statuses=[DagsterRunStatus.SUCCESS]))
                return any(r.tags.get("dagster/partition") == JOHN for r in runs)

            _wait(onboarded, 240, "the onboarding of client 1", daemon, log)
            time.sleep(12)  # nothing else happens while the other sensors are off
            assert not instance.get_runs(filters=RunsFilter(job_name="backfill_timeseries"))
            dagster("sensor", "start", "onboarding_timeseries_sensor")
            dagster("sensor", "start", "verification_sensor")
            _wait(lambda: _ready(env["db_url"], JOHN), 300, "client 1 READY (sensors switched on late)", daemon, log)
            copy_demo(env["imports"], HNW)
            _wait(lambda: _ready(env["db_url"], HNW), 300, "client 2 READY (everything on)", daemon, log)
            ts_runs = instance.get_runs(filters=RunsFilter(job_name="backfill_timeseries"))
            assert len(ts_runs) == 2 and all(r.status == DagsterRunStatus.SUCCESS for r in ts_runs)  # one range run per client
            snaps = instance.get_materialized_partitions(__import__("dagster").AssetKey("portfolio_snapshots"))
            assert len([k for k in snaps if k.startswith(JOHN)]) == 30 and len([k for k in snaps if k.startswith(HNW)]) == 30
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # Dagster's records decide, not the SigmaSight database
def test_daily_schedule_spreads_the_clients_over_parallel_runs(env, monkeypatch):
    """SIGMASIGHT_PARALLEL_RUNS=2 and 41 clients: the daemon's evaluation of the tick requests two range runs of
    consecutive clients (21 and 20), together covering every client once, so the run queue computes them side by
    side; with 39 clients a second run would hold fewer than 20 clients, so it stays one run."""
    monkeypatch.delenv("SIGMASIGHT_AS_OF", raising=False)
    monkeypatch.setenv("SIGMASIGHT_PARALLEL_RUNS", "2")
    clients = [f"client{i:02d}@example.com" for i in range(41)]
    with instance_for_test(overrides=MOCK_LAUNCHER) as instance:
        instance.add_dynamic_partitions("clients", clients)
        runs = sorted(_schedule_tick(instance), key=lambda r: r.tags["dagster/asset_partition_range_start"])
    assert [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"]) for r in runs] == [
        (clients[0], clients[20]), (clients[21], clients[40])]
    assert [r.tags["sigmasight/clients"].split(":")[0] for r in runs] == ["21", "20"]
    with instance_for_test(overrides=MOCK_LAUNCHER) as instance:
        instance.add_dynamic_partitions("clients", clients[:39])
        (run,) = _schedule_tick(instance)
    assert (run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"]) == (
        clients[0], clients[38])
