"""The in-memory Dagster instance of in-process runs (the CLI without DAGSTER_HOME, the benchmarks).

It is `DagsterInstance.ephemeral()` with one change, like `event_log_storage.py` for the on-disk and
PostgreSQL event logs: Dagster's `InMemoryEventLogStorage` opens a new connection to its in-memory
SQLite database for every event it stores and runs two PRAGMAs on it. A daily refresh of 60 clients in
one run stores ~1,900 events (every client's materialisations and per-partition check results), and
that connection churn was about a fifth of the event bookkeeping. `PooledInMemoryEventLogStorage`
keeps one connection per thread for the life of the instance (foreign keys switched on once); each
use is still one transaction under Dagster's own lock. A batch of events Dagster hands over (a run's
planned events, a range run's materialisations; `enable_event_batches`) is one transaction. Tables,
queries and results are Dagster's.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

from dagster._core.storage.event_log import InMemoryEventLogStorage


#: Events per `store_event_batch` call (Dagster's DAGSTER_EVENT_BATCH_SIZE; see `enable_event_batches`).
EVENT_BATCH_SIZE = 1000


def enable_event_batches() -> None:
    """Switch on Dagster's batched event writes in this process, unless DAGSTER_EVENT_BATCH_SIZE is already set.

    Dagster hands the events it emits as one batch — a new run's planned materialisations and check
    evaluations, one materialisation per partition of a range run's output — to `store_event_batch` only
    when the variable is > 0 (it reads it at each event; Dagster's default 0 stores them one by one). The
    project's event logs (`PooledInMemoryEventLogStorage` here, those of `event_log_storage.py` on disk and on
    PostgreSQL) write a batch in one transaction and call this when an instance registers them, so the process
    that creates a run (daemon, webserver, CLI) and the run worker batch."""
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))


class RememberedTables:
    """Mixin for a Dagster event log: `has_table` answers remembered once true. Dagster asks before most
    index writes, each time through a new connection; a table, once there, stays (a `wipe` that drops
    tables clears `_tables_present`). Likewise the columns of the asset-key table, which Dagster's SQL event
    logs read back from the database schema (`inspect(...).get_columns`) for every asset event they store:
    a column, once there, stays (only a migration adds one)."""

    _tables_present: set[str]

    def has_table(self, table_name: str) -> bool:
        present_tables = self.__dict__.setdefault("_tables_present", set())
        if table_name in present_tables:
            return True
        present = super().has_table(table_name)
        if present:
            present_tables.add(table_name)
        return present

    def _has_asset_key_col_on_connection(self, conn, column_name: str) -> bool:
        present_columns = self.__dict__.setdefault("_asset_key_columns_present", set())
        if column_name in present_columns:
            return True
        present = super()._has_asset_key_col_on_connection(conn, column_name)
        if present:
            present_columns.add(column_name)
        return present


class PooledInMemoryEventLogStorage(RememberedTables, InMemoryEventLogStorage):
    """`InMemoryEventLogStorage` holding one connection per thread instead of one per event."""

    def __init__(self, inst_data=None, preload=None):
        self._local = threading.local()
        super().__init__(inst_data, preload)

    def _connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._engine.connect()
            conn.exec_driver_sql("PRAGMA foreign_keys=ON;")
            conn.commit()
            self._local.conn = conn
        return conn

    def register_instance(self, instance) -> None:
        enable_event_batches()
        super().register_instance(instance)

    @contextmanager
    def _connect(self):
        if getattr(self._local, "in_batch", False):  # inside store_event_batch on this thread: its transaction
            yield self._connection()
            return
        with self._db_lock:
            conn = self._connection()
            with conn.begin():
                yield conn

    def store_event_batch(self, events) -> None:
        """Dagster's `store_event` for each event in ONE transaction (as `event_log_storage.py` does on disk); an
        error rolls the batch back and re-raises, and Dagster then stores the events one by one."""
        if len(events) < 2 or getattr(self._local, "in_batch", False):
            return super().store_event_batch(events)
        with self._db_lock:
            conn = self._connection()
            storage_id = self._storage_id  # the watchers' cursor, counted per stored event
            try:
                with conn.begin():
                    self._local.in_batch = True
                    try:
                        for event in events:
                            self.store_event(event)
                    finally:
                        self._local.in_batch = False
            except BaseException:
                self._storage_id = storage_id
                raise

    def dispose(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        super().dispose()


def ephemeral_instance():
    """`DagsterInstance.ephemeral()` with the pooled in-memory event log (everything else as Dagster builds it)."""
    from dagster import DagsterInstance
    from dagster._core.instance.types import InstanceType
    from dagster._core.launcher.sync_in_memory_run_launcher import SyncInMemoryRunLauncher
    from dagster._core.run_coordinator import DefaultRunCoordinator
    from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager
    from dagster._core.storage.root import TemporaryLocalArtifactStorage
    from dagster._core.storage.runs import InMemoryRunStorage

    return DagsterInstance(
        instance_type=InstanceType.EPHEMERAL,
        local_artifact_storage=TemporaryLocalArtifactStorage(),
        run_storage=InMemoryRunStorage(),
        event_storage=PooledInMemoryEventLogStorage(),
        compute_log_manager=NoOpComputeLogManager(),
        run_coordinator=DefaultRunCoordinator(),
        run_launcher=SyncInMemoryRunLauncher(),
    )
