"""Engines (one per URL per process) and automatic, idempotent Alembic migrations."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

from sigmasight_onboarding.db.contract import create_contract_schema

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant 64-bit key: serialises concurrent migrators on one PostgreSQL database.
_PG_MIGRATION_LOCK_KEY = 7_301_948_113

#: Our Alembic version table; the backend's migrations keep theirs in `alembic_version`.
VERSION_TABLE = "onb_alembic_version"

_engines: dict[str, Engine] = {}
_migrated: set[str] = set()
_lock = threading.Lock()


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - trivial
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    # pysqlite's own transaction handling defers BEGIN; emit it ourselves so a whole client
    # write is one real transaction (and locks early instead of failing late).
    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover - trivial
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def get_engine(url: str, migrate_schema: bool = True) -> Engine:
    """The process-wide engine for `url`, with the schema migrated to head on first use."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            parsed = make_url(url)
            if parsed.get_backend_name() == "sqlite":
                if parsed.database and parsed.database != ":memory:":
                    Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
                engine = create_engine(
                    url, connect_args={"check_same_thread": False, "isolation_level": None, "timeout": 30}
                )
                _configure_sqlite(engine)
            else:
                # psycopg2: an executemany UPDATE/DELETE (the daily marks of every position) as pages of 100 rows per
                # round trip (psycopg2's execute_batch) instead of one round trip per row; psycopg 3 pipelines by itself
                batch = {"executemany_mode": "values_plus_batch"} if parsed.get_driver_name() == "psycopg2" else {}
                engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, **batch)
            _engines[url] = engine
    if migrate_schema and url not in _migrated:
        migrate(engine)
        _migrated.add(url)
    return engine


def _revision(conn) -> str | None:
    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return _revision(conn)


class PreContractDatabaseError(RuntimeError):
    """A database written by a version of this project from before the backend contract."""


def _refuse_pre_contract_database(conn) -> None:
    if not inspect(conn).has_table("alembic_version"):
        return
    versions = [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
    if any(v.startswith("000") for v in versions):
        raise PreContractDatabaseError(
            "this database was created by sigmasight-onboarding before it adopted the SigmaSight "
            "backend's schema (tables such as market_data_cache have another shape); point "
            "SIGMASIGHT_DATABASE_URL at a new database (or delete the local SQLite file) and onboard again")


def migrate(engine: Engine) -> None:
    """Create the backend's contract tables if absent, then upgrade our own tables to the newest
    migration (version table `onb_alembic_version`); a no-op when both are there.

    On PostgreSQL an advisory lock makes concurrent first uses (many processes) safe.
    """
    head = head_revision()
    if current_revision(engine) == head:
        return
    cfg = _alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK_KEY})
        if _revision(conn) != head:
            _refuse_pre_contract_database(conn)
            # Shape b creates the backend's tables; shape a (its migrations ran first) has them.
            create_contract_schema(conn)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")


def dispose_engine(url: str) -> None:
    """Close the pooled connections of `url`'s engine and forget it (its next `get_engine` starts afresh)."""
    with _lock:
        engine = _engines.pop(url, None)
        _migrated.discard(url)
    if engine is not None:
        engine.dispose()


def dispose_all() -> None:
    """Close every pooled connection (tests, forked processes)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _migrated.clear()
