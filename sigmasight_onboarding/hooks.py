"""Job hooks that record the real outcome of an onboarding in the audit log.

- `incomplete_on_failure` (onboard_client, verify_client): a step that fails for good (after its
  retries) once the client's rows exist marks the client INCOMPLETE with the stage (the step) and
  the reason. A rejected drop is not INCOMPLETE: it was audited as 'rejected' and nothing was
  written.
- `ready_on_verification` (verify_client): after `onboarding_verification`, 'ready' when the
  verification record passed, else INCOMPLETE at stage verification.
"""

from __future__ import annotations

from dagster import Failure, HookContext, failure_hook, success_hook

from sigmasight_onboarding.db.onboarding_state import READY, onboarding_state, record_outcome


def _client_key(context: HookContext) -> str | None:
    run = context.instance.get_run_by_id(context.run_id)
    key = (run.tags if run else {}).get("dagster/partition")
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


def _is_rejection(exc: BaseException | None) -> bool:
    return isinstance(exc, Failure) and "nothing was written" in (exc.description or "")


@failure_hook(name="incomplete_on_failure", required_resource_keys={"database"})
def incomplete_on_failure(context: HookContext) -> None:
    exc = context.op_exception
    key = _client_key(context)
    if not key or _is_rejection(exc):
        return
    engine = context.resources.database.engine()  # the run's database resource
    if onboarding_state(engine, key).state in ("UNKNOWN", "REJECTED"):
        return  # nothing of the client was written
    stage = context.step_key.split(".")[-1]
    record_outcome(engine, key, "incomplete", stage, failure_reason(exc), actor=f"dagster run {context.run_id[:8]}")


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
