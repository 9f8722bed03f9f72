"""The project's Dagster event log (dagster.yaml): Dagster's SQLite files, with connections kept open.

Checked on a real on-disk instance: a range run's events reach Dagster's own databases through a
couple of connections instead of one per event, and a separate process using Dagster's stock
`SqliteEventLogStorage` on the same folder reads (and writes) them while this process keeps its
connections open.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance
from dagster._core.instance.ref import InstanceRef
from sqlalchemy import event
from sqlalchemy.engine import Engine

from sigmasight_onboarding.calendar import last_sessions
from sigmasight_onboarding.cli import run_onboarding, run_timeseries
from sigmasight_onboarding.event_log_storage import PooledSqliteEventLogStorage

from .conftest import REPO, copy_demo
from .test_timeseries import DAY

JOHN = "john.smith@example.com"
TIMESERIES_ASSETS = ("portfolio_snapshots", "portfolio_risk_metrics", "stress_test_results")

# Run in a fresh interpreter with Dagster's stock storage on the same instance folder (what the event
# log looks like to any Dagster process): the run's partitions and checks, then a write of its own.
STOCK_READER = r"""
import json, sys
from dagster import AssetKey, AssetMaterialization, DagsterEventType, DagsterInstance
home, run_id, assets = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
with DagsterInstance.from_config(home) as instance:
    storage = instance.event_log_storage
    out = {"storage": type(storage).__module__ + "." + type(storage).__name__,
           "partitions": {a: sorted(instance.get_materialized_partitions(AssetKey(a))) for a in assets},
           "checks": sorted(r.event_log_entry.dagster_event.asset_check_evaluation_data.partition
                            for r in instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION,
                                                                  limit=10000).records)}
    instance.report_runless_asset_event(AssetMaterialization("written_by_another_process"))
print(json.dumps(out))
"""


def _stock_home(tmp_path: Path, home: Path) -> Path:
    """A DAGSTER_HOME whose dagster.yaml is Dagster's stock SQLite storage rooted at `home`."""
    stock = tmp_path / "stock_home"
    stock.mkdir()
    (stock / "dagster.yaml").write_text(f"storage:\n  sqlite:\n    base_dir: {home}\ntelemetry:\n  enabled: false\n")
    return stock


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_range_run_events_reach_dagsters_files_through_open_connections(env, monkeypatch, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    copy_demo(env["imports"], JOHN)
    events_dir = home / "history" / "runs"
    connects: list[str] = []

    def count_event_log_connects(dbapi_connection, _record):
        path = dbapi_connection.execute("PRAGMA database_list").fetchall()[0][2]
        if Path(path).parent == events_dir:
            connects.append(Path(path).name)

    event.listen(Engine, "connect", count_event_log_connects)
    try:
        with DagsterInstance.get() as instance:
            storage = instance.event_log_storage
            assert isinstance(storage, PooledSqliteEventLogStorage)
            assert Path(storage._base_dir) == events_dir  # Dagster's default folder for the events
            assert run_onboarding(JOHN, instance).success
            days = last_sessions(DAY, 5)
            connects.clear()
            (_block, ranged), = run_timeseries(JOHN, days, instance)
            assert ranged.success
            stored = instance.get_records_for_run(ranged.run_id, limit=10000).records
            assert len(stored) > 40  # 15 materialisations, 15 check results, planned and step events
            # the index's connection stayed open since the onboarding run; the run's database is opened
            # once (Dagster's schema set-up takes a second connection) — not a connection per event
            assert set(connects) <= {"index.db", f"{ranged.run_id}.db"} and len(connects) <= 3, connects

            keys = sorted(f"{JOHN}|{d.isoformat()}" for d in days)
            out = subprocess.run(
                [sys.executable, "-c", STOCK_READER, str(_stock_home(tmp_path, home)), ranged.run_id, ",".join(TIMESERIES_ASSETS)],
                capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
            assert out.returncode == 0, out.stderr[-3000:]
            seen = json.loads(out.stdout.strip().splitlines()[-1])
            assert seen["storage"].endswith(".SqliteEventLogStorage")  # Dagster's own class reads the same files
            assert all(seen["partitions"][a] == keys for a in TIMESERIES_ASSETS)
            assert seen["checks"] == sorted(keys * len(TIMESERIES_ASSETS))
            # and what the other process wrote is visible through this process's open connections
            assert instance.fetch_materializations(AssetKey("written_by_another_process"), limit=5).records

            instance.wipe()  # deletes the run databases: the open connections go first
            assert not instance.get_materialized_partitions(AssetKey("portfolio_snapshots"))
            (_block, again), = run_timeseries(JOHN, days[-1:], instance)
            assert again.success
            assert instance.get_materialized_partitions(AssetKey("portfolio_snapshots")) == {f"{JOHN}|{days[-1].isoformat()}"}
    finally:
        event.remove(Engine, "connect", count_event_log_connects)


def _engine_event(run_id: str, message: str):
    from dagster._core.events import DagsterEvent, DagsterEventType as T, EngineEventData
    from dagster._core.events.log import EventLogEntry

    return EventLogEntry(error_info=None, level="INFO", user_message=message, run_id=run_id, timestamp=time.time(),
                         dagster_event=DagsterEvent(T.ENGINE_EVENT.value, "job", message=message,
                                                    event_specific_data=EngineEventData()))


def test_the_ui_follows_a_run_log_written_through_an_open_connection(tmp_path):
    """The webserver streams a run's log by watching the run's database file (watchdog); the writer
    (a run worker) keeps its connection open, so each write must still reach that file."""
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as worker, DagsterInstance.from_config(str(tmp_path)) as webserver:
        worker.event_log_storage.store_event(_engine_event("run-1", "step 1"))
        seen: list[str] = []
        webserver.event_log_storage.watch("run-1", None, lambda entry, _cursor: seen.append(entry.user_message))
        try:
            for step in ("step 2", "step 3"):
                worker.event_log_storage.store_event(_engine_event("run-1", step))
                deadline = time.monotonic() + 10
                while step not in seen and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert step in seen, f"the watcher did not see {step!r} (saw {seen})"
        finally:
            webserver.event_log_storage.dispose()


def test_run_databases_kept_open_are_bounded(tmp_path):
    """A long-lived process (the webserver reads many runs) keeps at most `open_run_databases` run files open."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "event_log_storage:\n  module: sigmasight_onboarding.event_log_storage\n  class: PooledSqliteEventLogStorage\n"
        "  config:\n    open_run_databases: 2\n")
    with DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        run_ids = [f"run{i}" for i in range(5)]
        for run_id in run_ids:
            storage.store_event(_engine_event(run_id, "hello"))
        fds = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
               if os.path.exists(f"/proc/self/fd/{fd}")]
        open_runs = {Path(p).name for p in fds if Path(p).parent == home / "history" / "runs" and p.endswith(".db")
                     and not p.endswith("index.db")}
        assert open_runs == {"run3.db", "run4.db"}  # the two most recent
        for run_id in run_ids:  # every run's events were stored, open or closed
            assert [r.event_log_entry.user_message for r in instance.get_records_for_run(run_id).records] == ["hello"]


@pytest.mark.parametrize(("configured", "expected"), [(None, 1), ("FULL", 2), ("extra", 3)])
def test_event_databases_use_the_configured_synchronous_setting(tmp_path, configured, expected):
    """SQLite's `synchronous` of the event databases: NORMAL (1) by default, no fsync per event in WAL mode; FULL (2)
    when configured; anything else is refused."""
    config = "" if configured is None else f"  config:\n    synchronous: {configured}\n"
    (tmp_path / "dagster.yaml").write_text(
        "event_log_storage:\n  module: sigmasight_onboarding.event_log_storage\n  class: PooledSqliteEventLogStorage\n" + config)
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        storage = instance.event_log_storage
        storage.store_event(_engine_event("run-1", "hello"))
        for shard in ("run-1", "index"):
            with storage.run_connection(shard) if shard != "index" else storage.index_connection() as conn:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == expected, shard
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal", shard
    with pytest.raises(ValueError, match="synchronous must be one of"):
        PooledSqliteEventLogStorage(str(tmp_path / "other"), synchronous="sometimes")


def test_temporary_instance_of_dagster_dev_puts_events_in_its_own_folder(tmp_path):
    """`dagster dev` without DAGSTER_HOME: a temporary instance configured by the repository's dagster.yaml."""
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path), config_dir=str(REPO))) as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        assert Path(storage._base_dir) == tmp_path / "history" / "runs"
        assert (tmp_path / "history" / "runs" / "index.db").exists()


def test_a_forked_child_writes_through_its_own_connections(tmp_path):
    """Celery's prefork workers fork: the child must neither use nor close the parent's open connections."""
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        storage = instance.event_log_storage
        storage.store_event(_engine_event("run-1", "parent before fork"))
        pid = os.fork()
        if pid == 0:  # the child: write through a connection of its own, then leave without any cleanup
            code = 1
            try:
                opened = []
                event.listen(Engine, "connect", lambda *_: opened.append(1))
                storage.store_event(_engine_event("run-1", "child"))
                code = 0 if opened else 3  # 3: it wrote through the parent's connection
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0  # 3: the child used the parent's connection
        storage.store_event(_engine_event("run-1", "parent after fork"))  # the parent's connection still works
        messages = [r.event_log_entry.user_message for r in instance.get_records_for_run("run-1").records]
        assert messages == ["parent before fork", "child", "parent after fork"]


def test_the_clis_in_memory_instance_stores_what_dagsters_own_does_through_one_connection(env):
    """The CLI's instance (`ephemeral_instance`: Dagster's in-memory one with the pooled event log) records the same
    events, materialised partitions and per-partition check results as `DagsterInstance.ephemeral()` for the same
    range run, and opens one connection to its event database where Dagster's opens one per event."""
    from sigmasight_onboarding.ephemeral_instance import PooledInMemoryEventLogStorage, ephemeral_instance

    copy_demo(env["imports"], JOHN)
    days = last_sessions(DAY, 3)
    seen = {}
    for name, make in (("dagster", DagsterInstance.ephemeral), ("pooled", ephemeral_instance)):
        connects: list[str] = []

        def count_event_connects(_dbapi_connection, _record):
            connects.append("events")

        with make() as instance:
            assert isinstance(instance.event_log_storage, PooledInMemoryEventLogStorage) == (name == "pooled")
            assert run_onboarding(JOHN, instance).success
            engine = instance.event_log_storage._engine  # the in-memory event database's engine
            event.listen(engine, "connect", count_event_connects)
            try:
                (_block, ranged), = run_timeseries(JOHN, days, instance)
            finally:
                event.remove(engine, "connect", count_event_connects)
            assert ranged.success
            records = instance.get_records_for_run(ranged.run_id, limit=10000).records
            seen[name] = {
                "event_types": sorted(r.event_log_entry.dagster_event_type.value for r in records if r.event_log_entry.is_dagster_event),
                "partitions": {a: sorted(instance.get_materialized_partitions(AssetKey(a))) for a in TIMESERIES_ASSETS},
                "connects": len(connects),
            }
    assert seen["pooled"]["event_types"] == seen["dagster"]["event_types"]
    assert seen["pooled"]["event_types"].count("ASSET_CHECK_EVALUATION") == 3 * len(days)  # one per check and session
    assert seen["pooled"]["partitions"] == seen["dagster"]["partitions"]
    assert seen["pooled"]["partitions"]["portfolio_snapshots"] == sorted(f"{JOHN}|{d.isoformat()}" for d in days)
    assert seen["dagster"]["connects"] > 40 and seen["pooled"]["connects"] <= 1, seen


# --------------------------------------------------------------------------- batched event writes

def _materialization(run_id: str, asset: str, partition: str):
    from dagster import AssetMaterialization
    from dagster._core.events import DagsterEvent, DagsterEventType as T, StepMaterializationData
    from dagster._core.events.log import EventLogEntry

    event = DagsterEvent(T.ASSET_MATERIALIZATION.value, "job", event_specific_data=StepMaterializationData(
        AssetMaterialization(asset_key=asset, partition=partition)))
    return EventLogEntry(error_info=None, level="DEBUG", user_message="", run_id=run_id, timestamp=time.time(),
                         dagster_event=event)


@contextmanager
def _project_instance(kind: str, tmp_path: Path, monkeypatch):
    """An instance as the project makes it: the CLI's in-memory one, `dagster.yaml` (SQLite files) or
    `deploy/dagster-postgres.yaml` on a throw-away PostgreSQL database."""
    home = tmp_path / f"home_{kind}"
    home.mkdir()
    if kind == "memory":  # the CLI's in-process instance
        from sigmasight_onboarding.ephemeral_instance import ephemeral_instance

        with ephemeral_instance() as instance:
            yield instance
        return
    if kind == "sqlite":
        shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
        with DagsterInstance.from_config(str(home)) as instance:
            yield instance
        return
    from sqlalchemy.engine import make_url

    from .conftest import throwaway_postgres_database

    with throwaway_postgres_database("dagster_batches") as url:
        shutil.copy(REPO / "deploy" / "dagster-postgres.yaml", home / "dagster.yaml")
        monkeypatch.setenv("DAGSTER_PG_URL", make_url(url).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False))
        with DagsterInstance.from_config(str(home)) as instance:
            yield instance


@pytest.mark.parametrize("kind", ["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_batch_of_events_is_one_transaction_and_a_failed_one_leaves_nothing(kind, tmp_path, monkeypatch):
    """Dagster hands a range run's per-partition materialisations (and a new run's planned events) to
    `store_event_batch` once DAGSTER_EVENT_BATCH_SIZE > 0, which the project's storages switch on. A batch is
    written in one transaction: on SQLite one COMMIT per database file instead of two per event. A batch that
    fails part-way leaves nothing behind, and Dagster's own fallback (`handle_new_event`: the events one by one)
    then stores every event exactly once."""
    from dagster._core.events import DagsterEventBatchMetadata

    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "0")
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE")  # unset, as on a machine that never heard of it
    with _project_instance(kind, tmp_path, monkeypatch) as instance:
        storage = instance.event_log_storage
        assert int(os.environ["DAGSTER_EVENT_BATCH_SIZE"]) >= 250  # switched on by the storage, big enough for a range
        for run_id in ("run-alone", "run-ok"):  # the runs' databases exist (creating one commits its schema)
            storage.store_event(_engine_event(run_id, "started"))
        commits: list[int] = []
        schema_reads: list[str] = []

        def count_commit(_conn):
            commits.append(1)

        def count_schema_reads(_conn, _cursor, statement, *_args):
            if "table_xinfo" in statement.lower() or "information_schema.columns" in statement.lower():
                schema_reads.append(statement)

        event.listen(Engine, "commit", count_commit)
        event.listen(Engine, "before_cursor_execute", count_schema_reads)
        try:
            # one by one (what Dagster does without batching): two commits per asset event on SQLite
            for day in range(1, 4):
                storage.store_event(_materialization("run-alone", "alone", f"2026-07-0{day}"))
            one_by_one = len(commits)
            commits.clear()
            keys = [f"c|2026-07-{day:02d}" for day in range(1, 21)]
            storage.store_event_batch([_materialization("run-ok", "batched", k) for k in keys])
            in_batch = len(commits)
        finally:
            event.remove(Engine, "commit", count_commit)
            event.remove(Engine, "before_cursor_execute", count_schema_reads)
        # Dagster reads the asset-key table's columns for every asset event; the project's storages remember them
        assert len(schema_reads) <= 2, schema_reads
        assert sorted(instance.get_materialized_partitions(AssetKey("batched"))) == keys
        assert len(instance.get_records_for_run("run-ok", limit=100).records) == 21
        if kind == "sqlite":
            assert (one_by_one, in_batch) == (6, 2)  # the run's database and the index, once each
        elif kind == "memory":
            assert (one_by_one, in_batch) == (6, 1)  # one database
        else:
            assert in_batch == 1  # one transaction (dagster-postgres alone autocommits every statement)

        # A batch whose asset-row write fails after its events were inserted: Dagster's SQL event logs write that
        # row per event (the 7th fails), dagster-postgres once per batch after one multi-row INSERT (the 1st fails).
        fail_at = 1 if kind == "postgresql" else 7
        calls = {"n": 0}
        original = type(storage)._store_asset_event

        def fail_once(self, conn, entry, event_id):
            calls["n"] += 1
            if calls["n"] == fail_at:
                raise RuntimeError("disk hiccup")
            return original(self, conn, entry, event_id)

        monkeypatch.setattr(type(storage), "_store_asset_event", fail_once)
        failing_keys = [f"f|2026-07-{day:02d}" for day in range(1, 13)]
        events = [_materialization("run-fail", "failing", k) for k in failing_keys]
        with pytest.raises(RuntimeError, match="disk hiccup"):
            storage.store_event_batch(events)
        assert not instance.get_records_for_run("run-fail", limit=100).records  # rolled back as a whole
        assert not instance.get_materialized_partitions(AssetKey("failing"))
        # Dagster's own path: the batch through handle_new_event fails, and Dagster stores the events one by one
        calls["n"] = 0
        for i, entry in enumerate(events):
            instance.handle_new_event(entry, batch_metadata=DagsterEventBatchMetadata("batch-1", i == len(events) - 1))
        assert calls["n"] > fail_at  # it did fail, then went on
        stored = instance.get_records_for_run("run-fail", limit=100).records
        assert sorted(r.event_log_entry.dagster_event.partition for r in stored) == failing_keys  # each exactly once
        assert sorted(instance.get_materialized_partitions(AssetKey("failing"))) == failing_keys
