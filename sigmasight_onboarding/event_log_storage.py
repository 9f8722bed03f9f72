"""Dagster's event logs (SQLite, PostgreSQL), keeping their connections open instead of reopening them per event.

Dagster's `SqliteEventLogStorage` (the embedded default) creates an engine, opens a connection and
closes it again for every event it stores (SQLAlchemy `NullPool`). Closing the last connection of a
WAL database makes SQLite checkpoint it, so each event paid a connect, a commit, a checkpoint and a
close. A range run of 250 sessions stores about 2,300 events (materialisations and check results of
three assets per session): measured, that bookkeeping made the run take 24.3 s on an on-disk instance
against 8.3 s on an in-memory one, and 11.1 s with this class (`bench/results/issue11.md`, session 16).

`PooledSqliteEventLogStorage` is that class with one change: each process keeps an engine with one pooled
connection per database file it uses: the index database and the few run databases used most recently (least
recently used ones are closed), and it remembers which index tables exist (Dagster checks before most writes,
with a connection of its own each time). An event then costs its INSERTs and one COMMIT. Two more settings:
SQLite's `synchronous` is NORMAL (configurable, `synchronous`): in WAL mode a commit then appends to the WAL
without an fsync, which happens at checkpoints (SQLite's default FULL paid one per event); a crash of any
process loses nothing, a power failure may lose the last events. And the UI, which follows a run's log by
watching the run's file, also watches the file's WAL (`RunLogWatchdog`), where a commit lands; the writers
used to copy the WAL into the file after every event (a passive checkpoint, and with it an fsync) only so the
file would change. Measured, E's daily refresh of 200 clients on an on-disk instance in one process: 33.7 s ->
27.8 s (`bench/results/issue11.md`, session 28). Everything else — schema, one database per run, migrations,
WAL mode — is Dagster's own. The connections hold no lock while idle (each use is one transaction, rolled back
on return to the pool), so the webserver, the daemon and run workers still share the files as before.

Batches: Dagster hands some events over as one batch — a new run's planned materialisations and check
evaluations (1,500 for a 250-session range run), and a range run's materialisations, one per partition of
each output — to `store_event_batch`, but only while DAGSTER_EVENT_BATCH_SIZE > 0 (Dagster's default is 0:
one `store_event` each). Both classes write a batch in ONE transaction (Dagster's SQLite class has no batch
write of its own; dagster-postgres' autocommits each statement), and switch the variable on (1000) in every
process whose instance uses them, unless it is set. A batch that fails part-way is rolled back whole, and
Dagster then stores its events one by one. Measured, D's 250-session range run on an on-disk instance: 30.1 s
-> 22.6 s, the same as on an in-memory instance (`bench/results/issue11.md`, session 22).

`PooledPostgresEventLogStorage` does the same for dagster-postgres, which also connects anew for each
write (a TCP connection and authentication, ~5 ms here, for each of the ~2,300 events; the webserver
alone keeps one open): one pooled connection per process (checked with a ping before use, so a
PostgreSQL restart costs a reconnect, not an error) and overflow connections for concurrent threads.
With either class a forked child never uses or closes its parent's connections. `deploy/dagster.yaml` and
`deploy/dagster-postgres.yaml` configure it with dagster-postgres' own run and schedule storage.

The SQLite one is configured in the project's `dagster.yaml` (`event_log_storage`). `base_dir` is optional: without it
the events go where Dagster's default puts them, `<instance root>/history/runs`, which also works for
the temporary instance of `dagster dev` started without DAGSTER_HOME (its root is only known once
the instance registers itself with the storage).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

from dagster import Field, StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
    SqliteEventLogStorageWatchdog,
)
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool
from watchdog.observers import Observer

from sigmasight_onboarding.ephemeral_instance import RememberedTables, enable_event_batches

DEFAULT_OPEN_RUN_DATABASES = 8
#: SQLite's `synchronous` for the event databases (WAL mode, set by Dagster): NORMAL syncs the WAL at checkpoints, not
#: at every commit. A crash of any process loses nothing and no setting corrupts a WAL database; only a power or OS
#: failure may lose the last events (FULL, SQLite's default, keeps them at one fsync per event).
SYNCHRONOUS_VALUES = ("OFF", "NORMAL", "FULL", "EXTRA")
DEFAULT_SYNCHRONOUS = "NORMAL"

# Every pooled engine of this module. A forked child (Celery's prefork workers) gets fresh, empty pools
# (SQLAlchemy's `dispose(close=False)`) and keeps its parent's pools referenced but untouched: closing an
# inherited SQLite or PostgreSQL connection in the child would checkpoint or end the parent's session.
_POOLED_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()
_PARENTS_POOLS: list = []


def _after_fork_in_child() -> None:
    for engine in list(_POOLED_ENGINES):
        _PARENTS_POOLS.append(engine.pool)
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)


def _pooled(engine: Engine) -> Engine:
    _POOLED_ENGINES.add(engine)
    return engine


class PooledSqliteEventLogStorage(RememberedTables, SqliteEventLogStorage):
    """`SqliteEventLogStorage` with per-database engines kept open (LRU of run databases)."""

    def __init__(self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None,
                 open_run_databases: int = DEFAULT_OPEN_RUN_DATABASES, synchronous: str = DEFAULT_SYNCHRONOUS):
        if str(synchronous).upper() not in SYNCHRONOUS_VALUES:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS_VALUES)}, not {synchronous!r}")
        self._synchronous = str(synchronous).upper()
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._open_run_databases = max(1, int(open_run_databases))
        self._tables_present: set[str] = set()
        self._batch = threading.local()  # .connections: {shard: connection} while store_event_batch runs on the thread
        if base_dir is None:
            # The instance root is only known in register_instance (dagster dev's temporary instance
            # has no DAGSTER_HOME): Dagster's own __init__ runs there, with Dagster's default folder.
            self._inst_data = inst_data
            self._instance_weakref = None
            return
        super().__init__(base_dir, inst_data)

    # -- configuration ------------------------------------------------------------------------------
    @classmethod
    def config_type(cls) -> Mapping[str, Any]:
        return {
            "base_dir": Field(StringSource, is_required=False,
                              description="Folder of the event databases; default <instance root>/history/runs."),
            "open_run_databases": Field(int, is_required=False, default_value=DEFAULT_OPEN_RUN_DATABASES,
                                        description="Run databases a process keeps a connection to (LRU)."),
            "synchronous": Field(str, is_required=False, default_value=DEFAULT_SYNCHRONOUS,
                                 description="SQLite's synchronous setting of the event databases (WAL mode): NORMAL "
                                             "syncs at checkpoints; FULL (SQLite's default) at every event."),
        }

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,  # ty: ignore[invalid-method-override]
                          config_value: Mapping[str, Any]) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def register_instance(self, instance) -> None:
        enable_event_batches()
        if not hasattr(self, "_base_dir"):
            super().__init__(os.path.join(instance.root_directory, "history", "runs"), self._inst_data)
        super().register_instance(instance)

    # -- connections ----------------------------------------------------------------------------------
    def _on_connect(self, dbapi_connection, _record) -> None:
        """Every new connection to an event database gets the configured ``synchronous`` (`DEFAULT_SYNCHRONOUS`: NORMAL)."""
        dbapi_connection.execute(f"PRAGMA synchronous={self._synchronous}")

    def _engine(self, shard: str) -> Engine:
        """The engine of one database file, most recently used last; called under `_db_lock`."""
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = _pooled(create_engine(
                self.conn_string_for_shard(shard),
                poolclass=QueuePool, pool_size=1, max_overflow=2,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            ))
            sa_event.listen(engine, "connect", self._on_connect)
        self._engines[shard] = engine
        run_shards = [name for name in self._engines if name != INDEX_SHARD_NAME]
        for name in run_shards[: max(0, len(run_shards) - self._open_run_databases)]:
            self._engines.pop(name).dispose()
        return engine

    def _ready_engine(self, shard: str) -> Engine:
        """`_engine` of ``shard`` with Dagster's tables created on first use; called under `_db_lock`."""
        engine = self._engine(shard)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        batch = getattr(self._batch, "connections", None)
        if batch is not None:  # inside store_event_batch on this thread: its open transaction on the shard
            conn = batch.get(shard)
            if conn is None:
                with self._db_lock:
                    conn = self._ready_engine(shard).connect()
                conn.begin()
                batch[shard] = conn
            yield conn
            return
        with self._db_lock:
            engine = self._ready_engine(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn

    def store_event_batch(self, events) -> None:
        """Dagster's `store_event` for each event, all in ONE transaction per database file (the run's and the
        index), committed together at the end: a batch of a range run's materialisations or of a new run's
        planned events costs one commit per file instead of one or two per event. Any error while storing rolls
        the whole batch back and re-raises; Dagster then stores the events one by one (`handle_new_event`). The
        two files commit one after the other (SQLite has no commit across files): should the second COMMIT itself
        fail (disk full, I/O error), the first file keeps the batch and Dagster's fallback stores it there again."""
        if len(events) < 2 or getattr(self._batch, "connections", None) is not None:
            return super().store_event_batch(events)
        connections: dict[str, Connection] = {}
        self._batch.connections = connections
        try:
            for event in events:
                self.store_event(event)
        except BaseException:
            self._batch.connections = None
            for conn in connections.values():
                conn.rollback()
                conn.close()
            raise
        self._batch.connections = None
        try:
            for conn in connections.values():  # the run's events first (they were inserted first)
                conn.commit()
        finally:
            for conn in connections.values():
                conn.close()

    def watch(self, run_id: str, cursor: str | None, callback) -> None:
        """Dagster's `watch` (the UI streaming a run's log), woken by the run database's WAL as well as by the file
        itself (`RunLogWatchdog`)."""
        if not self._obs:
            self._obs = Observer()
            self._obs.start()
        watchdog = RunLogWatchdog(self, run_id, callback, cursor)
        self._watchers[run_id][callback] = (watchdog, self._obs.schedule(watchdog, self._base_dir, recursive=True))

    def _close_connections(self) -> None:
        if not hasattr(self, "_db_lock"):  # never registered with an instance: nothing was opened
            return
        with self._db_lock:
            engines, self._engines = list(self._engines.values()), OrderedDict()
            for engine in engines:
                engine.dispose()

    def wipe(self) -> None:
        self._close_connections()  # the run databases' files are deleted next
        self._tables_present.clear()
        self.__dict__.pop("_asset_key_columns_present", None)
        super().wipe()

    def dispose(self) -> None:
        self._close_connections()
        if hasattr(self, "_base_dir"):
            super().dispose()


POSTGRES_POOL_OVERFLOW = 32  # connections beyond the pooled one while threads write at once (the daemon runs several; closed after use)


class RunLogWatchdog(SqliteEventLogStorageWatchdog):
    """Dagster's watcher of one run's event database, also woken when the database's WAL changes. A commit appends
    to ``<run>.db-wal`` and leaves ``<run>.db`` as it was until a checkpoint; the writers here do not checkpoint
    after each event (that cost an fsync per event), so the UI learns of new events from the WAL."""

    def __init__(self, event_log_storage, run_id: str, callback, cursor: str | None):
        super().__init__(event_log_storage, run_id, callback, cursor)
        self._patterns = [self._log_path, f"{self._log_path}-wal"]

    def on_modified(self, event) -> None:
        self._process_log()


class PooledPostgresEventLogStorage(PostgresEventLogStorage):
    """dagster-postgres' `PostgresEventLogStorage` with one pooled connection per process."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 inst_data: ConfigurableClassData | None = None, token_provider=None):
        self._batch = threading.local()  # .connection: the transaction of store_event_batch on this thread
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        self._engine.dispose()
        self._engine = _pooled(create_pg_engine(
            self.postgres_url, self._token_provider, isolation_level="AUTOCOMMIT",
            pool_size=1, max_overflow=POSTGRES_POOL_OVERFLOW, pool_pre_ping=True, pool_recycle=3600))

    def register_instance(self, instance) -> None:
        enable_event_batches()
        super().register_instance(instance)

    def _connect(self):
        conn = getattr(self._batch, "connection", None)
        if conn is not None:  # inside store_event_batch on this thread: its open transaction
            return nullcontext(conn)
        return super()._connect()

    def store_event_batch(self, events) -> None:
        """dagster-postgres' `store_event_batch` (one multi-row INSERT for a batch of materialisations, else the
        events one by one) in ONE transaction instead of a commit per statement. Any error rolls the whole batch
        back and re-raises; Dagster then stores the events one by one (`handle_new_event`)."""
        if len(events) < 2 or getattr(self._batch, "connection", None) is not None:
            return super().store_event_batch(events)
        with self._engine.connect() as conn:
            conn = conn.execution_options(isolation_level="READ COMMITTED")  # the engine's AUTOCOMMIT, for this batch
            with conn.begin():
                self._batch.connection = conn
                try:
                    super().store_event_batch(events)
                finally:
                    self._batch.connection = None

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,  # ty: ignore[invalid-method-override]
                          config_value: Mapping[str, Any]) -> PooledPostgresEventLogStorage:
        return cls(inst_data=inst_data, postgres_url=pg_url_from_config(config_value),
                   should_autocreate_tables=config_value.get("should_autocreate_tables", True),
                   token_provider=get_token_provider_from_config(config_value))

    def optimize_for_webserver(self, statement_timeout: int, pool_recycle: int, max_overflow: int) -> None:
        self._engine.dispose()
        super().optimize_for_webserver(statement_timeout, pool_recycle, max_overflow)  # its own pooled engine

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()
