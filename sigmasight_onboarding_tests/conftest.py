"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL: SIGMASIGHT_TEST_POSTGRES_URL (an admin URL, default the local server) is used to
create one throw-away database per test session. Outside CI an unreachable server skips the
PostgreSQL variants with the reason; with CI=true it fails them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sigmasight_onboarding.db import engine as db_engine
from sigmasight_onboarding.db.models import Base

REPO = Path(__file__).resolve().parents[1]
DEMO_IMPORTS = REPO / "data" / "imports"


def project_instance_overrides(**overrides) -> dict:
    """`dagster.instance_for_test` overrides that give its on-disk instance the event log the project ships in
    `dagster.yaml` (what `dagster dev` and the daemon use) instead of Dagster's stock SQLite one, plus ``overrides``."""
    import yaml

    shipped = yaml.safe_load((REPO / "dagster.yaml").read_text())
    return {"event_log_storage": shipped["event_log_storage"], **overrides}
PG_ADMIN_URL = os.environ.get(
    "SIGMASIGHT_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

CSV_HEADER = "symbol,quantity,entry_price,position_type,entry_date,tags,underlying_symbol,strike_price,expiration_date\n"


@pytest.fixture(scope="session", autouse=True)
def definitions_built_without_setting_env_vars():
    """`definitions.defs` is built once, at its first import, and names an `EnvVar` only for the
    resource settings set at that moment (`definitions.env_var`). Were that first import inside a
    test that had set, say, SIGMASIGHT_MARKET_DATA_FILE, every later run in the session would need
    the variable (Dagster refuses an unset EnvVar) — the onboard/verify/timeseries jobs of the next
    test fail at config time. Build it once up front with those variables unset: every resource
    field is then None and read from the test's environment when used (`resources/settings.py`)."""
    import sys
    from unittest import mock

    if "sigmasight_onboarding.definitions" not in sys.modules:  # else collection built it, from the ambient env
        from sigmasight_onboarding.resources.database import SigmaSightDatabase
        from sigmasight_onboarding.resources.market_data_resource import MarketDataResource
        from sigmasight_onboarding.resources.onboarding import OnboardingResource

        names = {v for r in (SigmaSightDatabase, MarketDataResource, OnboardingResource) for v in r.env_vars().values()}
        with mock.patch.dict(os.environ):
            for name in names:
                os.environ.pop(name, None)
            import sigmasight_onboarding.definitions  # noqa: F401
    yield


@contextmanager
def throwaway_postgres_database(prefix: str) -> Iterator[str]:
    """URL of a new PostgreSQL database named ``prefix_<random>`` on SIGMASIGHT_TEST_POSTGRES_URL's server, dropped on
    exit; skips the test when the server is unreachable (fails it in CI)."""
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # pragma: no cover - depends on the machine
        message = f"PostgreSQL not reachable at {make_url(PG_ADMIN_URL).render_as_string(hide_password=True)}: {exc}"
        if IN_CI:
            pytest.fail("CI requires the PostgreSQL tests to run. " + message)
        pytest.skip(message)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database():
    """URL of a fresh PostgreSQL database for this test session (dropped afterwards)."""
    with throwaway_postgres_database("sigmasight_test") as url:
        yield url
        db_engine.dispose_all()


# Reference data seeded by the migrations: kept between tests.
SEEDED_TABLES = {"onb_factor_definitions", "factor_definitions"}


def truncate_all(url: str) -> None:
    engine = db_engine.get_engine(url)
    tables = [t for t in Base.metadata.sorted_tables if t.name not in SEEDED_TABLES]
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(t.name for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
        else:
            for table in reversed(tables):
                conn.execute(table.delete())


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory) -> Path:
    """A SQLite database migrated to head once per test process; each test gets a copy of the file (the
    migration is the same for every test, 0.2 s each time, and a copy is milliseconds)."""
    path = tmp_path_factory.mktemp("migrated_sqlite") / "sigmasight.db"
    url = f"sqlite:///{path.as_posix()}"
    db_engine.get_engine(url)
    db_engine.dispose_engine(url)  # closing the last connection checkpoints the WAL: the file alone is the database
    assert not Path(str(path) + "-wal").exists() or Path(str(path) + "-wal").stat().st_size == 0
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A migrated, empty SigmaSight database: SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "sigmasight.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite_file"), path)
        url = f"sqlite:///{path.as_posix()}"
        db_engine.get_engine(url)  # at head already: only checks the version
        yield url
        return
    url = request.getfixturevalue("postgres_database")
    truncate_all(url)
    yield url


@pytest.fixture
def env(monkeypatch, tmp_path, db_url):
    """Environment for one onboarding test: own imports folder, own database, fast bcrypt."""
    return onboarding_env(monkeypatch, tmp_path, db_url)


def onboarding_env(monkeypatch, tmp_path: Path, db_url: str) -> dict:
    """Point the pipeline at `db_url` with its own imports/state folders and fast bcrypt."""
    imports = tmp_path / "imports"
    imports.mkdir()
    monkeypatch.setenv("SIGMASIGHT_DATABASE_URL", db_url)
    monkeypatch.setenv("SIGMASIGHT_IMPORTS_DIR", str(imports))
    monkeypatch.setenv("SIGMASIGHT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SIGMASIGHT_BCRYPT_ROUNDS", "4")
    monkeypatch.setenv("SIGMASIGHT_DROP_SETTLE_SECONDS", "0")
    monkeypatch.delenv("SIGMASIGHT_ENV", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return {"imports": imports, "db_url": db_url, "tmp": tmp_path}


def copy_demo(imports: Path, email: str) -> Path:
    target = imports / email
    shutil.copytree(DEMO_IMPORTS / email, target)
    return target


def write_drop(imports: Path, email: str, csv_body: str, client: dict | None = None, header: str = CSV_HEADER) -> Path:
    """Write a drop folder; `client` overrides fields of a valid client.json."""
    import json

    folder = imports / email
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "email": email,
        "full_name": "Test Client",
        "password": "Correct-Horse-Battery-9",
        "portfolio_name": "Test Portfolio",
        "portfolio_description": "for tests",
        "currency": "USD",
    }
    if client:
        data.update(client)
        data = {k: v for k, v in data.items() if v is not ...}
    (folder / "client.json").write_text(json.dumps(data))
    (folder / "portfolio.csv").write_text(header + csv_body)
    return folder


def table_snapshot(url: str) -> dict[str, list[tuple]]:
    """Every row of every SigmaSight table, sorted: compares database states exactly."""
    engine = db_engine.get_engine(url)
    out = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = [tuple(str(v) for v in row) for row in conn.execute(table.select())]
            out[table.name] = sorted(rows)
    return out


ACCOUNT_TABLES = ("users", "portfolios", "positions", "tags", "position_tags")


def client_tables(url: str) -> dict[str, int]:
    """Row counts of the account tables (users, portfolios, positions, tags, position_tags)."""
    from sqlalchemy import func, select

    engine = db_engine.get_engine(url)
    with engine.connect() as conn:
        return {
            name: conn.execute(select(func.count()).select_from(Base.metadata.tables[name])).scalar_one()
            for name in ACCOUNT_TABLES
        }



def pytest_collection_modifyitems(config, items):
    """Longest first: the `slow` tests (by their ``seconds`` estimate, `slow(seconds=…)`, else 20) ahead of the rest;
    otherwise pytest's order. With ``--dist worksteal`` (pyproject's addopts) a worker takes the first part of this
    order and another the rest, and whoever runs out steals from the end of the other's queue: the long end-to-end
    tests run one after another at the start on one worker while the other runs the short tests, instead of one of
    them being handed out last and keeping a worker busy after the rest have finished."""
    def estimate(item) -> float:
        marker = item.get_closest_marker("slow")
        return 0.0 if marker is None else float(marker.kwargs.get("seconds", 20))

    items.sort(key=estimate, reverse=True)  # stable: equal estimates keep pytest's order
