"""Partitions.

- `clients`: dynamic, one key per client (the lower-case email).
- `date`: NYSE weekdays from SIGMASIGHT_TIMESERIES_START (default 2024-01-01); exchange
  holidays are weekdays too: a holiday partition is rejected with the reason when run, and the
  CLI backfill never submits one.
- `client_dates`: clients × date, for the time-series assets (snapshots, risk, stress).
"""

import os

from dagster import DynamicPartitionsDefinition, MultiPartitionKey, MultiPartitionsDefinition, TimeWindowPartitionsDefinition

CLIENTS_PARTITION = "clients"
clients_partitions = DynamicPartitionsDefinition(name=CLIENTS_PARTITION)

TIMESERIES_START = os.environ.get("SIGMASIGHT_TIMESERIES_START", "2024-01-01")
date_partitions = TimeWindowPartitionsDefinition(
    cron_schedule="0 0 * * 1-5",
    start=TIMESERIES_START,
    fmt="%Y-%m-%d",
    timezone="America/New_York",
)
client_date_partitions = MultiPartitionsDefinition({"clients": clients_partitions, "date": date_partitions})


def client_date_key(client: str, day) -> MultiPartitionKey:
    return MultiPartitionKey({"clients": client, "date": day.isoformat() if hasattr(day, "isoformat") else str(day)})
