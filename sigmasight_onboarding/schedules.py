"""`daily_refresh_schedule`: after the US close on weekdays, refresh every client.

For each client it requests `daily_refresh` (prices + position analytics, partition = client).
The new session's snapshots/risk/stress follow from `onboarding_timeseries_sensor`, which requests
a client's missing sessions only once no run of that client is in flight and only up to the as-of
of its newest price refresh — so prices and analytics always run before the new session's time
series. The newest session is the as-of date (the newest session the configured market data
covers), so with the offline file provider it is idempotent.
"""

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from sigmasight_onboarding.jobs import daily_refresh_job
from sigmasight_onboarding.partitions import CLIENTS_PARTITION
from sigmasight_onboarding.resources.market_data_resource import MarketDataResource, resolve_as_of


@schedule(
    cron_schedule="30 18 * * 1-5",
    execution_timezone="America/New_York",
    job=daily_refresh_job,
    default_status=DefaultScheduleStatus.STOPPED,
    description="Weekdays 18:30 New York: prices and analytics for every client (then onboarding_timeseries_sensor "
                "adds the new session's snapshots/risk/stress).",
)
def daily_refresh_schedule(context: ScheduleEvaluationContext, market_data: MarketDataResource):

    clients = context.instance.get_dynamic_partitions(CLIENTS_PARTITION)
    if not clients:
        return SkipReason("no clients onboarded yet")
    as_of = resolve_as_of(market_data.settings(), today=context.scheduled_execution_time.date())
    stamp = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return [
        RunRequest(run_key=f"refresh:{stamp}:{client}", partition_key=client,
                   tags={"sigmasight/client": client, "sigmasight/trigger": "daily_refresh_schedule",
                         "sigmasight/as_of": as_of.isoformat()})
        for client in clients
    ]
