"""Jobs. `onboard_client` materialises every client-partitioned asset of the onboarding graph."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from sigmasight_onboarding.partitions import clients_partitions

# Groups whose assets are partitioned by `clients` alone; later capabilities add theirs here.
CLIENT_GROUPS = ("onboarding", "market_data", "analytics")

onboard_client_job = define_asset_job(
    name="onboard_client",
    selection=AssetSelection.groups(*CLIENT_GROUPS),
    partitions_def=clients_partitions,
    executor_def=in_process_executor,
    description="Onboard one client (partition = lower-case email): account, positions and everything downstream.",
)
