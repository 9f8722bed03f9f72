"""The onboarding report's reads of one client (SQLAlchemy Core; SQLite and PostgreSQL).

Every piece may be missing — analytics not yet computed, no time series yet, no prices — so each
reader returns an empty frame / None (per-table readers use the table's newest date ≤ as_of); only
an unknown client raises `UnknownClient`. `report/data.py` assembles them into `ReportData`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, and_, func, select

from sigmasight_onboarding.db.models import (
    CorrelationCalculation, CorrelationCluster, CorrelationClusterPosition, FactorDefinition, FactorExposure,
    MarketDataCache, MarketDataGap, PairwiseCorrelation, Portfolio, PortfolioExposure, PortfolioRiskMetrics,
    PortfolioSnapshot, Position, PositionFactorExposure, PositionGreeks, PositionInterestRateBeta, PositionTag,
    StressTestResult, StressTestScenario, Tag, User,
)
from sigmasight_onboarding.db.portfolio_reads import UnknownClient


def _num(value: Any) -> float:
    """float of a Numeric/Float cell; NaN for NULL or garbage."""
    if value is None:
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _enum(value: Any) -> str:
    return str(getattr(value, "value", value))


# --------------------------------------------------------------------------------- readers


def latest_date(conn: Connection, date_col, portfolio_col, portfolio_id, as_of: date) -> date | None:
    """Newest `date_col` ≤ as_of among the portfolio's rows (None when there is none)."""
    return conn.execute(select(func.max(date_col)).where(portfolio_col == portfolio_id, date_col <= as_of)).scalar()


def report_client(conn: Connection, email: str) -> dict[str, Any]:
    """{"user_id", "full_name", "portfolio": (id, name, description, currency) row or None}; raises UnknownClient."""
    user = conn.execute(select(User.id, User.full_name).where(User.email == email)).first()
    if user is None:
        raise UnknownClient(f"client {email!r} has no user in the SigmaSight database; onboard it first")
    port = conn.execute(
        select(Portfolio.id, Portfolio.name, Portfolio.description, Portfolio.currency).where(Portfolio.user_id == user[0])
    ).first()
    return {"user_id": user[0], "full_name": user[1] or "", "portfolio": port}


def report_positions(conn: Connection, portfolio_id) -> pd.DataFrame:
    """Active positions, by symbol (numbers as floats, position_type as text, sorted tag names in `tags`)."""
    cols = ["id", "symbol", "position_type", "quantity", "entry_price", "entry_date", "last_price", "market_value",
            "unrealized_pnl", "underlying_symbol", "strike_price", "expiration_date"]
    rows = conn.execute(
        select(Position.id, Position.symbol, Position.position_type, Position.quantity, Position.entry_price,
               Position.entry_date, Position.last_price, Position.market_value, Position.unrealized_pnl,
               Position.underlying_symbol, Position.strike_price, Position.expiration_date)
        .where(Position.portfolio_id == portfolio_id, Position.deleted_at.is_(None))
        .order_by(Position.symbol)
    ).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=cols)
    frame["position_type"] = frame["position_type"].map(_enum)
    for col in ("quantity", "entry_price", "last_price", "market_value", "unrealized_pnl", "strike_price"):
        frame[col] = frame[col].map(_num).astype(float)
    links = conn.execute(
        select(PositionTag.position_id, Tag.name)
        .join(Tag, Tag.id == PositionTag.tag_id)
        .join(Position, Position.id == PositionTag.position_id)
        .where(Position.portfolio_id == portfolio_id, Position.deleted_at.is_(None))
    ).all()
    tags: dict[Any, list[str]] = {}
    for pid, name in links:
        tags.setdefault(pid, []).append(name)
    frame["tags"] = [sorted(tags.get(pid, [])) for pid in frame["id"]]
    return frame


def latest_factor_exposures(conn: Connection, portfolio_id, as_of: date) -> tuple[pd.DataFrame, date | None]:
    day = latest_date(conn, FactorExposure.calculation_date, FactorExposure.portfolio_id, portfolio_id, as_of)
    cols = ["model", "factor", "etf_proxy", "display_order", "dollars", "beta_gross", "beta_net"]
    if day is None:
        return pd.DataFrame(columns=cols), None
    rows = conn.execute(
        select(FactorExposure.model, FactorDefinition.name, FactorDefinition.etf_proxy, FactorDefinition.display_order,
               FactorExposure.exposure_dollar, FactorExposure.beta_gross, FactorExposure.beta_net)
        .join(FactorDefinition, FactorDefinition.id == FactorExposure.factor_id)
        .where(FactorExposure.portfolio_id == portfolio_id, FactorExposure.calculation_date == day)
        .order_by(FactorDefinition.display_order, FactorExposure.model)
    ).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=cols)
    for col in ("dollars", "beta_gross", "beta_net"):
        frame[col] = frame[col].map(_num).astype(float)
    return frame, day


def position_factor_rows(conn: Connection, portfolio_id, day: date | None) -> pd.DataFrame:
    cols = ["symbol", "model", "factor", "beta", "n_obs", "quality_flag", "extreme_beta"]
    if day is None:
        return pd.DataFrame(columns=cols)
    rows = conn.execute(
        select(Position.symbol, PositionFactorExposure.model, FactorDefinition.name, PositionFactorExposure.exposure_value,
               PositionFactorExposure.n_obs, PositionFactorExposure.quality_flag, PositionFactorExposure.extreme_beta)
        .join(Position, Position.id == PositionFactorExposure.position_id)
        .join(FactorDefinition, FactorDefinition.id == PositionFactorExposure.factor_id)
        .where(PositionFactorExposure.portfolio_id == portfolio_id, PositionFactorExposure.calculation_date == day,
               Position.deleted_at.is_(None))
    ).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=cols)
    frame["beta"] = frame["beta"].map(_num).astype(float)
    frame["extreme_beta"] = frame["extreme_beta"].astype(bool)
    return frame


def latest_position_rows(conn: Connection, table, columns: list[str], portfolio_id, as_of: date) -> pd.DataFrame:
    """`columns` of a per-position table (`table`: a model with position_id, portfolio_id and
    calculation_date) on its newest date ≤ `as_of`, one row per live position, with the position's
    symbol first; empty with those columns when the table has no such date."""
    cols = ["symbol", *columns]
    day = latest_date(conn, table.calculation_date, table.portfolio_id, portfolio_id, as_of)
    if day is None:
        return pd.DataFrame(columns=cols)
    rows = conn.execute(
        select(Position.symbol, *(getattr(table, c) for c in columns))
        .join(Position, Position.id == table.position_id)
        .where(table.portfolio_id == portfolio_id, table.calculation_date == day, Position.deleted_at.is_(None))
    ).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=cols)


def latest_rate_betas(conn: Connection, portfolio_id, as_of: date) -> pd.DataFrame:
    return latest_position_rows(conn, PositionInterestRateBeta, ["rate_beta", "n_obs", "quality_flag", "calculation_date"],
                                 portfolio_id, as_of)


def latest_greeks(conn: Connection, portfolio_id, as_of: date) -> pd.DataFrame:
    return latest_position_rows(conn, PositionGreeks, ["calculation_date", "price_source", "volatility_source",
                                                        "implied_volatility", "delta", "delta_dollars", "is_expired"],
                                 portfolio_id, as_of)


def latest_desk_exposure(conn: Connection, portfolio_id, as_of: date) -> dict[str, Any] | None:
    pe = PortfolioExposure
    day = latest_date(conn, pe.calculation_date, pe.portfolio_id, portfolio_id, as_of)
    if day is None:
        return None
    row = conn.execute(select(pe.calculation_date, pe.long_dollar_delta, pe.short_dollar_delta, pe.delta_adjusted_gross,
                              pe.delta_adjusted_net, pe.beta_adjusted_gross, pe.beta_adjusted_net, pe.n_positions_missing_beta)
                       .where(pe.portfolio_id == portfolio_id, pe.calculation_date == day)).mappings().first()
    return dict(row) if row else None


def latest_correlation(conn: Connection, portfolio_id, as_of: date) -> dict[str, Any] | None:
    t = CorrelationCalculation
    day = latest_date(conn, t.calculation_date, t.portfolio_id, portfolio_id, as_of)
    if day is None:
        return None
    calc = conn.execute(
        select(t.id, t.calculation_date, t.duration_days, t.overall_correlation, t.correlation_concentration_score,
               t.effective_positions, t.positions_included, t.positions_excluded, t.excluded)
        .where(t.portfolio_id == portfolio_id, t.calculation_date == day)
    ).mappings().first()
    if calc is None:
        return None
    out = dict(calc)
    pairs = conn.execute(
        select(PairwiseCorrelation.symbol_1, PairwiseCorrelation.symbol_2, PairwiseCorrelation.correlation_value)
        .where(PairwiseCorrelation.correlation_calculation_id == calc["id"])
    ).all()
    symbols = sorted({p[0] for p in pairs} | {p[1] for p in pairs})
    matrix = pd.DataFrame(np.eye(len(symbols)), index=symbols, columns=symbols)
    for a, b, rho in pairs:
        matrix.at[a, b] = matrix.at[b, a] = _num(rho)
    out["matrix"] = matrix
    clusters = conn.execute(
        select(CorrelationCluster.id, CorrelationCluster.cluster_number, CorrelationCluster.nickname,
               CorrelationCluster.avg_correlation, CorrelationCluster.total_value, CorrelationCluster.portfolio_percentage)
        .where(CorrelationCluster.correlation_calculation_id == calc["id"])
        .order_by(CorrelationCluster.cluster_number)
    ).mappings().all()
    members = conn.execute(
        select(CorrelationClusterPosition.cluster_id, CorrelationClusterPosition.symbol)
        .where(CorrelationClusterPosition.cluster_id.in_([c["id"] for c in clusters]))
    ).all() if clusters else []
    by_cluster: dict[Any, list[str]] = {}
    for cid, sym in members:
        by_cluster.setdefault(cid, []).append(sym)
    out["clusters"] = [{**dict(c), "symbols": sorted(by_cluster.get(c["id"], []))} for c in clusters]
    return out


def recent_snapshots(conn: Connection, portfolio_id, as_of: date, sessions: int) -> pd.DataFrame:
    """The newest `sessions` snapshots dated ≤ as_of, oldest first (values as floats)."""
    s = PortfolioSnapshot
    rows = conn.execute(
        select(s.snapshot_date, s.total_value, s.long_value, s.short_value, s.gross_exposure, s.net_exposure, s.daily_pnl,
               s.daily_return, s.cumulative_pnl)
        .where(s.portfolio_id == portfolio_id, s.snapshot_date <= as_of)
        .order_by(s.snapshot_date.desc()).limit(sessions)
    ).all()
    cols = ["snapshot_date", "total_value", "long_value", "short_value", "gross_exposure", "net_exposure", "daily_pnl",
            "daily_return", "cumulative_pnl"]
    frame = pd.DataFrame([tuple(r) for r in rows], columns=cols).iloc[::-1].reset_index(drop=True)
    for col in cols[1:]:
        frame[col] = frame[col].map(_num).astype(float)
    return frame


def latest_risk_metrics(conn: Connection, portfolio_id, as_of: date) -> dict[str, Any] | None:
    t = PortfolioRiskMetrics
    day = latest_date(conn, t.calculation_date, t.portfolio_id, portfolio_id, as_of)
    if day is None:
        return None
    row = conn.execute(select(t).where(t.portfolio_id == portfolio_id, t.calculation_date == day)).mappings().first()
    return dict(row) if row is not None else None


def latest_stress_results(conn: Connection, portfolio_id, as_of: date) -> tuple[pd.DataFrame, date | None]:
    r, s = StressTestResult, StressTestScenario
    cols = ["scenario_id", "name", "category", "source", "pnl", "pct_gross", "gross_exposure", "position_pnl"]
    day = latest_date(conn, r.calculation_date, r.portfolio_id, portfolio_id, as_of)
    if day is None:
        return pd.DataFrame(columns=cols), None
    rows = conn.execute(
        select(r.scenario_id, s.name, s.category, s.source, r.portfolio_pnl, r.pnl_pct_gross, r.gross_exposure, r.position_pnl)
        .join(s, s.id == r.scenario_id)
        .where(r.portfolio_id == portfolio_id, r.calculation_date == day)
    ).all()
    frame = pd.DataFrame([tuple(x) for x in rows], columns=cols)
    for col in ("pnl", "pct_gross", "gross_exposure"):
        frame[col] = frame[col].map(_num).astype(float)
    return frame.sort_values(["pnl", "scenario_id"]).reset_index(drop=True), day


def prices_and_sources(conn: Connection, symbols: list[str], sessions: list[date]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(session × symbol adj_close matrix, symbol × data_source row counts) over `sessions`."""
    matrix = pd.DataFrame(index=pd.Index(sessions, name="date"), columns=symbols, dtype=float)
    if not symbols or not sessions:
        return matrix, pd.DataFrame()
    rows = conn.execute(
        select(MarketDataCache.symbol, MarketDataCache.date, MarketDataCache.adj_close, MarketDataCache.data_source)
        .where(and_(MarketDataCache.symbol.in_(symbols), MarketDataCache.date >= sessions[0],
                    MarketDataCache.date <= sessions[-1]))
    ).all()
    long = pd.DataFrame([tuple(r) for r in rows], columns=["symbol", "date", "adj_close", "data_source"])
    if long.empty:
        return matrix, pd.DataFrame()
    long["adj_close"] = long["adj_close"].map(_num).astype(float)
    wide = long.pivot_table(index="date", columns="symbol", values="adj_close", aggfunc="last")
    matrix = wide.reindex(index=pd.Index(sessions, name="date"), columns=symbols).astype(float)
    sources = long.groupby(["symbol", "data_source"]).size().unstack(fill_value=0)
    return matrix, sources


def price_gaps(conn: Connection, symbols: list[str], start: date, end: date) -> pd.DataFrame:
    cols = ["symbol", "date", "reason"]
    if not symbols:
        return pd.DataFrame(columns=cols)
    rows = conn.execute(
        select(MarketDataGap.symbol, MarketDataGap.date, MarketDataGap.reason)
        .where(MarketDataGap.symbol.in_(symbols), MarketDataGap.date >= start, MarketDataGap.date <= end)
        .order_by(MarketDataGap.symbol, MarketDataGap.date)
    ).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=cols)
