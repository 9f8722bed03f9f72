"""What is stored for one client, for `sigmasight status`: user, portfolio, position and tag counts, the
newest audit rows and the onboarding state (READY / INCOMPLETE / REJECTED)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select

from sigmasight_onboarding.db.models import OnboardingAuditLog, Portfolio, Position, PositionTag, Tag, User
from sigmasight_onboarding.db.onboarding_state import OnboardingState, onboarding_state


@dataclass
class ClientStatus:
    email: str
    state: OnboardingState
    user: dict[str, Any] | None = None  # users row
    portfolio: dict[str, Any] | None = None  # portfolios row
    active_by_type: dict[str, int] = field(default_factory=dict)  # position type → active positions
    soft_deleted: int = 0
    tags: int = 0
    tag_links: int = 0
    audit: list[dict[str, Any]] = field(default_factory=list)  # newest first

    @property
    def active_positions(self) -> int:
        return sum(self.active_by_type.values())


def client_status(engine: Engine, email: str, audit_rows: int = 5) -> ClientStatus:
    """One read of everything `sigmasight status` shows (email lower-cased)."""
    email = email.strip().lower()
    status = ClientStatus(email=email, state=onboarding_state(engine, email))
    with engine.connect() as conn:
        status.audit = [dict(r) for r in conn.execute(
            select(OnboardingAuditLog).where(OnboardingAuditLog.client_email == email)
            .order_by(OnboardingAuditLog.id.desc()).limit(audit_rows)).mappings()]
        user = conn.execute(select(User).where(User.email == email)).mappings().first()
        if user is None:
            return status
        status.user = dict(user)
        portfolio = conn.execute(select(Portfolio).where(Portfolio.user_id == user["id"])).mappings().first()
        status.tags = conn.execute(select(func.count()).select_from(Tag).where(Tag.user_id == user["id"])).scalar_one()
        if portfolio is None:
            return status
        status.portfolio = dict(portfolio)
        pid = portfolio["id"]
        active = conn.execute(select(Position.position_type, func.count()).where(
            Position.portfolio_id == pid, Position.deleted_at.is_(None)).group_by(Position.position_type)).all()
        status.active_by_type = {str(getattr(t, "value", t)): n for t, n in sorted(active, key=lambda r: str(r[0]))}
        status.soft_deleted = conn.execute(select(func.count()).where(
            Position.portfolio_id == pid, Position.deleted_at.is_not(None))).scalar_one()
        status.tag_links = conn.execute(select(func.count()).select_from(PositionTag).join(
            Position, Position.id == PositionTag.position_id).where(Position.portfolio_id == pid)).scalar_one()
    return status
