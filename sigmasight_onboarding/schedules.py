"""`daily_refresh_schedule`: after the US close on weekdays, refresh every client.

For each client it requests `daily_refresh` (prices + position analytics) and the newest
session's `backfill_timeseries` partition. The newest session is the as-of date (the newest
session the configured market data covers), so with the offline file provider it is idempotent.
"""

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from sigmasight_onboarding.config import get_settings
from sigmasight_onboarding.jobs import daily_refresh_job, timeseries_job
from sigmasight_onboarding.partitions import CLIENTS_PARTITION, client_date_key


@schedule(
    cron_schedule="30 18 * * 1-5",
    execution_timezone="America/New_York",
    job=daily_refresh_job,
    default_status=DefaultScheduleStatus.STOPPED,
    description="Weekdays 18:30 New York: prices, analytics and the new session's snapshots/risk/stress for every client.",
)
def daily_refresh_schedule(context: ScheduleEvaluationContext):
    from sigmasight_onboarding.resources.market_data_resource import resolve_as_of

    clients = context.instance.get_dynamic_partitions(CLIENTS_PARTITION)
    if not clients:
        return SkipReason("no clients onboarded yet")
    as_of = resolve_as_of(get_settings(), today=context.scheduled_execution_time.date())
    stamp = context.scheduled_execution_time.strftime("%Y-%m-%d")
    requests = []
    for client in clients:
        requests.append(RunRequest(run_key=f"refresh:{stamp}:{client}", partition_key=client, job_name=daily_refresh_job.name))
        requests.append(RunRequest(run_key=f"timeseries:{stamp}:{client}", partition_key=client_date_key(client, as_of),
                                   job_name=timeseries_job.name))
    return requests
