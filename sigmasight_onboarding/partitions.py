"""Partitions.

- `clients`: dynamic, one key per client (the lower-case email).
- `date`: NYSE sessions (XNYS, `exchange_calendars`) from SIGMASIGHT_TIMESERIES_START (default
  2024-01-01): weekdays with the exchange holidays as `exclusions`, ending at the newest session
  the market data covers (the as-of date) when only the file provider is configured — so every
  date partition can succeed and "All" is a valid backfill. With a live provider (FMP, Polygon)
  there is no end: a session's partition appears when it closes.
- `client_dates`: clients × date, for the time-series assets (snapshots, risk, stress).

The date axis depends on settings (start, market data), so it is built on first use —
`definitions.py` builds it when it builds the Definitions — never at import; it then stays the
same for the life of the process, so the sensors, the CLI and the assets see one axis.
"""

import warnings
from datetime import date, datetime, timedelta

from dagster import (
    BetaWarning,
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    MultiToSingleDimensionPartitionMapping,
    PreviewWarning,
    TimeWindowPartitionsDefinition,
)

from sigmasight_onboarding.domain import DEFAULT_TIMESERIES_START, MIN_CLIENTS_PER_RUN

# Per-partition checks (AssetCheckSpec.partitions_def, so the UI shows each client's and each
# session's result) are a preview API in this Dagster version: exactly that PreviewWarning is
# filtered (process-wide, so `dagster dev` logs stay readable), nothing else.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=PreviewWarning)

CLIENTS_PARTITION = "clients"
clients_partitions = DynamicPartitionsDefinition(name=CLIENTS_PARTITION)

DATE_FMT = "%Y-%m-%d"


def date_partitions_end(settings=None) -> date | None:
    """Newest session the market data covers when it is fixed (file provider only), else None."""
    from sigmasight_onboarding.config import get_settings
    from sigmasight_onboarding.resources.market_data_resource import resolve_as_of

    settings = settings or get_settings()
    live = any(p in ("fmp", "polygon") for p in settings.providers)
    return None if live and settings.as_of is None else resolve_as_of(settings)


def build_date_partitions(start: str = DEFAULT_TIMESERIES_START, end: date | None = None) -> TimeWindowPartitionsDefinition:
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


_CLIENT_DATE_PARTITIONS: list[MultiPartitionsDefinition] = []  # built once per process, on first use


def client_date_partitions(settings=None) -> MultiPartitionsDefinition:
    """clients × date: the date axis from `Settings.timeseries_start` (SIGMASIGHT_TIMESERIES_START)
    to the newest session of the market data. Built on the first call (by `definitions.py` when it
    builds the Definitions), then the same object for the life of the process."""
    if not _CLIENT_DATE_PARTITIONS:
        from sigmasight_onboarding.config import get_settings

        settings = settings or get_settings()
        dates = build_date_partitions(settings.timeseries_start.isoformat(), date_partitions_end(settings))
        _CLIENT_DATE_PARTITIONS.append(MultiPartitionsDefinition({"clients": clients_partitions, "date": dates}))
    return _CLIENT_DATE_PARTITIONS[0]


def date_partitions() -> TimeWindowPartitionsDefinition:
    """The date axis of `client_date_partitions()` (NYSE sessions)."""
    return client_date_partitions().get_partitions_def_for_dimension("date")


def client_mapping() -> MultiToSingleDimensionPartitionMapping:
    """clients × date -> clients: a client-partitioned asset depends on every session of its
    client. MultiToSingleDimensionPartitionMapping is beta in this Dagster version but the
    documented mapping for one dimension: exactly its BetaWarning is silenced, nothing else."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Class `MultiToSingleDimensionPartitionMapping` is currently in beta",
                                category=BetaWarning)
        return MultiToSingleDimensionPartitionMapping(partition_dimension_name="clients")


def client_date_key(client: str, day) -> MultiPartitionKey:
    return MultiPartitionKey({"clients": client, "date": day.isoformat() if hasattr(day, "isoformat") else str(day)})


def is_date_partition(day: date) -> bool:
    """True when `day` is one of the date partitions (an NYSE session inside the axis)."""
    return date_partitions().has_partition_key(day.isoformat())


_FIXED_SESSION_INDEX: list = [None, None]  # [date axis with a fixed end, (its keys, {key: position})]


def _session_index() -> tuple[list[str], dict[str, int]]:
    """The date partition keys and each key's position; computed once per axis when its end is fixed (the
    file provider's), else at each call (an open-ended axis grows with the clock)."""
    axis = date_partitions()
    if axis.end is not None and _FIXED_SESSION_INDEX[0] is axis:
        return _FIXED_SESSION_INDEX[1]
    keys = axis.get_partition_keys()
    index = (keys, {k: i for i, k in enumerate(keys)})
    if axis.end is not None:
        _FIXED_SESSION_INDEX[:] = [axis, index]
    return index


def session_blocks(days) -> list[list[date]]:
    """Split sessions into blocks of consecutive date partitions (one range run each), oldest first.

    Raises ValueError naming the reason when a day is not a date partition.
    """
    keys, index = _session_index()
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


def client_batches(clients: list[str], size: int, skip: set[str] | frozenset = frozenset(), runs: int = 1,
                   min_clients: int = MIN_CLIENTS_PER_RUN) -> list[list[str]]:
    """`clients` (in the `clients` partitions' order — a range run covers every key between its two ends)
    cut into runs of at most `size` consecutive clients; a client in `skip` is left out and splits the run
    around it (a range cannot jump over a key). With `runs` > 1 (SIGMASIGHT_PARALLEL_RUNS) the clients are
    spread over at least that many runs of equal size, so the run queue computes them side by side, as long
    as each run keeps `min_clients` (fewer clients: fewer runs)."""
    wanted = [c for c in clients if c not in skip]
    spread = min(max(1, runs), max(1, len(wanted) // max(1, min_clients)))
    size = max(1, min(size, -(-len(wanted) // spread))) if wanted else max(1, size)
    batches: list[list[str]] = []
    stretch: list[str] = []
    for client in list(clients) + [None]:
        if client is None or client in skip:
            batches += [stretch[i:i + size] for i in range(0, len(stretch), size)]
            stretch = []
        else:
            stretch.append(client)
    return batches


def client_range_tags(clients: list[str], block: list[date] | None = None) -> dict[str, str]:
    """Tags that make ONE run cover the consecutive clients `clients` (partition order) — of a client-partitioned
    job (the daily refresh), or × the sessions of `block` for `backfill_timeseries` — plus readable
    `sigmasight/clients` (and `sigmasight/range`). One client gets `sigmasight/client`, as every per-client run."""
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    if block is not None and len(clients) == 1:
        return range_run_tags(clients[0], block)
    first, last = clients[0], clients[-1]
    tags = {"sigmasight/clients": f"{len(clients)}: {first} .. {last}" if len(clients) > 1 else first}
    if len(clients) == 1:
        tags["sigmasight/client"] = first
        if block is None:  # one client: the caller gives the run its partition key
            return tags
    if block is None:
        tags.update({ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last})
        return tags
    tags["sigmasight/range"] = f"{block[0]}..{block[-1]} ({len(block)} sessions)"
    tags.update({ASSET_PARTITION_RANGE_START_TAG: str(client_date_key(first, block[0])),
                 ASSET_PARTITION_RANGE_END_TAG: str(client_date_key(last, block[-1]))})
    return tags


def run_clients_of(tags: dict, clients_in_order: list[str]) -> set[str]:
    """The clients a run covers, from its tags: `sigmasight/client`, its partition key, or the clients
    between the two ends of its range tags (in `clients_in_order`, the partitions' order)."""
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    if tags.get("sigmasight/client"):
        return {tags["sigmasight/client"]}
    start, end = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if start and end:
        first, last = start.split("|")[0], end.split("|")[0]
        if first == last:
            return {first}
        if first in clients_in_order and last in clients_in_order:
            i, j = clients_in_order.index(first), clients_in_order.index(last)
            return set(clients_in_order[i:j + 1])
        return {first, last}
    key = tags.get("dagster/partition", "")
    return {key.split("|")[0]} if key else set()
