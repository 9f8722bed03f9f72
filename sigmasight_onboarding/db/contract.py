"""The SigmaSight backend's tables: the database contract this pipeline writes into.

The SigmaSight backend (FastAPI, ``../shared/reference/sigmasight-backend``, upstream commit
``003cf139``) serves these tables to the app. Its own Alembic migrations own them in
production (deployment shape **a**); on a fresh database and on the embedded SQLite default we
create them here, identical to what those migrations create (deployment shape **b**) — a test
compares both shapes column by column.

Every name, type, precision, nullability, key, index and enum below mirrors the schema produced
by the backend's migrations at that commit (which differs from its ``app/models`` in a few places,
e.g. ``factor_exposures.exposure_dollar`` is nullable there). Our richer results live in our own
``onb_*`` tables (``db/models.py``); ``db/publish.py`` fills these contract tables from them.

Units follow the backend: money in dollars, prices per share, ``market_data_cache.close`` the
session's (adjusted) close. ``PositionType`` members are stored by name.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    Uuid,
    inspect,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from sigmasight_onboarding.db.base import Base, utcnow
from sigmasight_onboarding.domain import OPTION_TYPES, PositionType  # noqa: F401  (re-exported)

#: The backend commit whose schema this module mirrors.
BACKEND_COMMIT = "003cf139"
#: The backend's newest Alembic revision at that commit (shape a: its `alembic_version`).
BACKEND_ALEMBIC_HEAD = "129ae82e72ca"

JSONB_OR_JSON = JSON().with_variant(JSONB(), "postgresql")


def _pg_default(sql: str) -> dict[str, Any]:
    """A server default the backend's migrations set on PostgreSQL only (SQLite has no
    gen_random_uuid()); applied by `create_contract_schema` after the tables exist."""
    return {"info": {"pg_server_default": sql}}


# PositionType and the option-type set are domain constants (`sigmasight_onboarding/domain.py`).


class TagType(str, enum.Enum):
    REGULAR = "REGULAR"
    STRATEGY = "STRATEGY"


def _ts(nullable: bool = False, **kw: Any) -> Any:
    return mapped_column(DateTime(timezone=True), nullable=nullable, **kw)


def _uuid_fk(target: str, name: str, nullable: bool = False) -> Any:
    """A UUID column referencing ``target`` ("table.id") through the backend's named foreign key."""
    return mapped_column(Uuid, ForeignKey(target, name=name), nullable=nullable)


class _Timestamps:
    """created_at and updated_at, the last columns of most backend tables (``sort_order`` keeps
    them after the table's own columns, in this order)."""

    created_at: Mapped[datetime] = _ts(default=utcnow, sort_order=1)
    updated_at: Mapped[datetime] = _ts(default=utcnow, sort_order=2)


class _SoftDeleted(_Timestamps):
    """The timestamps of a row the backend deletes softly: created_at, updated_at, deleted_at."""

    deleted_at: Mapped[datetime | None] = _ts(nullable=True, sort_order=3)


# --- accounts and positions -----------------------------------------------------------------


class User(_Timestamps, Base):
    __tablename__ = "users"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="pk_users"),
        Index("ix_users_email", "email", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid)
    email: Mapped[str] = mapped_column(String(255), nullable=False)
    hashed_password: Mapped[str] = mapped_column(String(255), nullable=False)
    full_name: Mapped[str] = mapped_column(String(255), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class Portfolio(_SoftDeleted, Base):
    __tablename__ = "portfolios"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="pk_portfolios"),
        UniqueConstraint("user_id", name="uq_portfolios_user_id"),
        Index("ix_portfolios_deleted_at", "deleted_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid)
    user_id: Mapped[uuid.UUID] = _uuid_fk("users.id", "fk_portfolios_user_id_users")
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="USD")


class Position(_SoftDeleted, Base):
    """Quantities are negative for SHORT, SC and SP; options in contracts (× 100 shares)."""

    __tablename__ = "positions"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="pk_positions"),
        Index("ix_positions_portfolio_id", "portfolio_id"),
        Index("ix_positions_symbol", "symbol"),
        Index("ix_positions_deleted_at", "deleted_at"),
        Index("ix_positions_exit_date", "exit_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid)
    portfolio_id: Mapped[uuid.UUID] = _uuid_fk("portfolios.id", "fk_positions_portfolio_id_portfolios")
    symbol: Mapped[str] = mapped_column(String(20), nullable=False)
    position_type: Mapped[PositionType] = mapped_column(
        Enum(PositionType, name="positiontype", create_constraint=False), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Numeric(16, 4), nullable=False)
    entry_price: Mapped[Decimal] = mapped_column(Numeric(12, 4), nullable=False)
    entry_date: Mapped[date] = mapped_column(Date, nullable=False)
    exit_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 4), nullable=True)
    exit_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    underlying_symbol: Mapped[str | None] = mapped_column(String(10), nullable=True)
    strike_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 4), nullable=True)
    expiration_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    last_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 4), nullable=True)
    market_value: Mapped[Decimal | None] = mapped_column(Numeric(16, 2), nullable=True)
    unrealized_pnl: Mapped[Decimal | None] = mapped_column(Numeric(16, 2), nullable=True)
    realized_pnl: Mapped[Decimal | None] = mapped_column(Numeric(16, 2), nullable=True)


class Tag(_Timestamps, Base):
    __tablename__ = "tags"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="pk_tags"),
        Index("ix_tags_user_id_name", "user_id", "name", unique=True),
        Index("ix_tags_tag_type", "tag_type"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid)
    user_id: Mapped[uuid.UUID] = _uuid_fk("users.id", "fk_tags_user_id_users")
    name: Mapped[str] = mapped_column(String(50), nullable=False)
    tag_type: Mapped[TagType] = mapped_column(
        Enum(TagType, name="tagtype", create_constraint=False), nullable=False, default=TagType.REGULAR)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    color: Mapped[str | None] = mapped_column(String(7), nullable=True)


class PositionTag(Base):
    __tablename__ = "position_tags"
    __table_args__ = (
        PrimaryKeyConstraint("position_id", "tag_id", name="pk_position_tags"),
        Index("ix_position_tags_position_id_tag_id", "position_id", "tag_id"),
    )

    position_id: Mapped[uuid.UUID] = _uuid_fk("positions.id", "fk_position_tags_position_id_positions")
    tag_id: Mapped[uuid.UUID] = _uuid_fk("tags.id", "fk_position_tags_tag_id_tags")
    created_at: Mapped[datetime | None] = _ts(nullable=True, default=utcnow)


# --- market data and analytics the backend serves -------------------------------------------


class MarketDataCache(Base):
    """The backend's price table. Its portfolio overview joins positions to it on the symbol
    alone, so it expects ONE current row per symbol: we publish the newest session's close."""

    __tablename__ = "market_data_cache"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="pk_market_data_cache"),
        UniqueConstraint("symbol", "date", name="uq_market_data_cache_symbol_date"),
        Index("ix_market_data_cache_date", "date"),
        Index("ix_market_data_cache_symbol", "symbol"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid)
    symbol: Mapped[str] = mapped_column(String(20), nullable=False)
    date: Mapped[date] = mapped_column(Date, nullable=False)
    open: Mapped[Decimal | None] = mapped_column(Numeric(12, 4), nullable=True)
    high: Mapped[Decimal | None] = mapped_column(Numeric(12, 4), nullable=True)
    low: Mapped[Decimal | None] = mapped_column(Numeric(12, 4), nullable=True)
    close: Mapped[Decimal] = mapped_column(Numeric(12, 4), nullable=False)
    volume: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sector: Mapped[str | None] = mapped_column(String(100), nullable=True)
    industry: Mapped[str | None] = mapped_column(String(100), nullable=True)
    data_source: Mapped[str] = mapped_column(String(50), nullable=False)
    created_at: Mapped[datetime] = _ts(default=utcnow)
    updated_at: Mapped[datetime] = _ts(default=utcnow)
    exchange: Mapped[str | None] = mapped_column(String(20), nullable=True)
    country: Mapped[str | None] = mapped_column(String(10), nullable=True)
    market_cap: Mapped[Decimal | None] = mapped_column(Numeric(18, 2), nullable=True)


class PositionGreeks(_Timestamps, Base):
    """One row per option position (the latest): position Greeks (× quantity × 100)."""

    __tablename__ = "position_greeks"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="pk_position_greeks"),
        UniqueConstraint("position_id", name="uq_position_greeks_position_id"),
        Index("ix_position_greeks_calculation_date", "calculation_date"),
        Index("ix_position_greeks_position_id", "position_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid)
    position_id: Mapped[uuid.UUID] = _uuid_fk("positions.id", "fk_position_greeks_position_id_positions")
    calculation_date: Mapped[date] = mapped_column(Date, nullable=False)
    delta: Mapped[Decimal | None] = mapped_column(Numeric(12, 6), nullable=True)
    gamma: Mapped[Decimal | None] = mapped_column(Numeric(12, 6), nullable=True)
    theta: Mapped[Decimal | None] = mapped_column(Numeric(12, 4), nullable=True)
    vega: Mapped[Decimal | None] = mapped_column(Numeric(12, 4), nullable=True)
    rho: Mapped[Decimal | None] = mapped_column(Numeric(12, 4), nullable=True)
    delta_dollars: Mapped[Decimal | None] = mapped_column(Numeric(16, 2), nullable=True)
    gamma_dollars: Mapped[Decimal | None] = mapped_column(Numeric(16, 2), nullable=True)


class FactorDefinition(Base):
    __tablename__ = "factor_definitions"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="pk_factor_definitions"),
        UniqueConstraint("name", name="uq_factor_definitions_name"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid)
    name: Mapped[str] = mapped_column(String(50), nullable=False)
    description: Mapped[str | None] = mapped_column(String(500), nullable=True)
    factor_type: Mapped[str] = mapped_column(String(20), nullable=False)
    calculation_method: Mapped[str | None] = mapped_column(String(50), nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = _ts(default=utcnow)
    updated_at: Mapped[datetime] = _ts(default=utcnow)
    etf_proxy: Mapped[str | None] = mapped_column(String(10), nullable=True)
    display_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class FactorExposure(_Timestamps, Base):
    __tablename__ = "factor_exposures"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="pk_factor_exposures"),
        UniqueConstraint("portfolio_id", "factor_id", "calculation_date", name="uq_factor_exposures_portfolio_factor_date"),
        Index("ix_factor_exposures_calculation_date", "calculation_date"),
        Index("ix_factor_exposures_portfolio_id_factor_id", "portfolio_id", "factor_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid)
    portfolio_id: Mapped[uuid.UUID] = _uuid_fk("portfolios.id", "fk_factor_exposures_portfolio_id_portfolios")
    factor_id: Mapped[uuid.UUID] = _uuid_fk("factor_definitions.id", "fk_factor_exposures_factor_id_factor_definitions")
    calculation_date: Mapped[date] = mapped_column(Date, nullable=False)
    exposure_value: Mapped[Decimal] = mapped_column(Numeric(12, 6), nullable=False)
    exposure_dollar: Mapped[Decimal | None] = mapped_column(Numeric(16, 2), nullable=True)


class PositionFactorExposure(Base):
    __tablename__ = "position_factor_exposures"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="pk_position_factor_exposures"),
        UniqueConstraint("position_id", "factor_id", "calculation_date", name="uq_position_factor_date"),
        Index("idx_pfe_calculation_date", "calculation_date"),
        Index("idx_pfe_factor_date", "factor_id", "calculation_date"),
        Index("idx_pfe_position_date", "position_id", "calculation_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, **_pg_default("gen_random_uuid()"))
    position_id: Mapped[uuid.UUID] = _uuid_fk("positions.id", "fk_position_factor_exposures_position_id_positions")
    factor_id: Mapped[uuid.UUID] = _uuid_fk(
        "factor_definitions.id", "fk_position_factor_exposures_factor_id_factor_definitions")
    calculation_date: Mapped[date] = mapped_column(Date, nullable=False)
    exposure_value: Mapped[Decimal] = mapped_column(Numeric(12, 6), nullable=False)
    quality_flag: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_at: Mapped[datetime] = _ts(default=utcnow, **_pg_default("now()"))


class PositionInterestRateBeta(Base):
    """ir_beta: the backend's convention is decimal return per +1 percentage point (100 bp)."""

    __tablename__ = "position_interest_rate_betas"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="pk_position_interest_rate_betas"),
        Index("idx_ir_betas_position_date", "position_id", "calculation_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, **_pg_default("gen_random_uuid()"))
    position_id: Mapped[uuid.UUID] = _uuid_fk("positions.id", "fk_position_interest_rate_betas_position_id_positions")
    ir_beta: Mapped[Decimal] = mapped_column(Numeric(8, 6), nullable=False)
    r_squared: Mapped[Decimal | None] = mapped_column(Numeric(6, 4), nullable=True)
    calculation_date: Mapped[date] = mapped_column(Date, nullable=False)
    created_at: Mapped[datetime] = _ts(default=utcnow, **_pg_default("now()"))


class CorrelationCalculation(Base):
    __tablename__ = "correlation_calculations"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="pk_correlation_calculations"),
        UniqueConstraint("portfolio_id", "duration_days", "calculation_date", name="uq_correlation_calculations_portfolio_id"),
        Index("idx_correlation_calculations_portfolio_date", "portfolio_id", "calculation_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, **_pg_default("gen_random_uuid()"))
    portfolio_id: Mapped[uuid.UUID] = _uuid_fk("portfolios.id", "fk_correlation_calculations_portfolio_id_portfolios")
    duration_days: Mapped[int] = mapped_column(Integer, nullable=False)
    calculation_date: Mapped[datetime] = _ts()
    overall_correlation: Mapped[Decimal] = mapped_column(Numeric(8, 6), nullable=False)
    correlation_concentration_score: Mapped[Decimal] = mapped_column(Numeric(8, 6), nullable=False)
    effective_positions: Mapped[Decimal] = mapped_column(Numeric(8, 2), nullable=False)
    data_quality: Mapped[str] = mapped_column(String(20), nullable=False)
    min_position_value: Mapped[Decimal | None] = mapped_column(Numeric(18, 4), nullable=True)
    min_portfolio_weight: Mapped[Decimal | None] = mapped_column(Numeric(8, 6), nullable=True)
    filter_mode: Mapped[str | None] = mapped_column(String(20), nullable=True, **_pg_default("'both'::character varying"))
    correlation_threshold: Mapped[Decimal | None] = mapped_column(Numeric(8, 6), nullable=True, **_pg_default("0.7"))
    positions_included: Mapped[int] = mapped_column(Integer, nullable=False)
    positions_excluded: Mapped[int] = mapped_column(Integer, nullable=False, **_pg_default("0"))
    created_at: Mapped[datetime | None] = _ts(nullable=True, default=utcnow, **_pg_default("now()"))


class CorrelationCluster(Base):
    __tablename__ = "correlation_clusters"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="pk_correlation_clusters"),
        Index("idx_correlation_clusters_calculation", "correlation_calculation_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, **_pg_default("gen_random_uuid()"))
    correlation_calculation_id: Mapped[uuid.UUID] = _uuid_fk(
        "correlation_calculations.id", "fk_correlation_clusters_correlation_calculation_id_corr_40a6")
    cluster_number: Mapped[int] = mapped_column(Integer, nullable=False)
    nickname: Mapped[str] = mapped_column(String(100), nullable=False)
    avg_correlation: Mapped[Decimal] = mapped_column(Numeric(8, 6), nullable=False)
    total_value: Mapped[Decimal] = mapped_column(Numeric(18, 4), nullable=False)
    portfolio_percentage: Mapped[Decimal] = mapped_column(Numeric(8, 6), nullable=False)
    created_at: Mapped[datetime | None] = _ts(nullable=True, default=utcnow, **_pg_default("now()"))


class CorrelationClusterPosition(Base):
    __tablename__ = "correlation_cluster_positions"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="pk_correlation_cluster_positions"),
        Index("idx_cluster_positions_cluster", "cluster_id"),
        Index("idx_cluster_positions_position", "position_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, **_pg_default("gen_random_uuid()"))
    cluster_id: Mapped[uuid.UUID] = _uuid_fk(
        "correlation_clusters.id", "fk_correlation_cluster_positions_cluster_id_correlation_1482")
    position_id: Mapped[uuid.UUID] = _uuid_fk("positions.id", "fk_correlation_cluster_positions_position_id_positions")
    symbol: Mapped[str] = mapped_column(String(20), nullable=False)
    value: Mapped[Decimal] = mapped_column(Numeric(18, 4), nullable=False)
    portfolio_percentage: Mapped[Decimal] = mapped_column(Numeric(8, 6), nullable=False)
    correlation_to_cluster: Mapped[Decimal] = mapped_column(Numeric(8, 6), nullable=False)


class PairwiseCorrelation(Base):
    __tablename__ = "pairwise_correlations"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="pk_pairwise_correlations"),
        Index("idx_pairwise_correlations_calculation", "correlation_calculation_id"),
        Index("idx_pairwise_correlations_calculation_symbols", "correlation_calculation_id", "symbol_1", "symbol_2"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, **_pg_default("gen_random_uuid()"))
    correlation_calculation_id: Mapped[uuid.UUID] = _uuid_fk(
        "correlation_calculations.id", "fk_pairwise_correlations_correlation_calculation_id_cor_fe6e")
    symbol_1: Mapped[str] = mapped_column(String(20), nullable=False)
    symbol_2: Mapped[str] = mapped_column(String(20), nullable=False)
    correlation_value: Mapped[Decimal] = mapped_column(Numeric(8, 6), nullable=False)
    data_points: Mapped[int] = mapped_column(Integer, nullable=False)
    statistical_significance: Mapped[Decimal | None] = mapped_column(Numeric(8, 6), nullable=True)


class PortfolioSnapshot(Base):
    __tablename__ = "portfolio_snapshots"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="pk_portfolio_snapshots"),
        UniqueConstraint("portfolio_id", "snapshot_date", name="uq_portfolio_snapshots_portfolio_date"),
        Index("ix_portfolio_snapshots_portfolio_id", "portfolio_id"),
        Index("ix_portfolio_snapshots_snapshot_date", "snapshot_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid)
    portfolio_id: Mapped[uuid.UUID] = _uuid_fk("portfolios.id", "fk_portfolio_snapshots_portfolio_id_portfolios")
    snapshot_date: Mapped[date] = mapped_column(Date, nullable=False)
    total_value: Mapped[Decimal] = mapped_column(Numeric(16, 2), nullable=False)
    cash_value: Mapped[Decimal] = mapped_column(Numeric(16, 2), nullable=False)
    long_value: Mapped[Decimal] = mapped_column(Numeric(16, 2), nullable=False)
    short_value: Mapped[Decimal] = mapped_column(Numeric(16, 2), nullable=False)
    gross_exposure: Mapped[Decimal] = mapped_column(Numeric(16, 2), nullable=False)
    net_exposure: Mapped[Decimal] = mapped_column(Numeric(16, 2), nullable=False)
    daily_pnl: Mapped[Decimal | None] = mapped_column(Numeric(16, 2), nullable=True)
    daily_return: Mapped[Decimal | None] = mapped_column(Numeric(8, 6), nullable=True)
    cumulative_pnl: Mapped[Decimal | None] = mapped_column(Numeric(16, 2), nullable=True)
    portfolio_delta: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), nullable=True)
    portfolio_gamma: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), nullable=True)
    portfolio_theta: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), nullable=True)
    portfolio_vega: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), nullable=True)
    num_positions: Mapped[int] = mapped_column(Integer, nullable=False)
    num_long_positions: Mapped[int] = mapped_column(Integer, nullable=False)
    num_short_positions: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = _ts(default=utcnow)


class StressTestScenario(_Timestamps, Base):
    __tablename__ = "stress_test_scenarios"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="pk_stress_test_scenarios"),
        UniqueConstraint("scenario_id", name="uq_stress_test_scenarios_scenario_id"),
        Index("idx_stress_scenarios_active", "active"),
        Index("idx_stress_scenarios_category", "category"),
        Index("idx_stress_scenarios_severity", "severity"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid)
    scenario_id: Mapped[str] = mapped_column(String(50), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    category: Mapped[str] = mapped_column(String(50), nullable=False)
    severity: Mapped[str] = mapped_column(String(20), nullable=False)
    shock_config: Mapped[dict[str, Any]] = mapped_column(JSONB_OR_JSON, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class StressTestResult(Base):
    """Signed dollars (negative = loss)."""

    __tablename__ = "stress_test_results"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="pk_stress_test_results"),
        Index("idx_stress_results_calculation_date", "calculation_date"),
        Index("idx_stress_results_portfolio_date", "portfolio_id", "calculation_date"),
        Index("idx_stress_results_scenario", "scenario_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid)
    portfolio_id: Mapped[uuid.UUID] = _uuid_fk("portfolios.id", "fk_stress_test_results_portfolio_id_portfolios")
    scenario_id: Mapped[uuid.UUID] = _uuid_fk(
        "stress_test_scenarios.id", "fk_stress_test_results_scenario_id_stress_test_scenarios")
    calculation_date: Mapped[date] = mapped_column(Date, nullable=False)
    direct_pnl: Mapped[Decimal] = mapped_column(Numeric(16, 2), nullable=False)
    correlated_pnl: Mapped[Decimal] = mapped_column(Numeric(16, 2), nullable=False)
    correlation_effect: Mapped[Decimal] = mapped_column(Numeric(16, 2), nullable=False)
    factor_impacts: Mapped[dict[str, Any] | None] = mapped_column(JSONB_OR_JSON, nullable=True)
    calculation_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSONB_OR_JSON, nullable=True)
    created_at: Mapped[datetime] = _ts(default=utcnow)


class MarketRiskScenario(Base):
    __tablename__ = "market_risk_scenarios"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="pk_market_risk_scenarios"),
        Index("idx_market_risk_portfolio_date", "portfolio_id", "calculation_date"),
        Index("idx_market_risk_scenario_type", "scenario_type"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, **_pg_default("gen_random_uuid()"))
    portfolio_id: Mapped[uuid.UUID] = _uuid_fk("portfolios.id", "fk_market_risk_scenarios_portfolio_id_portfolios")
    scenario_type: Mapped[str] = mapped_column(String(50), nullable=False)
    scenario_value: Mapped[Decimal] = mapped_column(Numeric(8, 6), nullable=False)
    predicted_pnl: Mapped[Decimal] = mapped_column(Numeric(16, 2), nullable=False)
    calculation_date: Mapped[date] = mapped_column(Date, nullable=False)
    created_at: Mapped[datetime] = _ts(default=utcnow, **_pg_default("now()"))


class FactorCorrelation(Base):
    __tablename__ = "factor_correlations"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="pk_factor_correlations"),
        UniqueConstraint("factor_1_id", "factor_2_id", "calculation_date", name="uq_factor_correlations_factors_date"),
        Index("idx_factor_correlations_date", "calculation_date"),
        Index("idx_factor_correlations_factors", "factor_1_id", "factor_2_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid)
    factor_1_id: Mapped[uuid.UUID] = _uuid_fk("factor_definitions.id", "fk_factor_correlations_factor_1_id_factor_definitions")
    factor_2_id: Mapped[uuid.UUID] = _uuid_fk("factor_definitions.id", "fk_factor_correlations_factor_2_id_factor_definitions")
    correlation: Mapped[Decimal] = mapped_column(Numeric(8, 6), nullable=False)
    calculation_date: Mapped[date] = mapped_column(Date, nullable=False)
    lookback_days: Mapped[int] = mapped_column(Integer, nullable=False)
    decay_factor: Mapped[Decimal] = mapped_column(Numeric(4, 3), nullable=False)
    data_points: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = _ts(default=utcnow)


CONTRACT_MODELS = (
    User, Portfolio, Position, Tag, PositionTag, MarketDataCache, PositionGreeks, FactorDefinition,
    FactorExposure, PositionFactorExposure, PositionInterestRateBeta, CorrelationCalculation,
    CorrelationCluster, CorrelationClusterPosition, PairwiseCorrelation, PortfolioSnapshot,
    StressTestScenario, StressTestResult, MarketRiskScenario, FactorCorrelation,
)
CONTRACT_TABLES = tuple(m.__table__ for m in CONTRACT_MODELS)
CONTRACT_TABLE_NAMES = frozenset(t.name for t in CONTRACT_TABLES)


# --- the backend's reference rows (what its `app/db/seed_factors.py` seeds) ------------------

#: (name, description, factor_type, calculation_method, etf_proxy, display_order); all active.
#: Ours map onto these by ETF proxy (see `analytics.factors.BACKEND_FACTOR_BY_OURS`).
BACKEND_FACTORS = (
    ("Market Beta", "Sensitivity to overall market movements (S&P 500)", "style", "rolling_regression", "SPY", 0),
    ("Momentum", "12-month price momentum excluding most recent month", "style", "price_momentum", "MTUM", 1),
    ("Value", "Exposure to value stocks (low P/B, P/E ratios)", "style", "fundamental_ratios", "VTV", 2),
    ("Growth", "Exposure to growth stocks (high earnings growth)", "style", "earnings_growth", "VUG", 3),
    ("Quality", "Exposure to high-quality companies (high ROE, low debt)", "style", "quality_metrics", "QUAL", 4),
    ("Size", "Exposure to small-cap vs large-cap stocks", "style", "market_cap", "SIZE", 5),
    ("Low Volatility", "Exposure to low volatility stocks", "style", "realized_volatility", "USMV", 6),
    ("Short Interest", "Exposure to heavily shorted stocks", "style", "short_interest_ratio", None, 7),
)


def seed_backend_factors(conn: Connection) -> int:
    """Insert the backend's factor definitions that are missing (by name); returns rows added."""
    have = set(conn.execute(select(FactorDefinition.name)).scalars())
    now = datetime.now(timezone.utc)
    rows = [
        {"id": uuid.uuid4(), "name": n, "description": d, "factor_type": t, "calculation_method": m,
         "etf_proxy": e, "display_order": o, "is_active": True, "created_at": now, "updated_at": now}
        for n, d, t, m, e, o in BACKEND_FACTORS if n not in have
    ]
    if rows:
        conn.execute(insert(FactorDefinition), rows)
    return len(rows)


def create_contract_schema(conn: Connection) -> list[str]:
    """Shape b: create the contract tables that do not exist yet (all or none in practice),
    with the backend's PostgreSQL server defaults, and seed its factor definitions.

    Shape a (the backend's migrations ran first) finds every table and creates nothing.
    Returns the names of the tables created.
    """
    existing = set(inspect(conn).get_table_names())
    missing = [t for t in CONTRACT_TABLES if t.name not in existing]
    if not missing:
        seed_backend_factors(conn)
        return []
    Base.metadata.create_all(conn, tables=missing)
    if conn.dialect.name == "postgresql":
        for table in missing:
            for column in table.columns:
                default = column.info.get("pg_server_default")
                if default:
                    conn.execute(text(f'ALTER TABLE "{table.name}" ALTER COLUMN "{column.name}" SET DEFAULT {default}'))
    seed_backend_factors(conn)
    return [t.name for t in missing]
