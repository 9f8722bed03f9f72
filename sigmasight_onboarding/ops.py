"""Op-based jobs that are not asset materialisations: offboarding."""

from dagster import Config, Failure, OpExecutionContext, job, op

from sigmasight_onboarding.db.offboarding import UnknownClientError, offboard_client
from sigmasight_onboarding.partitions import CLIENTS_PARTITION
from sigmasight_onboarding.resources.database import SigmaSightDatabase


class OffboardConfig(Config):
    email: str


@op(description="Delete every row of the client in one transaction and remove its `clients` partition.")
def offboard_client_op(context: OpExecutionContext, config: OffboardConfig, database: SigmaSightDatabase) -> dict:
    email = config.email.strip().lower()
    try:
        deleted = offboard_client(database.engine(), email, actor=f"dagster run {context.run_id[:8]}")
    except UnknownClientError as exc:
        raise Failure(str(exc), allow_retries=False) from None
    if context.instance.has_dynamic_partition(CLIENTS_PARTITION, email):
        context.instance.delete_dynamic_partition(CLIENTS_PARTITION, email)
    context.log.info(f"offboarded {email}: {sum(deleted.values())} rows deleted")
    return deleted


@job(name="offboard_client", description="Offboard / roll back one client (config: email). Shared market data stays.")
def offboard_client_job():
    offboard_client_op()
