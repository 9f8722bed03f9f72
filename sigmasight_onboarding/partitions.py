"""Partitions.

- `clients`: dynamic, one key per client (the lower-case email).
- `date`: NYSE sessions (XNYS, `exchange_calendars`) from SIGMASIGHT_TIMESERIES_START (default
  2024-01-01): weekdays with the exchange holidays as `exclusions`, ending at the newest session
  the market data covers (the as-of date) when only the file provider is configured — so every
  date partition can succeed and "All" is a valid backfill. With a live provider (FMP, Polygon)
  there is no end: a session's partition appears when it closes.
- `client_dates`: clients × date, for the time-series assets (snapshots, risk, stress).
"""

import os
import warnings
from datetime import date, datetime, timedelta

from dagster import DynamicPartitionsDefinition, MultiPartitionKey, MultiPartitionsDefinition, TimeWindowPartitionsDefinition

# Per-partition checks (AssetCheckSpec.partitions_def, so the UI shows each client's and each
# session's result) are a preview API in this Dagster version.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec")

CLIENTS_PARTITION = "clients"
clients_partitions = DynamicPartitionsDefinition(name=CLIENTS_PARTITION)

TIMESERIES_START = os.environ.get("SIGMASIGHT_TIMESERIES_START", "2024-01-01")
DATE_FMT = "%Y-%m-%d"


def date_partitions_end() -> date | None:
    """Newest session the market data covers when it is fixed (file provider only), else None."""
    from sigmasight_onboarding.config import get_settings
    from sigmasight_onboarding.resources.market_data_resource import resolve_as_of

    settings = get_settings()
    live = any(p in ("fmp", "polygon") for p in settings.providers)
    return None if live and settings.as_of is None else resolve_as_of(settings)


def build_date_partitions(start: str = TIMESERIES_START, end: date | None = None) -> TimeWindowPartitionsDefinition:
    """NYSE sessions in [start, end] (end inclusive; None = open-ended) as daily partitions."""
    from sigmasight_onboarding.calendar import sessions_between

    first = date.fromisoformat(start)
    horizon = end or (date.today() + timedelta(days=366))
    sessions = set(sessions_between(first, horizon))
    holidays = [datetime(d.year, d.month, d.day) for d in (first + timedelta(days=i) for i in range((horizon - first).days + 1))
                if d.weekday() < 5 and d not in sessions]
    return TimeWindowPartitionsDefinition(
        cron_schedule="0 0 * * 1-5",
        start=start,
        end=(end + timedelta(days=1)).isoformat() if end else None,
        fmt=DATE_FMT,
        timezone="America/New_York",
        exclusions=holidays or None,
    )


date_partitions = build_date_partitions(end=date_partitions_end())
client_date_partitions = MultiPartitionsDefinition({"clients": clients_partitions, "date": date_partitions})


def client_date_key(client: str, day) -> MultiPartitionKey:
    return MultiPartitionKey({"clients": client, "date": day.isoformat() if hasattr(day, "isoformat") else str(day)})


def is_date_partition(day: date) -> bool:
    """True when `day` is one of the date partitions (an NYSE session inside the axis)."""
    return date_partitions.has_partition_key(day.isoformat())


def session_blocks(days) -> list[list[date]]:
    """Split sessions into blocks of consecutive date partitions (one range run each), oldest first.

    Raises ValueError naming the reason when a day is not a date partition.
    """
    keys = date_partitions.get_partition_keys()
    index = {k: i for i, k in enumerate(keys)}
    blocks: list[list[date]] = []
    for day in sorted(set(days)):
        i = index.get(day.isoformat())
        if i is None:
            from sigmasight_onboarding.calendar import is_session

            why = ("not an NYSE session (exchange holiday)" if not is_session(day) else
                   f"outside the date partitions ({keys[0]} .. {keys[-1]}: after the newest session of the market data)")
            raise ValueError(f"{day} is {why}")
        if blocks and index[blocks[-1][-1].isoformat()] == i - 1:
            blocks[-1].append(day)
        else:
            blocks.append([day])
    return blocks


def range_run_tags(client: str, block: list[date]) -> dict[str, str]:
    """Tags that make one `backfill_timeseries` run cover `client` × the sessions of `block`
    (Dagster's asset-partition range tags), plus readable `sigmasight/client` and `sigmasight/range`."""
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    return {"sigmasight/client": client, "sigmasight/range": f"{block[0]}..{block[-1]} ({len(block)} sessions)",
            ASSET_PARTITION_RANGE_START_TAG: str(client_date_key(client, block[0])),
            ASSET_PARTITION_RANGE_END_TAG: str(client_date_key(client, block[-1]))}
