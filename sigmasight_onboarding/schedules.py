"""`daily_refresh_schedule`: after the US close on weekdays, refresh every client.

It requests `daily_refresh` (prices + position analytics) for every client as ONE run per
SIGMASIGHT_BATCH_CLIENTS (default 250) consecutive clients: a range over the `clients` partitions
(the assets' `BackfillPolicy.single_run`), one price read and provider call for the union of their symbols.
The clients are spread over at least SIGMASIGHT_PARALLEL_RUNS runs (default: the host's CPUs) of at least
20 clients each, so the run queue computes them side by side (`partitions.client_batches`).
A client with a run in flight (being onboarded) is left out — that run computes the same as-of — and the
range is split around it.
The new session's snapshots/risk/stress follow from `onboarding_timeseries_sensor`, which requests
a client's missing sessions only once no run of that client is in flight and only up to the as-of
of its newest price refresh — so prices and analytics always run before the new session's time
series. The newest session is the as-of date (the newest session the configured market data
covers), so with the offline file provider it is idempotent.
"""

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from sigmasight_onboarding.jobs import daily_refresh_job
from sigmasight_onboarding.partitions import CLIENTS_PARTITION, client_batches, client_range_tags
from sigmasight_onboarding.resources.market_data_resource import MarketDataResource, resolve_as_of
from sigmasight_onboarding.resources.onboarding import OnboardingResource
from sigmasight_onboarding.sensors import clients_in_flight


@schedule(
    cron_schedule="30 18 * * 1-5",
    execution_timezone="America/New_York",
    job=daily_refresh_job,
    default_status=DefaultScheduleStatus.STOPPED,
    description="Weekdays 18:30 New York: prices and analytics for every client, one run per SIGMASIGHT_BATCH_CLIENTS "
                "(default 250) clients, spread over SIGMASIGHT_PARALLEL_RUNS runs side by side (default: the host's CPUs) "
                "(then onboarding_timeseries_sensor adds the new session's snapshots/risk/stress).",
)
def daily_refresh_schedule(context: ScheduleEvaluationContext, market_data: MarketDataResource,
                           onboarding: OnboardingResource):

    clients = context.instance.get_dynamic_partitions(CLIENTS_PARTITION)
    if not clients:
        return SkipReason("no clients onboarded yet")
    as_of = resolve_as_of(market_data.settings(), today=context.scheduled_execution_time.date())
    stamp = context.scheduled_execution_time.strftime("%Y-%m-%d")
    busy = clients_in_flight(context.instance)  # being onboarded now: that run computes this as-of itself
    settings = onboarding.settings()
    batches = client_batches(list(clients), settings.batch_clients, skip=busy, runs=settings.parallel_runs)
    if not batches:
        return SkipReason(f"every client has a run in flight ({len(busy)})")
    return [
        RunRequest(run_key=f"refresh:{stamp}:{batch[0]}:{batch[-1]}:{len(batch)}",
                   partition_key=batch[0] if len(batch) == 1 else None,
                   tags={**client_range_tags(batch), "sigmasight/trigger": "daily_refresh_schedule",
                         "sigmasight/as_of": as_of.isoformat()})
        for batch in batches
    ]
