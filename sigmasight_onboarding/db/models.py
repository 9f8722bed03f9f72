"""SQLAlchemy 2 typed models. Table and column names follow the SigmaSight backend.

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
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class PositionType(str, enum.Enum):
    LONG = "LONG"  # long stock / ETF
    SHORT = "SHORT"  # short stock / ETF
    LC = "LC"  # long call
    LP = "LP"  # long put
    SC = "SC"  # short call
    SP = "SP"  # short put

    @property
    def is_option(self) -> bool:
        return self in (PositionType.LC, PositionType.LP, PositionType.SC, PositionType.SP)

    @property
    def is_short(self) -> bool:
        return self in (PositionType.SHORT, PositionType.SC, PositionType.SP)

    @property
    def is_call(self) -> bool:
        return self in (PositionType.LC, PositionType.SC)


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    full_name: Mapped[str] = mapped_column(String(255))
    hashed_password: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Portfolio(Base):
    __tablename__ = "portfolios"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Position(Base):
    __tablename__ = "positions"
    __table_args__ = (UniqueConstraint("portfolio_id", "symbol", name="uq_positions_portfolio_symbol"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    portfolio_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("portfolios.id", ondelete="CASCADE"), index=True)
    symbol: Mapped[str] = mapped_column(String(64))
    position_type: Mapped[PositionType] = mapped_column(Enum(PositionType, name="positiontype"))
    quantity: Mapped[Decimal] = mapped_column(Numeric(16, 4))
    entry_price: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    entry_date: Mapped[date] = mapped_column(Date)
    exit_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 4), nullable=True)
    exit_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    underlying_symbol: Mapped[str | None] = mapped_column(String(32), nullable=True)
    strike_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 4), nullable=True)
    expiration_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    last_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 4), nullable=True)
    market_value: Mapped[Decimal | None] = mapped_column(Numeric(16, 2), nullable=True)
    unrealized_pnl: Mapped[Decimal | None] = mapped_column(Numeric(16, 2), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_tags_user_name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PositionTag(Base):
    __tablename__ = "position_tags"

    position_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("positions.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)


class OnboardingAuditLog(Base):
    """Who/what/when/outcome of every onboarding attempt. `details` never holds a password."""

    __tablename__ = "onboarding_audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
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

    __tablename__ = "market_data_cache"
    __table_args__ = (UniqueConstraint("symbol", "date", name="uq_market_data_symbol_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(64))
    date: Mapped[date] = mapped_column(Date)
    open: Mapped[float | None] = mapped_column(Float, nullable=True)
    high: Mapped[float | None] = mapped_column(Float, nullable=True)
    low: Mapped[float | None] = mapped_column(Float, nullable=True)
    close: Mapped[float | None] = mapped_column(Float, nullable=True)
    adj_close: Mapped[float] = mapped_column(Float)
    volume: Mapped[float | None] = mapped_column(Float, nullable=True)
    data_source: Mapped[str] = mapped_column(String(16))
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


Index("ix_market_data_date", MarketDataCache.date)


class MarketDataGap(Base):
    """A session that a fetch asked for and no provider had (IPO, delisting, holiday in the feed).

    Remembered so a second run does not ask again; `reason` says which providers were asked.
    """

    __tablename__ = "market_data_gaps"
    __table_args__ = (UniqueConstraint("symbol", "date", name="uq_market_data_gaps_symbol_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(64))
    date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(255))
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
