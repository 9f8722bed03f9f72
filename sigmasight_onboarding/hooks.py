"""Job hooks that record the real outcome of an onboarding in the audit log.

- `incomplete_on_failure` (onboard_client, backfill_timeseries, verify_client): a step that fails for
  good (after its retries) once the client's rows exist marks the client INCOMPLETE with the stage (the
  step) and the reason — for a failed blocking check, the checks' own problems. A rejected drop is not
  INCOMPLETE: it was audited as 'rejected' and nothing was written.
- `ready_on_verification` (verify_client): after `onboarding_verification`, 'ready' when the
  verification record passed, else INCOMPLETE at stage verification.

Both also report the new state as the client's `onboarding_complete` check on `client_account`, so
the UI shows it (red with stage and reason while INCOMPLETE).
"""

from __future__ import annotations

from dagster import Failure, HookContext, failure_hook, success_hook

from sigmasight_onboarding.db.onboarding_state import READY, onboarding_state, record_outcome


def _report_state(context: HookContext, engine, key: str) -> None:
    """Show the new state as the client's `onboarding_complete` check in the UI (assets/onboarding_state.py)."""
    from sigmasight_onboarding.assets.onboarding_state import state_evaluation

    from dagster._core.events import DagsterEvent, DagsterEventType

    # Recorded in the hook's run: a *runless* evaluation (report_runless_asset_event) can be stored only
    # once per check partition (Dagster's asset_check_executions key is check × run id × partition, and
    # every runless event has run id ""), so the second state change of a client would be refused.
    event = DagsterEvent(event_type_value=DagsterEventType.ASSET_CHECK_EVALUATION.value, job_name=context.job_name,
                         step_key=context.step_key, event_specific_data=state_evaluation(key, onboarding_state(engine, key)))
    try:
        context.instance.report_dagster_event(event, run_id=context.run_id)
    except Exception as exc:  # the audit row is the record; the UI badge must never fail the run
        context.log.warning(f"could not report the onboarding state to the UI: {exc}")


def _client_key(context: HookContext) -> str | None:
    """The run's client: its `sigmasight/client` tag (range runs, sensors, CLI) or its partition key."""
    run = context.instance.get_run_by_id(context.run_id)
    tags = run.tags if run else {}
    key = tags.get("sigmasight/client") or tags.get("dagster/partition")
    return key.split("|")[0] if key and "|" in key else key


def failure_reason(exc: BaseException | None) -> str:
    """What went wrong, in one line a user can read: the Failure's description, failed checks, or the root error."""
    if exc is None:
        return "the step failed (see the run's logs)"
    if isinstance(exc, Failure) and exc.description:
        return exc.description.strip().splitlines()[0]
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    text = " ".join(line.strip() for line in str(root).strip().splitlines()[:5] if line.strip())
    return f"{type(root).__name__}: {text}"[:1000]


def failed_check_problems(context: HookContext, limit: int = 5, client: str | None = None) -> list[str]:
    """'<check> <partition>: <problem>' of the run's failed asset checks (their `problem` metadata), first
    `limit`, plus how many more: why a blocking check stopped the step, in the user's words (only `client`'s
    partitions when given)."""
    from dagster import DagsterEventType

    records = context.instance.get_records_for_run(context.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    failed = []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation.passed or (client and evaluation.partition and str(evaluation.partition).split("|")[0] != client):
            continue
        problem = evaluation.metadata.get("problem")
        text = getattr(problem, "value", None) or getattr(problem, "text", None) or "failed"
        failed.append(f"{evaluation.check_name} {evaluation.partition or ''}".rstrip() + f": {text}")
    return failed[:limit] + ([f"… and {len(failed) - limit} more"] if len(failed) > limit else [])


def _is_rejection(exc: BaseException | None) -> bool:
    return isinstance(exc, Failure) and "nothing was written" in (exc.description or "")


def _failed_check_clients(context: HookContext) -> list[str]:
    """Clients named by the partitions of the run's failed ERROR-severity check evaluations (a run over
    several clients: the daily refresh, a new session's time series)."""
    from dagster import AssetCheckSeverity, DagsterEventType

    records = context.instance.get_records_for_run(context.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    clients = []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR and evaluation.partition:
            client = str(evaluation.partition).split("|")[0]
            if client not in clients:
                clients.append(client)
    return clients


@failure_hook(name="incomplete_on_failure", required_resource_keys={"database"})
def incomplete_on_failure(context: HookContext) -> None:
    exc = context.op_exception
    key = _client_key(context)
    if _is_rejection(exc):
        return
    if not key:  # a run over several clients: those whose checks failed (an error is retried client by client)
        for client in _failed_check_clients(context):
            _mark_incomplete(context, client, exc)
        return
    _mark_incomplete(context, key, exc)


def _mark_incomplete(context: HookContext, key: str, exc) -> None:
    engine = context.resources.database.engine()  # the run's database resource
    if onboarding_state(engine, key).state in ("UNKNOWN", "REJECTED"):
        return  # nothing of the client was written
    stage = context.step_key.split(".")[-1]
    reason = "; ".join(failed_check_problems(context, client=key)) or failure_reason(exc)
    record_outcome(engine, key, "incomplete", stage, reason, actor=f"dagster run {context.run_id[:8]}")
    _report_state(context, engine, key)


@success_hook(name="ready_on_verification", required_resource_keys={"database"})
def ready_on_verification(context: HookContext) -> None:
    if "onboarding_verification" not in context.step_key:
        return
    key = _client_key(context)
    if not key:
        return
    engine = context.resources.database.engine()  # the run's database resource
    state = onboarding_state(engine, key)
    actor = f"dagster run {context.run_id[:8]}"
    if state.state == READY:
        record_outcome(engine, key, "ready", "verification", None, actor=actor)
    else:
        record_outcome(engine, key, "incomplete", state.stage or "verification", state.reason, actor=actor)
    _report_state(context, engine, key)
