"""Offboarding / rollback: delete every row of one client in ONE transaction.

Shared `market_data_cache` (and known gaps, stress scenario definitions, factor definitions)
stay. The audit log keeps its history (it is the record of the offboarding itself) and gains
an 'offboard' row.
"""

from __future__ import annotations

from sqlalchemy import Engine, delete, select

from sigmasight_onboarding.db.models import (
    CorrelationCalculation,
    CorrelationCluster,
    CorrelationClusterPosition,
    FactorExposure,
    OnboardingVerification,
    PairwiseCorrelation,
    Portfolio,
    PortfolioExposure,
    PortfolioRiskMetrics,
    PortfolioSnapshot,
    Position,
    PositionExposure,
    PositionFactorExposure,
    PositionGreeks,
    PositionInterestRateBeta,
    PositionPnlExplain,
    PositionTag,
    StressTestResult,
    Tag,
    User,
)
from sigmasight_onboarding.db.onboarding_writer import client_lock, write_audit
from sigmasight_onboarding.db.publish import delete_client_rows

PORTFOLIO_TABLES = (
    PositionGreeks, PositionFactorExposure, FactorExposure, PositionInterestRateBeta, PortfolioSnapshot,
    PortfolioRiskMetrics, StressTestResult, OnboardingVerification, PositionExposure, PortfolioExposure, PositionPnlExplain,
)


class UnknownClientError(LookupError):
    pass


def offboard_client(engine: Engine, email: str, actor: str | None = None) -> dict[str, int]:
    """Delete the client's rows everywhere; returns rows deleted per table. Unknown → UnknownClientError."""
    email = email.strip().lower()
    deleted: dict[str, int] = {}
    with engine.begin() as conn:
        client_lock(conn, email)
        user_id = conn.execute(select(User.id).where(User.email == email)).scalar_one_or_none()
        if user_id is None:
            raise UnknownClientError(f"no client {email!r} in the SigmaSight database; nothing changed")
        portfolio_ids = list(conn.execute(select(Portfolio.id).where(Portfolio.user_id == user_id)).scalars())
        position_ids = select(Position.id).where(Position.portfolio_id.in_(portfolio_ids))
        calc_ids = select(CorrelationCalculation.id).where(CorrelationCalculation.portfolio_id.in_(portfolio_ids))
        cluster_ids = select(CorrelationCluster.id).where(CorrelationCluster.correlation_calculation_id.in_(calc_ids))

        def run(name, stmt):
            deleted[name] = deleted.get(name, 0) + (conn.execute(stmt).rowcount or 0)

        for name, n in delete_client_rows(conn, portfolio_ids).items():  # the backend's analytics tables
            deleted["backend." + name] = n
        run("correlation_cluster_positions", delete(CorrelationClusterPosition).where(CorrelationClusterPosition.cluster_id.in_(cluster_ids)))
        run("correlation_clusters", delete(CorrelationCluster).where(CorrelationCluster.correlation_calculation_id.in_(calc_ids)))
        run("pairwise_correlations", delete(PairwiseCorrelation).where(PairwiseCorrelation.correlation_calculation_id.in_(calc_ids)))
        run("correlation_calculations", delete(CorrelationCalculation).where(CorrelationCalculation.portfolio_id.in_(portfolio_ids)))
        for model in PORTFOLIO_TABLES:
            run(model.__tablename__, delete(model).where(model.portfolio_id.in_(portfolio_ids)))
        run("position_tags", delete(PositionTag).where(PositionTag.position_id.in_(position_ids)))
        run("positions", delete(Position).where(Position.portfolio_id.in_(portfolio_ids)))
        run("tags", delete(Tag).where(Tag.user_id == user_id))
        run("portfolios", delete(Portfolio).where(Portfolio.id.in_(portfolio_ids)))
        run("users", delete(User).where(User.id == user_id))
        write_audit(conn, email, "offboard", "success", {"rows_deleted": deleted}, actor)
    return deleted
