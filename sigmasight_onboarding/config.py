"""All configuration, read from environment variables in this one place.

| variable | meaning | default |
|---|---|---|
| SIGMASIGHT_DATABASE_URL | SQLAlchemy URL of the SigmaSight database | SQLite file under SIGMASIGHT_STATE_DIR |
| SIGMASIGHT_STATE_DIR | local state folder (SQLite DB, reports) | `<project>/.local` |
| SIGMASIGHT_IMPORTS_DIR | drop folder with one `<email>/` folder per client | `<project>/data/imports` |
| SIGMASIGHT_ENV | `development` (deterministic UUIDs) or `production` | development |
| SIGMASIGHT_BCRYPT_ROUNDS | bcrypt cost factor for password hashes | 12 |
| SIGMASIGHT_DROP_SETTLE_SECONDS | a drop must be unchanged this long before the sensor takes it | 5 |
| SIGMASIGHT_MAX_DROP_BYTES / _MAX_ROWS / _MAX_FIELD_CHARS | drop size limits | 50 MB / 100,000 / 1,000 |
| SIGMASIGHT_PROVIDERS | market-data provider chain, e.g. `fmp,polygon,file` | `file` |
| SIGMASIGHT_MARKET_DATA_FILE | Parquet file or CSV folder for the file provider | data/market/daily_adj_close_us.parquet (8,233 US stocks/ETFs) |
| SIGMASIGHT_ALLOW_SYNTHETIC | `1` enables the synthetic provider (never in production) | off |
| SIGMASIGHT_AS_OF | as-of date (YYYY-MM-DD) | latest session the market data covers |
| SIGMASIGHT_PRICE_LOOKBACK_DAYS | calendar days of price history before the as-of date | 730 |
| SIGMASIGHT_REPORTS_DIR | HTML reports | `<state dir>/reports` |
| SIGMASIGHT_REPORTS_URL | base URL serving SIGMASIGHT_REPORTS_DIR (report links in the UI) | file:// links |
| SIGMASIGHT_ONBOARD_SESSIONS | sessions the time-series sensor materialises and verification expects | 30 |
| SIGMASIGHT_RISK_LOOKBACK | sessions of returns behind VaR/ES | 252 |
| SIGMASIGHT_TIMESERIES_START | first date partition (read when the Definitions are built) | 2024-01-01 |
| SIGMASIGHT_JUMP_BOUND | daily move flagged as a possible split | 0.5 |
| SIGMASIGHT_API_URL | SigmaSight API for the live verification check | unset (check skipped) |
| SIGMASIGHT_BATCH_CLIENTS | clients per run of the daily refresh / a new session's time series (at most) | 250 |
| SIGMASIGHT_PARALLEL_RUNS | runs the daily refresh / a new session's time series is spread over (side by side in the run queue) | CPUs of the host |

This module is the only place the package reads these variables, and it reads them when a run,
sensor tick, schedule tick or CLI command asks (`get_settings()`), never at import. The Dagster
resources (`resources/`) carry the same settings as typed fields (`definitions.py`); a field left
unset falls back to `get_settings()`. README "Configuration" lists which resource field carries what.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sigmasight_onboarding.domain import (
    DEFAULT_JUMP_BOUND,
    DEFAULT_BATCH_CLIENTS,
    DEFAULT_ONBOARD_SESSIONS,
    DEFAULT_RISK_LOOKBACK,
    DEFAULT_TIMESERIES_START,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The embedded default of the file provider: every US stock/ETF of the real data with a price on
# every session of the default onboarding window (built by scripts/build_market_extract.py).
DEFAULT_MARKET_DATA = PROJECT_ROOT / "data" / "market" / "daily_adj_close_us.parquet"
# The 93-symbol extract (demo drops, factor ETFs, rates; full 2022.. history) the tests read their
# reference prices from; an exact slice of the same real data as DEFAULT_MARKET_DATA.
SHIPPED_MARKET_DATA = PROJECT_ROOT / "data" / "market" / "daily_adj_close_extract.parquet"


def _env(name: str, default: str | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    value = (os.environ if environ is None else environ).get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _env_number(name: str, default, cast, environ: Mapping[str, str] | None = None):
    """`cast(value)` of the variable (int or float), `default` when unset; a ValueError names it."""
    raw = _env(name, environ=environ)
    if raw is None:
        return default
    try:
        return cast(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be {'an integer' if cast is int else 'a number'}, got {raw!r}") from exc


def _env_int(name: str, default: int, environ: Mapping[str, str] | None = None) -> int:
    return _env_number(name, default, int, environ)


def _env_float(name: str, default: float, environ: Mapping[str, str] | None = None) -> float:
    return _env_number(name, default, float, environ)


def normalize_database_url(url: str) -> str:
    """Make a user-supplied URL work with SQLAlchemy 2.x.

    `postgres://` (Heroku style) becomes `postgresql://`; SQLAlchemy 2.1 maps `postgresql://`
    to psycopg 3, which we install, and `postgresql+psycopg2://` keeps working too.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    return url


@dataclass(frozen=True)
class Settings:
    database_url: str
    state_dir: Path
    imports_dir: Path
    environment: str
    bcrypt_rounds: int
    drop_settle_seconds: float
    max_drop_bytes: int
    max_rows: int
    max_field_chars: int
    providers: tuple[str, ...]
    market_data_file: Path
    allow_synthetic: bool
    as_of: date | None
    price_lookback_days: int
    reports_dir: Path = field(default=Path("."))
    reports_url: str | None = None  # base URL that serves reports_dir (links in the UI); else file:// links
    onboard_sessions: int = DEFAULT_ONBOARD_SESSIONS  # sessions the sensor materialises AND verification expects
    risk_lookback: int = DEFAULT_RISK_LOOKBACK  # sessions of returns behind VaR/ES
    timeseries_start: date = date.fromisoformat(DEFAULT_TIMESERIES_START)  # first date partition
    jump_bound: float = DEFAULT_JUMP_BOUND  # |daily return| flagged as a possible split
    api_url: str | None = None  # SigmaSight API for the live verification check (skipped when None)
    batch_clients: int = DEFAULT_BATCH_CLIENTS  # clients per run of the daily refresh / a session's time series
    parallel_runs: int = 1  # runs the daily refresh / a session's time series is spread over (`partitions.client_batches`)

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Settings from `environ` (default: the process environment, read now)."""
        env = os.environ if environ is None else environ
        state_dir = Path(_env("SIGMASIGHT_STATE_DIR", str(PROJECT_ROOT / ".local"), environ=env)).expanduser()
        default_db = f"sqlite:///{(state_dir / 'sigmasight.db').as_posix()}"
        environment = (_env("SIGMASIGHT_ENV", "development", environ=env) or "development").lower()
        if environment not in {"development", "production"}:
            raise ValueError(f"SIGMASIGHT_ENV must be 'development' or 'production', got {environment!r}")
        as_of_raw = _env("SIGMASIGHT_AS_OF", environ=env)
        try:
            as_of = date.fromisoformat(as_of_raw) if as_of_raw else None
        except ValueError as exc:
            raise ValueError(f"SIGMASIGHT_AS_OF must be YYYY-MM-DD, got {as_of_raw!r}") from exc
        start_raw = _env("SIGMASIGHT_TIMESERIES_START", DEFAULT_TIMESERIES_START, environ=env)
        try:
            timeseries_start = date.fromisoformat(start_raw)
        except ValueError as exc:
            raise ValueError(f"SIGMASIGHT_TIMESERIES_START must be YYYY-MM-DD, got {start_raw!r}") from exc
        onboard_sessions = max(1, _env_int("SIGMASIGHT_ONBOARD_SESSIONS", DEFAULT_ONBOARD_SESSIONS, environ=env))
        risk_lookback = _env_int("SIGMASIGHT_RISK_LOOKBACK", DEFAULT_RISK_LOOKBACK, environ=env)
        providers = tuple(
            p.strip().lower() for p in (_env("SIGMASIGHT_PROVIDERS", "file", environ=env) or "file").split(",") if p.strip()
        )
        return cls(
            database_url=normalize_database_url(_env("SIGMASIGHT_DATABASE_URL", default_db, environ=env)),
            state_dir=state_dir,
            imports_dir=Path(_env("SIGMASIGHT_IMPORTS_DIR", str(PROJECT_ROOT / "data" / "imports"), environ=env)).expanduser(),
            environment=environment,
            bcrypt_rounds=_env_int("SIGMASIGHT_BCRYPT_ROUNDS", 12, environ=env),
            drop_settle_seconds=_env_float("SIGMASIGHT_DROP_SETTLE_SECONDS", 5.0, environ=env),
            max_drop_bytes=_env_int("SIGMASIGHT_MAX_DROP_BYTES", 50 * 1024 * 1024, environ=env),
            max_rows=_env_int("SIGMASIGHT_MAX_ROWS", 100_000, environ=env),
            max_field_chars=_env_int("SIGMASIGHT_MAX_FIELD_CHARS", 1_000, environ=env),
            providers=providers,
            market_data_file=Path(_env("SIGMASIGHT_MARKET_DATA_FILE", str(DEFAULT_MARKET_DATA), environ=env)).expanduser(),
            allow_synthetic=_env("SIGMASIGHT_ALLOW_SYNTHETIC", "0", environ=env) in {"1", "true", "yes"},
            as_of=as_of,
            price_lookback_days=_env_int("SIGMASIGHT_PRICE_LOOKBACK_DAYS", 730, environ=env),
            reports_dir=Path(_env("SIGMASIGHT_REPORTS_DIR", str(state_dir / "reports"), environ=env)).expanduser(),
            reports_url=_env("SIGMASIGHT_REPORTS_URL", environ=env),
            onboard_sessions=onboard_sessions,
            risk_lookback=risk_lookback,
            timeseries_start=timeseries_start,
            jump_bound=_env_float("SIGMASIGHT_JUMP_BOUND", DEFAULT_JUMP_BOUND, environ=env),
            api_url=_env("SIGMASIGHT_API_URL", environ=env),
            batch_clients=max(1, _env_int("SIGMASIGHT_BATCH_CLIENTS", DEFAULT_BATCH_CLIENTS, environ=env)),
            parallel_runs=max(1, _env_int("SIGMASIGHT_PARALLEL_RUNS", os.cpu_count() or 1, environ=env)),
        )


def get_settings() -> Settings:
    """Current settings (read fresh each call so tests and the CLI can change the environment)."""
    return Settings.from_env()
