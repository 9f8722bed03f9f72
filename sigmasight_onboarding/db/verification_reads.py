"""What the end-to-end verification reads (rows per engine table, price coverage, snapshot sessions,
risk metrics, stress results), the `verification_sensor`'s sessions-per-client read, and the
`onb_onboarding_verifications` insert. Rules live in `verification_rules.py`."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select

from sigmasight_onboarding.db.models import (
    CorrelationCalculation,
    FactorExposure,
    MarketDataCache,
    OnboardingVerification,
    Portfolio,
    PortfolioRiskMetrics,
    PortfolioSnapshot,
    PositionFactorExposure,
    PositionGreeks,
    PositionInterestRateBeta,
    StressTestResult,
    User,
    utcnow,
)


def _count(conn: Connection, model, *where) -> int:
    return conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def engine_row_counts(conn: Connection, portfolio_id: uuid.UUID, as_of: datetime.date) -> dict[str, int]:
    """{table: rows of the portfolio on the as-of date} for every engine's output table."""
    pid = portfolio_id
    return {
        "position_greeks": _count(conn, PositionGreeks, PositionGreeks.portfolio_id == pid, PositionGreeks.calculation_date == as_of),
        "position_factor_exposures": _count(conn, PositionFactorExposure, PositionFactorExposure.portfolio_id == pid,
                                            PositionFactorExposure.calculation_date == as_of),
        "factor_exposures": _count(conn, FactorExposure, FactorExposure.portfolio_id == pid, FactorExposure.calculation_date == as_of),
        "position_interest_rate_betas": _count(conn, PositionInterestRateBeta, PositionInterestRateBeta.portfolio_id == pid,
                                               PositionInterestRateBeta.calculation_date == as_of),
        "correlation_calculations": _count(conn, CorrelationCalculation, CorrelationCalculation.portfolio_id == pid,
                                           CorrelationCalculation.calculation_date == as_of),
        "portfolio_snapshots": _count(conn, PortfolioSnapshot, PortfolioSnapshot.portfolio_id == pid, PortfolioSnapshot.snapshot_date == as_of),
        "portfolio_risk_metrics": _count(conn, PortfolioRiskMetrics, PortfolioRiskMetrics.portfolio_id == pid,
                                         PortfolioRiskMetrics.calculation_date == as_of),
        "stress_test_results": _count(conn, StressTestResult, StressTestResult.portfolio_id == pid, StressTestResult.calculation_date == as_of),
    }


def price_rows_by_symbol(conn: Connection, symbols: Iterable[str], first: datetime.date, last: datetime.date) -> dict[str, int]:
    """{symbol: cached price rows dated first..last}; symbols without rows are absent."""
    return dict(conn.execute(
        select(MarketDataCache.symbol, func.count()).where(
            MarketDataCache.symbol.in_(symbols), MarketDataCache.date >= first, MarketDataCache.date <= last
        ).group_by(MarketDataCache.symbol)).all())


def snapshot_dates(conn: Connection, portfolio_id: uuid.UUID, first: datetime.date, last: datetime.date) -> set[datetime.date]:
    """Dates first..last on which the portfolio has a snapshot."""
    return set(conn.execute(select(PortfolioSnapshot.snapshot_date).where(
        PortfolioSnapshot.portfolio_id == portfolio_id, PortfolioSnapshot.snapshot_date >= first,
        PortfolioSnapshot.snapshot_date <= last)).scalars())


def risk_metrics_row(conn: Connection, portfolio_id: uuid.UUID, as_of: datetime.date) -> Mapping[str, Any] | None:
    """The portfolio's risk-metrics row of the as-of date (column → value), or None."""
    return conn.execute(select(PortfolioRiskMetrics).where(
        PortfolioRiskMetrics.portfolio_id == portfolio_id, PortfolioRiskMetrics.calculation_date == as_of)).mappings().first()


def stress_pnl_by_scenario(conn: Connection, portfolio_id: uuid.UUID, as_of: datetime.date) -> dict[str, float]:
    """{scenario id: portfolio P&L ($)} of the stress results stored for the as-of date."""
    return dict(conn.execute(select(StressTestResult.scenario_id, StressTestResult.portfolio_pnl).where(
        StressTestResult.portfolio_id == portfolio_id, StressTestResult.calculation_date == as_of)).all())


def insert_verification(engine: Engine, portfolio_id: uuid.UUID, email: str, as_of: datetime.date, source: str,
                        passed: bool, checks: list[dict]) -> None:
    """Store one verification record (``checks``: the checks as dicts), verified now."""
    with engine.begin() as conn:
        conn.execute(insert(OnboardingVerification), [{
            "portfolio_id": portfolio_id, "client_email": email, "as_of": as_of, "verified_at": utcnow(),
            "source": source, "passed": passed, "checks": checks}])


@dataclass(frozen=True)
class ClientSnapshots:
    """One client's snapshots over a range of sessions."""

    email: str
    sessions: int  # snapshot rows (one per session) in the range
    newest_write: datetime.datetime | None  # newest snapshot created_at (UTC): changes when the series is recomputed


def snapshots_by_client(engine: Engine, first: datetime.date, last: datetime.date) -> list[ClientSnapshots]:
    """Every client with snapshots dated first..last: how many and the newest write (one query)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(User.email, func.count(), func.max(PortfolioSnapshot.created_at))
            .join(Portfolio, Portfolio.user_id == User.id)
            .join(PortfolioSnapshot, PortfolioSnapshot.portfolio_id == Portfolio.id)
            .where(PortfolioSnapshot.snapshot_date >= first, PortfolioSnapshot.snapshot_date <= last)
            .group_by(User.email)
        ).all()
    return [ClientSnapshots(email, have, newest) for email, have, newest in rows]
