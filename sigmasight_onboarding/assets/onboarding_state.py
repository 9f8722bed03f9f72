"""A client's onboarding state (READY / INCOMPLETE with stage and reason) as a check in the UI.

`client_account` → check `onboarding_complete`, one result per client partition. The job hooks
(`hooks.py`) report it the moment the state changes — INCOMPLETE when a step fails for good after
the write, READY (or INCOMPLETE at verification) after the verification — so the asset page, the
asset graph and the Checks tab show a half-onboarded client in red with its stage and reason, the
same words as `sigmasight status` and the audit log. Executing the check from the UI re-reads the
state from the database.
"""


from dagster import AssetCheckEvaluation, AssetCheckExecutionContext, AssetCheckResult, AssetKey, asset_check

from sigmasight_onboarding.db.onboarding_state import READY, OnboardingState, onboarding_state
from sigmasight_onboarding.partitions import clients_partitions
from sigmasight_onboarding.resources.database import SigmaSightDatabase

ONBOARDING_COMPLETE = "onboarding_complete"
STATE_ASSET = AssetKey("client_account")


def state_metadata(state: OnboardingState) -> dict:
    """The state in the words of `sigmasight status` (no empty entries)."""
    meta = {"state": state.state, "description": state.describe()}
    if state.stage:
        meta["stage"] = state.stage
    if state.reason:
        meta["reason"] = state.reason
    if state.at:
        meta["since"] = state.at.isoformat(timespec="seconds")
    return meta


def state_evaluation(client_key: str, state: OnboardingState) -> AssetCheckEvaluation:
    """The `onboarding_complete` result of one client, for `DagsterInstance.report_runless_asset_event`."""
    return AssetCheckEvaluation(asset_key=STATE_ASSET, check_name=ONBOARDING_COMPLETE, passed=state.state == READY,
                                partition=client_key, metadata=state_metadata(state), description=state.describe())


@asset_check(asset=STATE_ASSET, name=ONBOARDING_COMPLETE, partitions_def=clients_partitions,
             description="READY, or INCOMPLETE with the stage and reason of a fault after the write (re-run the "
                         "onboarding to resume). Reported by the jobs when the state changes; executing it re-reads the "
                         "state from the database.")
def onboarding_complete(context: AssetCheckExecutionContext, database: SigmaSightDatabase) -> AssetCheckResult:
    state = onboarding_state(database.engine(), context.partition_key)
    return AssetCheckResult(passed=state.state == READY, metadata=state_metadata(state), description=state.describe())
