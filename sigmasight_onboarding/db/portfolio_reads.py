"""Reads of one client's portfolio used by the analytics assets."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, func, select

from sigmasight_onboarding.db.bulk import read_columns
from sigmasight_onboarding.db.models import OnboardingAuditLog, Portfolio, Position, PositionTag, Tag, User
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
    return client_portfolios(engine, [email])[email.lower()]


def client_portfolios(engine: Engine, emails: list[str]) -> dict[str, ClientPortfolio]:
    """{lower-case email: ClientPortfolio} of several clients in one query; UnknownClient names the first
    client without a user/portfolio."""
    wanted = sorted({e.lower() for e in emails})
    with engine.connect() as conn:
        rows = conn.execute(
            select(User.email, User.id, Portfolio.id).join(Portfolio, Portfolio.user_id == User.id).where(User.email.in_(wanted))
        ).all()
    found = {email: ClientPortfolio(email=email, user_id=uid, portfolio_id=pid) for email, uid, pid in rows}
    for email in wanted:
        if email not in found:
            raise UnknownClient(f"client {email!r} has no user/portfolio in the SigmaSight database; onboard it first")
    return found


POSITION_COLUMNS = ["id", "symbol", "position_type", "quantity", "entry_price", "entry_date", "underlying_symbol", "strike",
                    "expiration_date"]


def active_positions_frame(engine: Engine, portfolio_id) -> pd.DataFrame:
    """Active positions as a frame indexed by position id (floats for numbers, enums as text).

    Columns: symbol, position_type, quantity (signed shares/contracts), entry_price ($),
    entry_date, underlying_symbol, strike (=$ strike_price), expiration_date, tags (list),
    is_option (bool), price_symbol (the symbol the position's risk is measured on: the underlying of an option).
    """
    return active_positions_frames(engine, [portfolio_id])[portfolio_id]


POSITION_WRITES = ("onboard", "reconcile", "offboard")  # audit actions of a write that changed the client's book


def positions_versions(conn_or_engine, emails: list[str]) -> dict[str, int]:
    """Per client email, its positions version: the id of its newest successful audit row of a write that changed
    its book (`POSITION_WRITES`; `write_client` appends it in the transaction that writes the positions, and a
    write that changed nothing appends 're-run (no change)'); 0 if there is none. One query."""
    if not emails:
        return {}
    t = OnboardingAuditLog.__table__
    query = (select(t.c.client_email, func.max(t.c.id))
             .where(t.c.client_email.in_(list(emails)), t.c.outcome == "success", t.c.action.in_(POSITION_WRITES))
             .group_by(t.c.client_email))
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.connect() as conn:
            found = dict(conn.execute(query).all())
    else:
        found = dict(conn_or_engine.execute(query).all())
    return {e: int(found.get(e) or 0) for e in emails}


@dataclass(frozen=True)
class ClientBooks:
    """What a run over several clients reads of their books, in the order that makes the positions versions safe."""

    versions: dict[str, int]  # lower-case email -> `positions_versions`, read BEFORE the positions it stands for
    portfolios: dict[str, ClientPortfolio]  # lower-case email -> its user and portfolio
    positions: dict  # portfolio id -> `active_positions_frame`

    def of(self, email: str) -> tuple[ClientPortfolio, pd.DataFrame, int]:
        """(portfolio, active positions, positions version) of one client."""
        portfolio = self.portfolios[email.lower()]
        return portfolio, self.positions[portfolio.portfolio_id], self.versions[email.lower()]


def client_books(engine: Engine, emails: list[str]) -> ClientBooks:
    """The positions versions, portfolios and active positions of `emails` (a query each; versions first, so a
    book written after they were read fails the version check of a later write instead of slipping through)."""
    versions = positions_versions(engine, [e.lower() for e in emails])
    portfolios = client_portfolios(engine, emails)
    positions = active_positions_frames(engine, list(dict.fromkeys(portfolios[e.lower()].portfolio_id for e in emails)))
    return ClientBooks(versions, portfolios, positions)


def active_positions_frames(engine: Engine, portfolio_ids: list) -> dict:
    """{portfolio id: `active_positions_frame`} of several portfolios in two queries (positions, tags)."""
    with engine.connect() as conn:
        columns = read_columns(conn,
            select(
                Position.portfolio_id, Position.id, Position.symbol, Position.position_type, Position.quantity,
                Position.entry_price, Position.entry_date, Position.underlying_symbol, Position.strike_price,
                Position.expiration_date,
            ).where(Position.portfolio_id.in_(list(portfolio_ids)), Position.deleted_at.is_(None))
            .order_by(Position.portfolio_id, Position.symbol)
        )
        tags = tag_names_by_position(conn, portfolio_ids)
    owner, fields = columns[0], columns[1:]
    frame = pd.DataFrame(dict(zip(POSITION_COLUMNS, fields)), columns=POSITION_COLUMNS).set_index("id")
    frame["position_type"] = frame["position_type"].map(lambda t: getattr(t, "value", t))
    for col in ("quantity", "entry_price", "strike"):
        frame[col] = pd.to_numeric(frame[col].astype(object), errors="coerce").astype(float)
    frame["tags"] = [tags.get(p, []) for p in frame.index]
    frame["is_option"] = is_option_type(frame["position_type"])
    frame["price_symbol"] = frame["underlying_symbol"].where(frame["is_option"], frame["symbol"])
    # rows come grouped by portfolio: each portfolio's frame is one slice (a copy: callers add columns)
    bounds: dict = {}
    for i, pid in enumerate(owner):
        first, _ = bounds.get(pid, (i, i))
        bounds[pid] = (first, i + 1)
    return {pid: frame.iloc[slice(*bounds.get(pid, (0, 0)))].copy() for pid in portfolio_ids}


def tag_names_by_position(conn, portfolio_ids) -> dict:
    """{position id: sorted tag names} for the positions of one portfolio (an id) or several (a list)
    that have tags."""
    ids = list(portfolio_ids) if isinstance(portfolio_ids, (list, tuple, set)) else [portfolio_ids]
    position_ids, names = read_columns(conn,
        select(PositionTag.position_id, Tag.name)
        .join(Tag, Tag.id == PositionTag.tag_id)
        .join(Position, Position.id == PositionTag.position_id)
        .where(Position.portfolio_id.in_(ids))
    )
    tags: dict = {}
    for pid, name in zip(position_ids, names):
        tags.setdefault(pid, []).append(name)
    return {pid: sorted(names) for pid, names in tags.items()}


def price_symbols(positions: pd.DataFrame) -> list[str]:
    """Symbols whose prices the portfolio needs: equities and option underlyings."""
    if "price_symbol" in positions and "is_option" in positions:  # an `active_positions_frame`
        return sorted(set(positions["price_symbol"].dropna()))
    opt = is_option_type(positions["position_type"])
    syms = set(positions.loc[~opt, "symbol"]) | set(positions.loc[opt, "underlying_symbol"].dropna())
    return sorted(syms)
