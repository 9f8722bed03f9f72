"""Market data as a Dagster resource: the provider chain plus the as-of date it implies."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as ds

from sigmasight_onboarding.calendar import is_session, previous_session
from sigmasight_onboarding.config import Settings
from sigmasight_onboarding.resources.price_providers import ProviderChain, build_provider_chain
from sigmasight_onboarding.resources.settings import SettingsResource, env_setting


@lru_cache(maxsize=8)
def _latest_date_in_file(path: str, mtime: float) -> date | None:
    """Newest `date` in a Parquet/CSV file or folder (reads only the date column)."""
    p = Path(path)
    if p.is_file() and p.suffix.lower() == ".parquet":
        latest = _latest_date_from_statistics(p)
        if latest is not None:
            return latest
    fmt = "csv" if p.suffix.lower() == ".csv" or (p.is_dir() and any(p.glob("*.csv"))) else "parquet"
    dataset = ds.dataset(str(p), format=fmt)
    column = dataset.to_table(columns=["date"]).column("date")
    if len(column) == 0:
        return None
    value = pc.max(column).as_py()
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _latest_date_from_statistics(path: Path) -> date | None:
    """Newest `date` from the row-group statistics of one Parquet file (no data page read);
    None when a row group has no statistics or the column is not a date."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    if "date" not in names or meta.num_row_groups == 0:
        return None
    col = names.index("date")
    latest = None
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(col).statistics
        if stats is None or not stats.has_min_max or not isinstance(stats.max, date) or isinstance(stats.max, datetime):
            return None
        latest = stats.max if latest is None else max(latest, stats.max)
    return latest


def resolve_as_of(settings: Settings, today: date | None = None) -> date:
    """The as-of session: SIGMASIGHT_AS_OF, else the newest session the configured data covers.

    With only the file provider that is the newest date in the file (the real dataset ends
    2026-08-03, so today's date never gives an empty window); with a live provider in the chain
    it is the last session before today. A non-session date rolls back to the previous session.
    """
    today = today or date.today()
    if settings.as_of is not None:
        day = settings.as_of
    elif any(p in ("fmp", "polygon") for p in settings.providers):
        day = today - timedelta(days=1)
    elif "file" in settings.providers and Path(settings.market_data_file).exists():
        path = Path(settings.market_data_file)
        latest = _latest_date_in_file(str(path), path.stat().st_mtime)
        day = min(latest or today, today)
    else:
        day = today - timedelta(days=1)
    return day if is_session(day) else previous_session(day)


class MarketDataResource(SettingsResource):
    """The provider chain (SIGMASIGHT_PROVIDERS; keys from FMP_API_KEY / POLYGON_API_KEY) and the
    as-of policy. Unset fields come from the environment when used (`resources/settings.py`)."""

    providers: str | None = env_setting("SIGMASIGHT_PROVIDERS", "Provider chain, e.g. fmp,polygon,file ({var}); default file")
    market_data_file: str | None = env_setting("SIGMASIGHT_MARKET_DATA_FILE",
                                               "Parquet file or CSV folder of the file provider ({var})")
    allow_synthetic: bool | None = env_setting("SIGMASIGHT_ALLOW_SYNTHETIC", "Synthetic prices as a last resort ({var}); default off")
    as_of_date: str | None = env_setting("SIGMASIGHT_AS_OF",
                                         "As-of date YYYY-MM-DD ({var}); default the newest session the market data covers")
    price_lookback_days: int | None = env_setting("SIGMASIGHT_PRICE_LOOKBACK_DAYS",
                                                  "Calendar days of prices before the as-of date ({var}); default 730")
    jump_bound: float | None = env_setting("SIGMASIGHT_JUMP_BOUND", "|Daily return| flagged as a possible split ({var}); default 0.5")
    risk_lookback: int | None = env_setting("SIGMASIGHT_RISK_LOOKBACK", "Sessions of returns behind VaR/ES ({var}); default 252")

    def chain(self) -> ProviderChain:
        return build_provider_chain(self.settings())

    def as_of(self) -> date:
        return resolve_as_of(self.settings())
