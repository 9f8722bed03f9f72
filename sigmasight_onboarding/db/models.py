"""SQLAlchemy 2 typed models of our own tables (`onb_*`); the backend's tables are in `contract.py`.

Money columns are dollars (Numeric); quantities are shares or option contracts (one contract =
100 shares); quantities are negative for SHORT, SC and SP positions.
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
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy import Index, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


# The backend's tables (users … position_tags and the analytics tables it serves) are the
# contract: `db/contract.py`. Everything below is ours, prefixed `onb_`.
from sigmasight_onboarding.db.base import Base, utcnow  # noqa: E402
from sigmasight_onboarding.db.contract import (  # noqa: E402,F401  (re-exported)
    OPTION_TYPES,
    Portfolio,
    Position,
    PositionTag,
    PositionType,
    Tag,
    TagType,
    User,
)


def _serial_id(**kw: Any) -> Any:
    """Our tables' surrogate key: an autoincrementing integer."""
    return mapped_column(Integer, primary_key=True, autoincrement=True, **kw)


def _cascade_fk(target: str, index: bool = True, **kw: Any) -> Any:
    """A reference to ``target`` ("table.id"); the row is deleted with the row it refers to. Indexed unless
    ``index=False``: where the table's unique constraint leads with this column, its index already serves every
    lookup and cascade by it, and a second B-tree would only cost each insert (migration 0011)."""
    return mapped_column(ForeignKey(target, ondelete="CASCADE"), index=index, **kw)


def _stamp(**kw: Any) -> Any:
    """A UTC timestamp set when the row is written (created_at, fetched_at, …)."""
    return mapped_column(DateTime(timezone=True), default=utcnow, **kw)


class _PortfolioDay:
    """The columns every row about one portfolio on one calculation date starts and ends with:
    id, portfolio_id, calculation_date, then the table's own columns, then created_at
    (``sort_order`` puts the head first; a mixin's unsorted columns follow the table's own)."""

    id: Mapped[int] = _serial_id(sort_order=-10)
    portfolio_id: Mapped[uuid.UUID] = _cascade_fk("portfolios.id", index=False, sort_order=-2)  # unique (portfolio_id, date)
    calculation_date: Mapped[date] = mapped_column(Date, sort_order=-1)
    created_at: Mapped[datetime] = _stamp()


class _PositionDay(_PortfolioDay):
    """A row about one position (of its portfolio) on one calculation date:
    id, position_id, portfolio_id, calculation_date, … created_at."""

    position_id: Mapped[uuid.UUID] = _cascade_fk("positions.id", index=False, sort_order=-3)  # unique (position_id, date)
    portfolio_id: Mapped[uuid.UUID] = _cascade_fk("portfolios.id", sort_order=-2)  # not leading any key here: indexed


class OnboardingAuditLog(Base):
    """Who/what/when/outcome of every onboarding attempt. `details` never holds a password."""

    __tablename__ = "onb_audit_log"

    id: Mapped[int] = _serial_id()
    at: Mapped[datetime] = _stamp(index=True)
    client_email: Mapped[str] = mapped_column(String(255), index=True)
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(255), nullable=True)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class MarketDataCache(Base):
    """Daily prices shared by all clients: one row per (symbol, date).

    Prices in dollars (yields such as ^TNX in percent); `data_source` says where the row came
    from: 'fmp', 'polygon', 'file' or 'synthetic'.
    """

    __tablename__ = "onb_prices"
    # Keyed by (symbol, date) itself (migration 0009): one B-tree per row written instead of a
    # surrogate id, its sequence and a unique index; on SQLite a WITHOUT ROWID table, so a symbol's
    # window is one contiguous range of the table.
    # ix_onb_prices_synthetic: a partial index holding only the (normally no) synthetic rows, so the
    # matrix read finds them with one index probe per symbol instead of testing every row's label.
    __table_args__ = (
        PrimaryKeyConstraint("symbol", "date", name="pk_onb_prices"),
        Index("ix_onb_prices_synthetic", "symbol", "date", sqlite_where=text("data_source = 'synthetic'"),
              postgresql_where=text("data_source = 'synthetic'")),
        {"sqlite_with_rowid": False},
    )

    symbol: Mapped[str] = mapped_column(String(64))
    date: Mapped[date] = mapped_column(Date)
    open: Mapped[float | None] = mapped_column(Float, nullable=True)
    high: Mapped[float | None] = mapped_column(Float, nullable=True)
    low: Mapped[float | None] = mapped_column(Float, nullable=True)
    close: Mapped[float | None] = mapped_column(Float, nullable=True)
    adj_close: Mapped[float] = mapped_column(Float)
    volume: Mapped[float | None] = mapped_column(Float, nullable=True)
    data_source: Mapped[str] = mapped_column(String(16))
    # the server stamps rows a bulk COPY leaves it to (PostgreSQL parses no timestamp per row)
    fetched_at: Mapped[datetime] = _stamp(server_default=func.now())


class MarketDataGap(Base):
    """A session that a fetch asked for and no provider had (IPO, delisting, holiday in the feed).

    Remembered so a second run does not ask again; `reason` says which providers were asked.
    """

    __tablename__ = "onb_price_gaps"
    __table_args__ = (UniqueConstraint("symbol", "date", name="uq_onb_market_data_gaps_symbol_date"),)

    id: Mapped[int] = _serial_id()
    symbol: Mapped[str] = mapped_column(String(64))
    date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(255))
    checked_at: Mapped[datetime] = _stamp()


# --- position analytics (SigmaSight table names); rows keyed by calculation_date ---------------


class PositionGreeks(_PositionDay, Base):
    """Black–Scholes–Merton Greeks of one option position on one date.

    Per contract (per share of underlying): unit_price ($), delta, gamma (per $1), theta ($ per
    calendar day), vega ($ per 1 vol point), rho ($ per 1 % rate). Position columns are × quantity
    × 100. delta_dollars = position_delta × spot; gamma_dollars = 0.5 × position_gamma × (spot × 1 %)²
    (dollar P&L from gamma for a 1 % underlying move).
    """

    __tablename__ = "onb_position_greeks"
    __table_args__ = (UniqueConstraint("position_id", "calculation_date", name="uq_onb_position_greeks_position_date"),)

    underlying_price: Mapped[float] = mapped_column(Float)
    implied_volatility: Mapped[float] = mapped_column(Float)
    volatility_source: Mapped[str] = mapped_column(String(32))
    risk_free_rate: Mapped[float] = mapped_column(Float)
    time_to_expiry_years: Mapped[float] = mapped_column(Float)
    is_expired: Mapped[bool] = mapped_column(Boolean)
    price_source: Mapped[str] = mapped_column(String(16))  # 'market' or 'model'
    unit_price: Mapped[float] = mapped_column(Float)
    delta: Mapped[float] = mapped_column(Float)
    gamma: Mapped[float] = mapped_column(Float)
    theta: Mapped[float] = mapped_column(Float)
    vega: Mapped[float] = mapped_column(Float)
    rho: Mapped[float] = mapped_column(Float)
    position_value: Mapped[float] = mapped_column(Float)
    position_delta: Mapped[float] = mapped_column(Float)
    position_gamma: Mapped[float] = mapped_column(Float)
    position_theta: Mapped[float] = mapped_column(Float)
    position_vega: Mapped[float] = mapped_column(Float)
    position_rho: Mapped[float] = mapped_column(Float)
    delta_dollars: Mapped[float] = mapped_column(Float)
    gamma_dollars: Mapped[float] = mapped_column(Float)
    # continuous dividend yield q used in Black–Scholes–Merton (decimal, annual) and where it came from
    dividend_yield: Mapped[float | None] = mapped_column(Float, nullable=True)
    dividend_yield_source: Mapped[str | None] = mapped_column(String(32), nullable=True)


class FactorDefinition(Base):
    __tablename__ = "onb_factor_definitions"

    id: Mapped[int] = _serial_id()
    name: Mapped[str] = mapped_column(String(64), unique=True)
    etf_proxy: Mapped[str] = mapped_column(String(16))
    factor_type: Mapped[str] = mapped_column(String(16))  # 'market' or 'style'
    description: Mapped[str] = mapped_column(Text)
    display_order: Mapped[int] = mapped_column(Integer)


class PositionFactorExposure(Base):
    """Beta of one position to one factor. model: 'single' (univariate OLS on the ETF) or
    'multivariate' (joint: SPY + style spreads over SPY). Options carry their underlying's beta."""

    __tablename__ = "onb_position_factor_exposures"
    __table_args__ = (
        UniqueConstraint("position_id", "factor_id", "calculation_date", "model", name="uq_onb_position_factor_exposures"),
    )

    id: Mapped[int] = _serial_id()
    position_id: Mapped[uuid.UUID] = _cascade_fk("positions.id", index=False)  # leads the unique key
    portfolio_id: Mapped[uuid.UUID] = _cascade_fk("portfolios.id")
    factor_id: Mapped[int] = mapped_column(ForeignKey("onb_factor_definitions.id"))
    calculation_date: Mapped[date] = mapped_column(Date)
    model: Mapped[str] = mapped_column(String(16))
    exposure_value: Mapped[float | None] = mapped_column(Float, nullable=True)  # beta; NULL when not estimable
    t_stat: Mapped[float | None] = mapped_column(Float, nullable=True)
    r_squared: Mapped[float | None] = mapped_column(Float, nullable=True)
    n_obs: Mapped[int] = mapped_column(Integer)
    quality_flag: Mapped[str] = mapped_column(String(32))
    extreme_beta: Mapped[bool] = mapped_column(Boolean)
    exposure_dollars: Mapped[float | None] = mapped_column(Float, nullable=True)  # position exposure × beta
    created_at: Mapped[datetime] = _stamp()


class FactorExposure(Base):
    """Portfolio exposure to one factor: dollars (Σ exposure × beta) and betas vs gross and net."""

    __tablename__ = "onb_factor_exposures"
    __table_args__ = (
        UniqueConstraint("portfolio_id", "factor_id", "calculation_date", "model", name="uq_onb_factor_exposures"),
    )

    id: Mapped[int] = _serial_id()
    portfolio_id: Mapped[uuid.UUID] = _cascade_fk("portfolios.id", index=False)  # leads the unique key
    factor_id: Mapped[int] = mapped_column(ForeignKey("onb_factor_definitions.id"))
    calculation_date: Mapped[date] = mapped_column(Date)
    model: Mapped[str] = mapped_column(String(16))
    exposure_value: Mapped[float] = mapped_column(Float)  # beta relative to gross exposure
    exposure_dollar: Mapped[float] = mapped_column(Float)
    beta_gross: Mapped[float] = mapped_column(Float)
    beta_net: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = _stamp()


class PositionInterestRateBeta(_PositionDay, Base):
    """Sensitivity to the 10-year yield: rate_beta = decimal return per +1 bp of ^TNX."""

    __tablename__ = "onb_position_interest_rate_betas"
    __table_args__ = (UniqueConstraint("position_id", "calculation_date", name="uq_onb_position_ir_betas"),)

    rate_beta: Mapped[float | None] = mapped_column(Float, nullable=True)
    r_squared: Mapped[float | None] = mapped_column(Float, nullable=True)
    t_stat: Mapped[float | None] = mapped_column(Float, nullable=True)
    n_obs: Mapped[int] = mapped_column(Integer)
    quality_flag: Mapped[str] = mapped_column(String(32))
    tlt_beta: Mapped[float | None] = mapped_column(Float, nullable=True)
    tlt_r_squared: Mapped[float | None] = mapped_column(Float, nullable=True)
    exposure_dollars: Mapped[float | None] = mapped_column(Float, nullable=True)
    pnl_up_100bp: Mapped[float | None] = mapped_column(Float, nullable=True)  # dollars for +100 bp, delta approximation
    # |t| < 2 (or no t): the beta is not distinguishable from 0; shock P&L resting on it is flagged
    low_significance: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # +100 bp with options fully repriced (underlying moved by its rate beta, rate input +1 %): the stress treatment
    pnl_up_100bp_repriced: Mapped[float | None] = mapped_column(Float, nullable=True)


class PositionExposure(_PositionDay, Base):
    """Desk exposure of one position: share_delta (shares of the underlying: quantity for stock, delta × contracts
    × 100 for options), dollar_delta (share_delta × underlying spot; = market value for stock), market_beta
    (single-factor SPY beta of the underlying) and beta_adjusted_dollar_delta = dollar_delta × market_beta."""

    __tablename__ = "onb_position_exposures"
    __table_args__ = (UniqueConstraint("position_id", "calculation_date", name="uq_onb_position_exposures"),)

    underlying_symbol: Mapped[str] = mapped_column(String(64))
    share_delta: Mapped[float | None] = mapped_column(Float, nullable=True)
    dollar_delta: Mapped[float | None] = mapped_column(Float, nullable=True)
    market_beta: Mapped[float | None] = mapped_column(Float, nullable=True)
    beta_adjusted_dollar_delta: Mapped[float | None] = mapped_column(Float, nullable=True)


class PortfolioExposure(_PortfolioDay, Base):
    """Portfolio desk exposure (dollars): long/short dollar delta, delta-adjusted gross (Σ|dollar delta|) and net
    (Σ dollar delta), beta-adjusted gross and net (with the single-factor SPY beta; positions without a beta
    count 0 and are counted)."""

    __tablename__ = "onb_portfolio_exposures"
    __table_args__ = (UniqueConstraint("portfolio_id", "calculation_date", name="uq_onb_portfolio_exposures"),)

    long_dollar_delta: Mapped[float] = mapped_column(Float)
    short_dollar_delta: Mapped[float] = mapped_column(Float)
    delta_adjusted_gross: Mapped[float] = mapped_column(Float)
    delta_adjusted_net: Mapped[float] = mapped_column(Float)
    beta_adjusted_gross: Mapped[float] = mapped_column(Float)
    beta_adjusted_net: Mapped[float] = mapped_column(Float)
    n_positions_missing_beta: Mapped[int] = mapped_column(Integer)


class PositionPnlExplain(_PositionDay, Base):
    """Daily P&L explanation of one position between previous_date and calculation_date (dollars):
    pnl = value_current − value_previous = delta_pnl + gamma_pnl + vega_pnl + theta_pnl + rates_pnl + residual
    (exactly; ``analytics/pnl_explain.py``)."""

    __tablename__ = "onb_position_pnl_explain"
    __table_args__ = (UniqueConstraint("position_id", "calculation_date", name="uq_onb_position_pnl_explain"),)

    previous_date: Mapped[date] = mapped_column(Date)
    value_previous: Mapped[float] = mapped_column(Float)
    value_current: Mapped[float] = mapped_column(Float)
    pnl: Mapped[float] = mapped_column(Float)
    delta_pnl: Mapped[float] = mapped_column(Float)
    gamma_pnl: Mapped[float] = mapped_column(Float)
    vega_pnl: Mapped[float] = mapped_column(Float)
    theta_pnl: Mapped[float] = mapped_column(Float)
    rates_pnl: Mapped[float] = mapped_column(Float)
    residual: Mapped[float] = mapped_column(Float)


class CorrelationCalculation(Base):
    __tablename__ = "onb_correlation_calculations"
    __table_args__ = (UniqueConstraint("portfolio_id", "calculation_date", name="uq_onb_correlation_calculations"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    portfolio_id: Mapped[uuid.UUID] = _cascade_fk("portfolios.id", index=False)  # leads the unique key
    calculation_date: Mapped[date] = mapped_column(Date)
    duration_days: Mapped[int] = mapped_column(Integer)
    min_overlap: Mapped[int] = mapped_column(Integer)
    overall_correlation: Mapped[float | None] = mapped_column(Float, nullable=True)
    correlation_concentration_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    effective_positions: Mapped[float | None] = mapped_column(Float, nullable=True)
    positions_included: Mapped[int] = mapped_column(Integer)
    positions_excluded: Mapped[int] = mapped_column(Integer)
    excluded: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = _stamp()


class PairwiseCorrelation(Base):
    """One pair (symbol_1 < symbol_2) of the filtered set: Pearson ρ of log returns and its p-value."""

    __tablename__ = "onb_pairwise_correlations"

    id: Mapped[int] = _serial_id()
    correlation_calculation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("onb_correlation_calculations.id", ondelete="CASCADE"), index=True
    )
    symbol_1: Mapped[str] = mapped_column(String(64))
    symbol_2: Mapped[str] = mapped_column(String(64))
    correlation_value: Mapped[float] = mapped_column(Float)
    data_points: Mapped[int] = mapped_column(Integer)
    p_value: Mapped[float] = mapped_column(Float)


class CorrelationCluster(Base):
    __tablename__ = "onb_correlation_clusters"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    correlation_calculation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("onb_correlation_calculations.id", ondelete="CASCADE"), index=True
    )
    cluster_number: Mapped[int] = mapped_column(Integer)
    nickname: Mapped[str] = mapped_column(String(255))
    avg_correlation: Mapped[float] = mapped_column(Float)
    total_value: Mapped[float] = mapped_column(Float)
    portfolio_percentage: Mapped[float] = mapped_column(Float)


class CorrelationClusterPosition(Base):
    __tablename__ = "onb_correlation_cluster_positions"

    id: Mapped[int] = _serial_id()
    cluster_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("onb_correlation_clusters.id", ondelete="CASCADE"), index=True)
    position_id: Mapped[uuid.UUID] = _cascade_fk("positions.id")  # indexed: deleting a position finds its rows here
    symbol: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    portfolio_percentage: Mapped[float] = mapped_column(Float)


# --- portfolio time series (client × date partitions) -----------------------------------------


class PortfolioSnapshot(Base):
    """End-of-day state of a portfolio (dollars unless stated). short_value is negative;
    daily_return = daily_pnl / previous session's gross exposure (decimal); gamma in shares per $1,
    theta $/calendar day, vega $/vol point.

    Every session is valued with its own marks (price, realised vol window ending on it, rate, time to
    expiry), so daily_pnl = total_value − previous session's total_value exactly when no position enters
    that session; a position entering adds its P&L since its entry price (mv − quantity × multiplier ×
    entry price: a trade, not market P&L), so then Δ total_value = daily_pnl + capital of the entering
    positions. cumulative_pnl − previous cumulative_pnl = daily_pnl on every session. The P&L of the
    positions held over the night is explained per position in onb_position_pnl_explain.

    portfolio_delta: share-equivalents (stocks: quantity, options: contracts × 100 × Δ) summed ACROSS
    underlyings — kept because the backend's portfolio_snapshots has the column; it is not a desk figure
    (use dollar delta / beta-adjusted dollar delta of onb_portfolio_exposures; share delta only per underlying)."""

    __tablename__ = "onb_portfolio_snapshots"
    __table_args__ = (UniqueConstraint("portfolio_id", "snapshot_date", name="uq_onb_portfolio_snapshots"),)

    id: Mapped[int] = _serial_id()
    portfolio_id: Mapped[uuid.UUID] = _cascade_fk("portfolios.id", index=False)  # leads the unique key
    snapshot_date: Mapped[date] = mapped_column(Date)
    total_value: Mapped[float] = mapped_column(Float)
    cash_value: Mapped[float] = mapped_column(Float, default=0.0)
    long_value: Mapped[float] = mapped_column(Float)
    short_value: Mapped[float] = mapped_column(Float)
    gross_exposure: Mapped[float] = mapped_column(Float)
    net_exposure: Mapped[float] = mapped_column(Float)
    daily_pnl: Mapped[float | None] = mapped_column(Float, nullable=True)
    daily_return: Mapped[float | None] = mapped_column(Float, nullable=True)
    cumulative_pnl: Mapped[float] = mapped_column(Float)
    portfolio_delta: Mapped[float] = mapped_column(Float)
    portfolio_gamma: Mapped[float] = mapped_column(Float)
    portfolio_theta: Mapped[float] = mapped_column(Float)
    portfolio_vega: Mapped[float] = mapped_column(Float)
    num_positions: Mapped[int] = mapped_column(Integer)
    num_long_positions: Mapped[int] = mapped_column(Integer)
    num_short_positions: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = _stamp()


class PortfolioRiskMetrics(_PortfolioDay, Base):
    """Risk of the current positions as of a date. VaR/ES are positive dollar losses; 1-day unless
    `_10d` (= 1-day × √10). Volatility annualised (decimal); max_drawdown decimal, positive."""

    __tablename__ = "onb_portfolio_risk_metrics"
    __table_args__ = (UniqueConstraint("portfolio_id", "calculation_date", name="uq_onb_portfolio_risk_metrics"),)

    quality_flag: Mapped[str] = mapped_column(String(32))
    n_observations: Mapped[int] = mapped_column(Integer)
    lookback_sessions: Mapped[int] = mapped_column(Integer)
    gross_exposure: Mapped[float | None] = mapped_column(Float, nullable=True)
    net_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    var_95_historical: Mapped[float | None] = mapped_column(Float, nullable=True)
    var_99_historical: Mapped[float | None] = mapped_column(Float, nullable=True)
    var_95_parametric: Mapped[float | None] = mapped_column(Float, nullable=True)
    var_99_parametric: Mapped[float | None] = mapped_column(Float, nullable=True)
    var_95_monte_carlo: Mapped[float | None] = mapped_column(Float, nullable=True)
    var_99_monte_carlo: Mapped[float | None] = mapped_column(Float, nullable=True)
    var_95_historical_10d: Mapped[float | None] = mapped_column(Float, nullable=True)
    var_99_historical_10d: Mapped[float | None] = mapped_column(Float, nullable=True)
    es_975_historical: Mapped[float | None] = mapped_column(Float, nullable=True)
    es_975_parametric: Mapped[float | None] = mapped_column(Float, nullable=True)
    es_975_monte_carlo: Mapped[float | None] = mapped_column(Float, nullable=True)
    annualised_volatility: Mapped[float | None] = mapped_column(Float, nullable=True)
    beta_spy: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_drawdown: Mapped[float | None] = mapped_column(Float, nullable=True)
    sharpe_ratio: Mapped[float | None] = mapped_column(Float, nullable=True)
    sortino_ratio: Mapped[float | None] = mapped_column(Float, nullable=True)
    backtest_exceedances_95: Mapped[int | None] = mapped_column(Integer, nullable=True)
    backtest_exceedances_99: Mapped[int | None] = mapped_column(Integer, nullable=True)
    backtest_sessions: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kupiec_p_95: Mapped[float | None] = mapped_column(Float, nullable=True)
    kupiec_p_99: Mapped[float | None] = mapped_column(Float, nullable=True)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # contributions, all ES levels


class StressTestScenario(Base):
    __tablename__ = "onb_stress_test_scenarios"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    category: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))  # 'scenario_file' or 'historical_replay'
    file_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = _stamp()


class StressTestResult(Base):
    """Portfolio P&L (dollars, signed: negative = loss) of one scenario on one date; no caps."""

    __tablename__ = "onb_stress_test_results"
    __table_args__ = (
        UniqueConstraint("portfolio_id", "calculation_date", "scenario_id", name="uq_onb_stress_test_results"),
    )

    id: Mapped[int] = _serial_id()
    portfolio_id: Mapped[uuid.UUID] = _cascade_fk("portfolios.id", index=False)  # leads the unique key
    scenario_id: Mapped[str] = mapped_column(ForeignKey("onb_stress_test_scenarios.id"))
    calculation_date: Mapped[date] = mapped_column(Date)
    portfolio_pnl: Mapped[float] = mapped_column(Float)
    pnl_pct_gross: Mapped[float | None] = mapped_column(Float, nullable=True)
    pnl_pct_net: Mapped[float | None] = mapped_column(Float, nullable=True)
    gross_exposure: Mapped[float] = mapped_column(Float)
    net_value: Mapped[float] = mapped_column(Float)
    position_pnl: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # symbol -> dollars
    created_at: Mapped[datetime] = _stamp()


class OnboardingVerification(Base):
    """One run of the end-to-end verification of a client (checks as a JSON list)."""

    __tablename__ = "onb_verifications"

    id: Mapped[int] = _serial_id()
    portfolio_id: Mapped[uuid.UUID] = _cascade_fk("portfolios.id")
    client_email: Mapped[str] = mapped_column(String(255))
    as_of: Mapped[date] = mapped_column(Date)
    verified_at: Mapped[datetime] = _stamp()
    source: Mapped[str] = mapped_column(String(32))  # 'dagster' or 'cli'
    passed: Mapped[bool] = mapped_column(Boolean)
    checks: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
