"""Where a client's onboarding stands, from the user's side: READY, INCOMPLETE or REJECTED.

Derived from the audit log (`onb_audit_log`) and the verification records (`onb_verifications`),
newest event first:

- a passing verification record                  -> READY
- a failing verification record                  -> INCOMPLETE, stage "verification"
- an audit row with outcome "incomplete"         -> INCOMPLETE with the stage and reason recorded
- the account write ("success" of onboard/reconcile/re-run) and nothing after it
                                                 -> INCOMPLETE, stage "after the account write"
                                                    (the run is still going or was killed)
- only rejections, and no user                   -> REJECTED (nothing was written)

A rejected re-drop of an existing client changes nothing: the state of the stored client stays,
and `last_rejection` tells about the drop. The next onboarding run resumes an INCOMPLETE client
(every step replaces its own rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from sigmasight_onboarding.db.models import OnboardingAuditLog, OnboardingVerification, User
from sigmasight_onboarding.db.onboarding_writer import audit

READY, INCOMPLETE, REJECTED, UNKNOWN = "READY", "INCOMPLETE", "REJECTED", "UNKNOWN"
WRITE_ACTIONS = ("onboard", "reconcile", "re-run (no change)")
STATE_ACTION = "onboarding"  # audit rows written by `record_outcome`


@dataclass(frozen=True)
class OnboardingState:
    state: str
    stage: str | None = None
    reason: str | None = None
    at: datetime | None = None
    last_rejection: datetime | None = None

    def describe(self) -> str:
        if self.state == INCOMPLETE:
            return f"INCOMPLETE at stage {self.stage}: {self.reason} (re-run `sigmasight onboard` to resume)"
        if self.state == REJECTED:
            return "REJECTED: nothing was written (see the audit rows for every problem)"
        return self.state


def record_outcome(engine: Engine, email: str, outcome: str, stage: str | None, reason: str | None,
                   actor: str | None = None) -> None:
    """One audit row with the real outcome of an onboarding after the write: 'ready' or 'incomplete'."""
    details = {"stage": stage, "reason": (reason or "")[:1000]} if outcome != "ready" else {"stage": stage}
    audit(engine, email, STATE_ACTION, outcome, details, actor)


def onboarding_state(engine: Engine, email: str) -> OnboardingState:
    email = email.strip().lower()
    with engine.connect() as conn:
        has_user = conn.execute(select(User.id).where(User.email == email)).first() is not None
        rows = conn.execute(
            select(OnboardingAuditLog.at, OnboardingAuditLog.action, OnboardingAuditLog.outcome, OnboardingAuditLog.details)
            .where(OnboardingAuditLog.client_email == email).order_by(OnboardingAuditLog.id.desc()).limit(200)
        ).all()
        verification = conn.execute(
            select(OnboardingVerification.verified_at, OnboardingVerification.passed, OnboardingVerification.checks)
            .where(OnboardingVerification.client_email == email).order_by(OnboardingVerification.id.desc()).limit(1)
        ).first()
    last_rejection = next((r.at for r in rows if r.outcome == "rejected"), None)
    if not has_user:
        return OnboardingState(REJECTED if last_rejection else UNKNOWN, last_rejection=last_rejection,
                               at=last_rejection)
    events = [(r.at, "audit", r) for r in rows if r.outcome != "rejected" and r.action != "offboard"]
    if verification is not None:
        events.append((verification.verified_at, "verification", verification))
    events.sort(key=lambda e: _naive(e[0]), reverse=True)
    for at, kind, row in events:
        if kind == "verification":
            if row.passed:
                return OnboardingState(READY, at=at, last_rejection=last_rejection)
            failed = [c.get("name") for c in (row.checks or []) if not c.get("passed")]
            return OnboardingState(INCOMPLETE, "verification", "failed checks: " + ", ".join(map(str, failed)),
                                   at, last_rejection)
        if row.outcome == "ready":
            return OnboardingState(READY, at=at, last_rejection=last_rejection)
        if row.outcome in ("incomplete", "failed"):
            details = row.details or {}
            stage = details.get("stage") or "account write"
            reason = details.get("reason") or details.get("message") or details.get("error") or "unknown"
            return OnboardingState(INCOMPLETE, stage, reason, at, last_rejection)
        if row.action in WRITE_ACTIONS and row.outcome == "success":
            return OnboardingState(INCOMPLETE, "after the account write",
                                   "no later stage has finished (the run is still going or was stopped)", at, last_rejection)
    return OnboardingState(INCOMPLETE, "unknown", "no onboarding recorded for the stored client", None, last_rejection)


def _naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None) if value is not None and value.tzinfo is not None else value
