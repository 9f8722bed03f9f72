"""`client_drop_sensor`: onboards every new or changed drop under SIGMASIGHT_IMPORTS_DIR.

A drop is taken once both files exist and neither changed for SIGMASIGHT_DROP_SETTLE_SECONDS.
The cursor maps client key -> content hash of the drop, so an unchanged drop is never re-run
and a changed one is — once no run in flight covers that client (a range run of the daily refresh
would otherwise write analytics of the old positions over the new ones). A drop that cannot be
taken (symlink, bad folder name) is logged on the tick and skipped; the others are still served.
Content problems fail the run with the row list.
"""


import json
import time
from pathlib import Path

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from sigmasight_onboarding.config import get_settings
from sigmasight_onboarding.domain import BATCH_MAX_SESSIONS
from sigmasight_onboarding.drops.reader import (
    CLIENT_FILE,
    EMAIL_RE,
    PORTFOLIO_FILE,
    check_folder_safety,
    declared_mismatch,
    drop_content_hash,
)
from sigmasight_onboarding.jobs import daily_refresh_job, onboard_client_job, timeseries_job, verify_client_job
from sigmasight_onboarding.partitions import clients_partitions
from sigmasight_onboarding.resources.database import SigmaSightDatabase
from sigmasight_onboarding.resources.market_data_resource import MarketDataResource
from sigmasight_onboarding.resources.onboarding import OnboardingResource


def drop_key(folder: Path) -> str:
    """The client key (dynamic partition) of a drop folder: its name, lower-cased — the same in
    `scan_drops`, the CLI and `find_drop_folder` (which matches names ignoring case)."""
    return Path(folder).name.lower()


def scan_drops(imports_dir: Path, settle_seconds: float, now: float | None = None, only: str | None = None):
    """Yield (key, folder, content_hash | None, problem | None) for each folder in the drop area
    (only the folders of client key `only` when given).

    content_hash is None while the drop is incomplete or still changing.
    """
    now = time.time() if now is None else now
    if not imports_dir.is_dir():
        return
    for folder in sorted(imports_dir.iterdir(), key=lambda p: p.name):
        if folder.name.startswith("."):
            continue
        key = drop_key(folder)
        if only is not None and key != only:
            continue
        if not folder.is_dir() and not folder.is_symlink():
            continue
        if not EMAIL_RE.match(folder.name):
            yield key, folder, None, f"folder name {folder.name!r} is not an email address"
            continue
        problems = [p for p in check_folder_safety(folder, imports_dir) if "missing" not in p.rule]
        if problems:
            yield key, folder, None, "; ".join(str(p) for p in problems)
            continue
        files = [folder / CLIENT_FILE, folder / PORTFOLIO_FILE]
        if not all(f.is_file() for f in files):
            yield key, folder, None, None  # half-written: wait
            continue
        newest = max(f.stat().st_mtime for f in files)
        if now - newest < settle_seconds:
            yield key, folder, None, None  # still changing: wait
            continue
        if declared_mismatch(folder):
            yield key, folder, None, None  # fewer rows / other bytes than client.json declares: still arriving
            continue
        yield key, folder, drop_content_hash(folder), None


def group_case_twins(scanned):
    """One entry per client key: folders whose names differ only in case (`TWIN@x.com`, `twin@x.com`)
    are one client. Yields (key, folders, content_hash | None, problem | None); the hash of twins
    covers every twin (sorted by name), so the request is deterministic and changes when any twin does."""
    import hashlib

    by_key: dict[str, list] = {}
    for entry in scanned:
        by_key.setdefault(entry[0], []).append(entry)
    for key in sorted(by_key):
        entries = sorted(by_key[key], key=lambda e: e[1].name)
        if len(entries) == 1:
            k, folder, content_hash, problem = entries[0]
            yield k, [folder], content_hash, problem
            continue
        folders = [e[1] for e in entries]
        if any(e[2] is None for e in entries):
            problems = [e[3] for e in entries if e[3]]
            yield key, folders, None, "; ".join(problems) or None
            continue
        combined = hashlib.sha256("".join(e[2] for e in entries).encode()).hexdigest()
        yield key, folders, combined, None


def drop_hash(imports_dir: Path, key: str) -> str | None:
    """The `sigmasight/drop_hash` tag the sensor gives a run of `key` (case twins included), computed
    the same way without reading the drop's content; None while the drop cannot be taken (incomplete,
    not what client.json declares, unsafe folder): the run then rejects it with the reason."""
    for k, _folders, content_hash, _problem in group_case_twins(scan_drops(imports_dir, 0, only=key)):
        if k == key:
            return content_hash
    return None


@sensor(
    job=onboard_client_job,
    minimum_interval_seconds=10,
    default_status=DefaultSensorStatus.STOPPED,
    description="Onboards each new or changed client drop folder in SIGMASIGHT_IMPORTS_DIR.",
)
def client_drop_sensor(context: SensorEvaluationContext, onboarding: OnboardingResource):
    settings = onboarding.settings()
    cursor: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    run_requests, new_keys, waiting, deferred = [], [], [], []
    existing = set(context.instance.get_dynamic_partitions(clients_partitions.name))
    busy = None  # clients of runs in flight, read only when a changed drop of a known client needs it
    for key, folders, content_hash, problem in group_case_twins(
        scan_drops(settings.imports_dir, settings.drop_settle_seconds)
    ):
        folder = folders[0]
        if problem:
            context.log.error(f"skipping drop {folder.name!r}: {problem}")
            continue
        if len(folders) > 1:
            context.log.error(
                f"conflict: folders {', '.join(repr(f.name) for f in folders)} are the same client {key!r} "
                "(names compare ignoring case); one run is requested and it will be rejected until only one remains"
            )
        if content_hash is None:
            waiting.append(key)
            continue
        if cursor.get(key) == content_hash:
            continue
        if key in existing:  # a changed drop waits while a run covers the client (e.g. the daily refresh's range run):
            if busy is None:  # that run would write analytics of the old positions over the new ones
                busy = clients_in_flight(context.instance)
            if key in busy:
                deferred.append(key)
                continue  # the cursor keeps the old hash: a later tick requests it
        else:
            new_keys.append(key)
        run_requests.append(
            RunRequest(
                run_key=f"{key}:{content_hash[:16]}",
                partition_key=key,
                tags={"sigmasight/drop_hash": content_hash, "sigmasight/trigger": "client_drop_sensor", "sigmasight/client": key},
            )
        )
        cursor[key] = content_hash
    if waiting:
        context.log.info(f"waiting for drops to settle: {', '.join(waiting)}")
    if deferred:
        context.log.info(f"changed drops wait for the client's run in flight: {', '.join(deferred)}")
    if not run_requests:
        pending = [f"{label}: {len(keys)}" for label, keys in (("waiting", waiting), ("run in flight", deferred)) if keys]
        return SensorResult(
            skip_reason=SkipReason("no new or changed drops" + (f" ({'; '.join(pending)})" if pending else "")),
            cursor=json.dumps(cursor, sort_keys=True),
        )
    return SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[clients_partitions.build_add_request(new_keys)] if new_keys else [],
        cursor=json.dumps(cursor, sort_keys=True),
    )


TIMESERIES_ASSETS = ("portfolio_snapshots", "portfolio_risk_metrics", "stress_test_results")
ANALYTICS_ASSETS = ("position_greeks", "factor_exposures", "interest_rate_betas", "correlations")


def onboarding_session_keys(client_key: str, as_of, sessions: int | None = None):
    """Partition keys of the last `sessions` (default `Settings.onboard_sessions`) NYSE sessions
    up to `as_of` for one client."""
    from sigmasight_onboarding.calendar import last_sessions
    from sigmasight_onboarding.partitions import client_date_key

    n = get_settings().onboard_sessions if sessions is None else sessions
    return [client_date_key(client_key, day) for day in last_sessions(as_of, n)]


def clients_in_flight(instance) -> set[str]:
    """Clients with a queued or running run (any job; a run over a range of clients counts for each of
    them): automation waits until they are done."""
    from dagster import RunsFilter
    from dagster._core.storage.dagster_run import NOT_FINISHED_STATUSES

    from sigmasight_onboarding.partitions import run_clients_of

    order = None
    busy = set()
    for run in instance.get_runs(filters=RunsFilter(statuses=NOT_FINISHED_STATUSES)):
        if order is None:
            order = list(instance.get_dynamic_partitions(clients_partitions.name))
        busy |= run_clients_of(run.tags, order)
    return busy


def _price_history_as_of(instance, client: str):
    """(as-of date, storage id) of the client's newest `price_history` materialisation, or (None, None)."""
    from datetime import date

    from dagster import AssetKey, AssetRecordsFilter

    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("price_history"), asset_partitions=[client]), limit=1).records
    if not records:
        return None, None
    meta = records[0].event_log_entry.asset_materialization.metadata
    value = meta.get("as_of")
    return (date.fromisoformat(value.value) if value is not None else None), records[0].storage_id


def _failed_batches(instance, job_name: str, order: list[str], since, tags: dict | None = None) -> dict[str, object]:
    """{client: the RunRecord of the newest FAILED multi-client run of `job_name` (with `tags`) created after `since`
    (a timestamp) that covers it}. A batch fails as a whole when one client's blocking check (or any step) fails."""
    from datetime import datetime, timezone

    from dagster import DagsterRunStatus, RunsFilter

    from sigmasight_onboarding.partitions import run_clients_of

    failed = instance.get_run_records(filters=RunsFilter(job_name=job_name, statuses=[DagsterRunStatus.FAILURE], tags=tags,
                                                         created_after=datetime.fromtimestamp(since, timezone.utc)), limit=50)
    out: dict[str, object] = {}
    for record in failed:  # newest first: the newest failed batch of a client wins
        if "sigmasight/client" in record.dagster_run.tags:  # a one-client run failed on its own: nothing to split
            continue
        for client in run_clients_of(record.dagster_run.tags, order):
            out.setdefault(client, record)
    return out


def _clients_of_failed_batches(instance, order: list[str], since) -> set[str]:
    """Clients covered by a FAILED multi-client `backfill_timeseries` run created after `since` (a
    timestamp): they are requested one by one, so one bad client cannot fail its neighbours again."""
    return set(_failed_batches(instance, timeseries_job.name, order, since,
                               tags={"sigmasight/trigger": "onboarding_timeseries_sensor"}))


def _refreshed_since(instance, client: str, since) -> bool:
    """Whether `price_history` and every analytics asset has a materialisation of `client` at or after `since`
    (a datetime): its own refresh has run since its batch failed."""
    from dagster import AssetKey, AssetRecordsFilter

    for asset in ("price_history", *ANALYTICS_ASSETS):
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[client]), limit=1).records
        if not records or records[0].timestamp < since.timestamp():
            return False
    return True


def refresh_alone_requests(instance, clients: list[str], skip: set[str]) -> tuple[list[RunRequest], list[str]]:
    """A `daily_refresh` RunRequest of its own for each client (not in `skip`) of a multi-client `daily_refresh`
    batch that failed in the last day and that has not been refreshed since, once per failed batch (run key; the
    run's `sigmasight/refresh_of` tag names the batch, so a client once requested is not looked at again);
    returns (requests, notes)."""
    from sigmasight_onboarding.partitions import client_range_tags

    from dagster import RunsFilter

    requests, notes = [], []
    requested: dict[str, set[str]] = {}  # failed batch's run id -> clients already given their own refresh
    # a failed daily_refresh batch: its clients miss that session's prices or analytics — and the time series that
    # waits for them — until they are refreshed alone
    for client, record in _failed_batches(instance, daily_refresh_job.name, clients, time.time() - 86_400).items():
        batch = record.dagster_run
        if batch.run_id not in requested:  # one query per failed batch, so a big batch is checked once per client
            requested[batch.run_id] = {run.tags.get("sigmasight/client") for run in instance.get_runs(
                filters=RunsFilter(tags={"sigmasight/refresh_of": batch.run_id}))}
        if client in skip or client in requested[batch.run_id] or _refreshed_since(instance, client, record.create_timestamp):
            continue
        notes.append(f"{client}: its daily_refresh batch {batch.run_id[:8]} failed; refreshed on its own")
        as_of_tag = {"sigmasight/as_of": batch.tags["sigmasight/as_of"]} if "sigmasight/as_of" in batch.tags else {}
        requests.append(RunRequest(
            run_key=f"refresh-alone:{batch.run_id}:{client}", job_name=daily_refresh_job.name, partition_key=client,
            tags={**client_range_tags([client]), "sigmasight/trigger": "onboarding_timeseries_sensor",
                  "sigmasight/refresh_of": batch.run_id, **as_of_tag}))
    return requests, notes


def missing_timeseries_requests(instance, sessions: int | None = None, as_of=None,
                                batch_clients: int | None = None,
                                parallel_runs: int | None = None) -> tuple[list[RunRequest], list[str]]:
    """What should exist versus what does: for every onboarded client (its analytics materialised)
    that has no run in flight, the sessions among its last `sessions` (default
    `Settings.onboard_sessions`, read at each evaluation; up to the as-of date, and
    never past the as-of of its newest price refresh) whose snapshot/risk/stress partitions are not
    materialised — one range RunRequest per block of consecutive sessions. Neighbouring clients (in the
    `clients` partitions' order) that miss exactly the same block of at most `BATCH_MAX_SESSIONS` sessions —
    the new session after the daily refresh — share ONE run, up to `batch_clients` (SIGMASIGHT_BATCH_CLIENTS)
    each, spread over `parallel_runs` (SIGMASIGHT_PARALLEL_RUNS) runs of at least 20 clients; a longer block
    (an onboarding's backlog) is a run per client, so it spreads over the workers; a client of a batch that
    failed in the last day is requested on its own. A client of a `daily_refresh` batch that failed in the last day
    (another client's blocking check) and was not refreshed since gets a `daily_refresh` run of its own first
    (`refresh_alone_requests`). Returns (requests, notes)."""
    import hashlib
    import time

    from dagster import AssetKey

    from sigmasight_onboarding.calendar import last_sessions
    from sigmasight_onboarding.partitions import client_batches, client_range_tags, is_date_partition, session_blocks
    from sigmasight_onboarding.resources.market_data_resource import resolve_as_of

    clients = list(instance.get_dynamic_partitions(clients_partitions.name))  # partition order: a range's order
    if not clients:
        return [], ["no clients yet"]
    onboarded = set(clients)
    for asset in ANALYTICS_ASSETS:
        onboarded &= instance.get_materialized_partitions(AssetKey(asset))
    have = None
    for asset in TIMESERIES_ASSETS:
        done = instance.get_materialized_partitions(AssetKey(asset))
        have = done if have is None else have & done
    busy = clients_in_flight(instance)
    settings = get_settings()
    n = settings.onboard_sessions if sessions is None else sessions
    size = settings.batch_clients if batch_clients is None else batch_clients
    runs = settings.parallel_runs if parallel_runs is None else parallel_runs
    expected = [d for d in last_sessions(as_of or resolve_as_of(settings), n) if is_date_partition(d)]
    alone = None
    notes = []
    due_blocks: dict[str, tuple[list, int]] = {}  # client -> (blocks, price_history storage id)
    for client in clients:
        if client not in onboarded:
            notes.append(f"{client}: not onboarded yet")
            continue
        missing = [d for d in expected if f"{client}|{d.isoformat()}" not in have]
        if not missing:
            continue
        if client in busy:
            notes.append(f"{client}: a run is in flight")
            continue
        refreshed, storage_id = _price_history_as_of(instance, client)
        due = [d for d in missing if refreshed is not None and d <= refreshed]
        if len(due) < len(missing):
            notes.append(f"{client}: {len(missing) - len(due)} session(s) wait for a price refresh")
        if due:
            due_blocks[client] = (session_blocks(due), storage_id)

    def single(client):
        blocks, storage_id = due_blocks[client]
        return [RunRequest(run_key=f"timeseries:{client}:{block[0]}:{block[-1]}:{storage_id}", job_name=timeseries_job.name,
                           tags={**client_range_tags([client], block), "sigmasight/trigger": "onboarding_timeseries_sensor"})
                for block in blocks]

    requests, refresh_notes = refresh_alone_requests(instance, clients, busy | (set(clients) - onboarded))
    notes += refresh_notes
    stretch: list[str] = []  # neighbours (partition order) missing the same single block

    def flush():
        for batch in client_batches(stretch, size, runs=runs):
            if len(batch) == 1:
                requests.extend(single(batch[0]))
                continue
            block = due_blocks[batch[0]][0][0]
            ids = hashlib.sha256(",".join(f"{c}:{due_blocks[c][1]}" for c in batch).encode()).hexdigest()[:16]
            requests.append(RunRequest(
                run_key=f"timeseries-batch:{batch[0]}:{batch[-1]}:{len(batch)}:{block[0]}:{block[-1]}:{ids}",
                job_name=timeseries_job.name, tags={**client_range_tags(batch, block), "sigmasight/trigger": "onboarding_timeseries_sensor"}))
        stretch.clear()

    for client in clients:
        blocks = due_blocks.get(client, (None,))[0]
        batchable = blocks is not None and len(blocks) == 1 and len(blocks[0]) <= BATCH_MAX_SESSIONS
        if batchable and alone is None:
            alone = _clients_of_failed_batches(instance, clients, time.time() - 86_400)
        batchable = batchable and client not in alone
        if stretch and not (batchable and blocks[0] == due_blocks[stretch[0]][0][0]):
            flush()
        if batchable:
            stretch.append(client)
        elif blocks is not None:
            requests.extend(single(client))
    flush()
    return requests, notes


@sensor(
    jobs=[timeseries_job, daily_refresh_job],
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.STOPPED,
    description="Level-triggered: every onboarded client that lacks any of its last N sessions "
                "(SIGMASIGHT_ONBOARD_SESSIONS, default 30) of snapshots, "
                "risk and stress gets them, as one range run per client (whenever it is switched on); neighbouring "
                "clients missing the same sessions (the new session after the daily refresh) share one run. A client "
                "whose daily_refresh batch failed (another client's check) is refreshed on its own first.",
)
def onboarding_timeseries_sensor(context: SensorEvaluationContext, onboarding: OnboardingResource,
                                 market_data: MarketDataResource):
    settings = onboarding.settings()
    requests, notes = missing_timeseries_requests(context.instance, settings.onboard_sessions, market_data.as_of(),
                                                  settings.batch_clients, settings.parallel_runs)
    for note in notes[:20]:
        context.log.info(note)
    if requests:
        return requests
    if notes:  # someone lacks sessions but cannot have them yet (not onboarded, a run in flight, no price refresh)
        return SkipReason(f"nothing to request now; waiting: {'; '.join(notes[:5])}"
                          + (f" (+{len(notes) - 5} more)" if len(notes) > 5 else ""))
    return SkipReason("every onboarded client has its last sessions")


@sensor(
    job=verify_client_job,
    minimum_interval_seconds=15,  # one query for every client: cheap, and READY comes up to 15 s sooner
    default_status=DefaultSensorStatus.STOPPED,
    description="Requests a client's verification + report once its last N sessions (SIGMASIGHT_ONBOARD_SESSIONS, "
                "default 30) of time series exist "
                "(and again whenever they are recomputed).",
)
def verification_sensor(context: SensorEvaluationContext, database: SigmaSightDatabase, onboarding: OnboardingResource,
                        market_data: MarketDataResource):
    from sigmasight_onboarding.calendar import last_sessions
    from sigmasight_onboarding.db.verification_reads import snapshots_by_client

    engine = database.engine()
    sessions = last_sessions(market_data.as_of(), onboarding.settings().onboard_sessions)
    clients = set(context.instance.get_dynamic_partitions(clients_partitions.name))
    rows = snapshots_by_client(engine, sessions[0], sessions[-1])  # one query for every client
    busy = clients_in_flight(context.instance)
    requests = [
        RunRequest(run_key=f"verify:{r.email}:{sessions[-1]}:{r.newest_write.isoformat() if r.newest_write else ''}",
                   partition_key=r.email, tags={"sigmasight/client": r.email, "sigmasight/trigger": "verification_sensor"})
        for r in rows
        if r.email in clients and r.sessions >= len(sessions) and r.email not in busy
    ]
    return requests or SkipReason(f"no client with all {len(sessions)} sessions up to {sessions[-1]} yet")
