"""Reads of one client's portfolio used by the analytics assets."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, select

from sigmasight_onboarding.db.bulk import read_columns
from sigmasight_onboarding.db.models import Portfolio, Position, PositionTag, Tag, User
from sigmasight_onboarding.domain import is_option_type  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class ClientPortfolio:
    email: str
    user_id: uuid.UUID
    portfolio_id: uuid.UUID


class UnknownClient(LookupError):
    pass


def client_emails(engine: Engine) -> list[str]:
    """Every client (user) in the SigmaSight database, by email."""
    with engine.connect() as conn:
        return sorted(conn.execute(select(User.email)).scalars())


def client_portfolio(engine: Engine, email: str) -> ClientPortfolio:
    with engine.connect() as conn:
        row = conn.execute(
            select(User.id, Portfolio.id).join(Portfolio, Portfolio.user_id == User.id).where(User.email == email.lower())
        ).first()
    if row is None:
        raise UnknownClient(f"client {email!r} has no user/portfolio in the SigmaSight database; onboard it first")
    return ClientPortfolio(email=email.lower(), user_id=row[0], portfolio_id=row[1])


def active_positions_frame(engine: Engine, portfolio_id) -> pd.DataFrame:
    """Active positions as a frame indexed by position id (floats for numbers, enums as text).

    Columns: symbol, position_type, quantity (signed shares/contracts), entry_price ($),
    entry_date, underlying_symbol, strike (=$ strike_price), expiration_date, tags (list).
    """
    names = ["id", "symbol", "position_type", "quantity", "entry_price", "entry_date", "underlying_symbol", "strike",
             "expiration_date"]
    with engine.connect() as conn:
        columns = read_columns(conn,
            select(
                Position.id, Position.symbol, Position.position_type, Position.quantity, Position.entry_price,
                Position.entry_date, Position.underlying_symbol, Position.strike_price, Position.expiration_date,
            ).where(Position.portfolio_id == portfolio_id, Position.deleted_at.is_(None)).order_by(Position.symbol)
        )
        tags = tag_names_by_position(conn, portfolio_id)
    frame = pd.DataFrame(dict(zip(names, columns)), columns=names).set_index("id")
    frame["position_type"] = frame["position_type"].map(lambda t: getattr(t, "value", t))
    for col in ("quantity", "entry_price", "strike"):
        frame[col] = pd.to_numeric(frame[col].astype(object), errors="coerce").astype(float)
    frame["tags"] = [tags.get(pid, []) for pid in frame.index]
    return frame


def tag_names_by_position(conn, portfolio_id) -> dict:
    """{position id: sorted tag names} for the positions of a portfolio that have tags."""
    position_ids, names = read_columns(conn,
        select(PositionTag.position_id, Tag.name)
        .join(Tag, Tag.id == PositionTag.tag_id)
        .join(Position, Position.id == PositionTag.position_id)
        .where(Position.portfolio_id == portfolio_id)
    )
    tags: dict = {}
    for pid, name in zip(position_ids, names):
        tags.setdefault(pid, []).append(name)
    return {pid: sorted(names) for pid, names in tags.items()}


def price_symbols(positions: pd.DataFrame) -> list[str]:
    """Symbols whose prices the portfolio needs: equities and option underlyings."""
    opt = is_option_type(positions["position_type"])
    syms = set(positions.loc[~opt, "symbol"]) | set(positions.loc[opt, "underlying_symbol"].dropna())
    return sorted(syms)
