"""Jobs.

- `onboard_client`: every client-partitioned asset (groups below) for one client.
- `backfill_timeseries`: the client × date assets (snapshots, risk, stress) for one partition or,
  launched with the `dagster/asset_partition_range_start`/`_end` tags (CLI, sensors, schedule), a
  client × session range as one run. UI backfills should be *asset* backfills (Assets →
  Materialize): the assets' `BackfillPolicy.single_run` makes each client's range one run.

- `daily_refresh`: prices and analytics of one client or — `daily_refresh_schedule`, range tags over the
  `clients` partitions — of many clients as one run (`assets/client_batch.py`).

Each job's partitions are those of the assets it selects (Dagster infers them).
The jobs name no executor: they take the Definitions' one, chosen by the deployment
(`SIGMASIGHT_EXECUTOR`, see `executors.py`; in-process by default).
"""

import warnings

from dagster import AssetSelection, define_asset_job

from sigmasight_onboarding.assets.onboarding_state import onboarding_complete
from sigmasight_onboarding.hooks import incomplete_on_failure, ready_on_verification

# Groups whose assets are partitioned by `clients` alone.
CLIENT_GROUPS = ("onboarding", "market_data", "analytics")
TIMESERIES_GROUP = "timeseries"

# onboard_client holds per-client assets without a backfill policy (one drop per run) and the daily refresh's
# single-run ones; Dagster then runs it one partition per run — what it should do — and says so with this
# UserWarning at every load. Exactly that warning is silenced.
warnings.filterwarnings("ignore", message="Asset job onboard_client materializes assets with varying BackfillPolicies",
                        category=UserWarning)

onboard_client_job = define_asset_job(
    name="onboard_client",
    tags={"sigmasight/kind": "onboarding"},
    # onboarding_complete is reported by the hooks when the state changes, not run mid-onboarding
    selection=AssetSelection.groups(*CLIENT_GROUPS) - AssetSelection.checks(onboarding_complete),
    hooks={incomplete_on_failure},  # a failure after the write marks the client INCOMPLETE (audit log)
    description="Onboard one client (partition = lower-case email): account, positions, prices and position analytics.",
)

timeseries_job = define_asset_job(
    name="backfill_timeseries",
    tags={"sigmasight/kind": "timeseries"},
    selection=AssetSelection.groups(TIMESERIES_GROUP),
    hooks={incomplete_on_failure},  # a failed range run (error or blocking check) marks the client INCOMPLETE
    description="Snapshots, risk metrics and stress tests for one (client, NYSE session) partition or a range of them.",
)

VERIFICATION_GROUP = "verification"

verify_client_job = define_asset_job(
    name="verify_client",
    tags={"sigmasight/kind": "verification"},
    selection=AssetSelection.groups(VERIFICATION_GROUP),
    hooks={incomplete_on_failure, ready_on_verification},  # the real outcome in the audit log
    description="Verification record and onboarding report of one client (after its time series exist).",
)

daily_refresh_job = define_asset_job(
    name="daily_refresh",
    tags={"sigmasight/kind": "daily-refresh"},
    selection=AssetSelection.groups("market_data", "analytics"),
    description="New prices and position analytics for the newest session: one client, or a range of clients as one run.",
)
