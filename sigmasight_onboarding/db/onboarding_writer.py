"""Write one client's account, portfolio, positions and tags in ONE transaction.

Idempotent: writing the same drop twice changes no row. A changed re-drop reconciles: new
positions inserted, changed ones updated, positions missing from the CSV soft-deleted
(`deleted_at`), tags re-linked. Bulk statements only (no per-row ORM adds).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, text, update

from sigmasight_onboarding.config import Settings
from sigmasight_onboarding.db.bulk import insert_rows
from sigmasight_onboarding.db.statistics import refresh_statistics, take_rows_written
from sigmasight_onboarding.db.models import (
    OnboardingAuditLog,
    Portfolio,
    Position,
    PositionTag,
    PositionType,
    Tag,
    User,
    utcnow,
)
from sigmasight_onboarding.db.portfolio_reads import positions_versions, tag_names_by_position
from sigmasight_onboarding.drops.reader import ClientDrop
from sigmasight_onboarding.security import hash_password, new_id, verify_password

POSITION_FIELDS = (
    "position_type",
    "quantity",
    "entry_price",
    "entry_date",
    "underlying_symbol",
    "strike_price",
    "expiration_date",
)


@dataclass
class OnboardingWriteResult:
    user_id: str
    portfolio_id: str
    user_created: bool
    portfolio_created: bool
    account_fields_changed: list[str]
    positions_inserted: int
    positions_updated: int
    positions_soft_deleted: int
    positions_unchanged: int
    tags_created: int
    tag_links_added: int
    tag_links_removed: int
    active_positions: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def changed_anything(self) -> bool:
        return bool(
            self.user_created
            or self.portfolio_created
            or self.account_fields_changed
            or self.positions_inserted
            or self.positions_updated
            or self.positions_soft_deleted
            or self.tags_created
            or self.tag_links_added
            or self.tag_links_removed
        )

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d.pop("extra")
        return d


def client_lock_key(email: str) -> int:
    """The PostgreSQL advisory-lock key of a client (64-bit, from its email)."""
    return int.from_bytes(hashlib.sha256(email.encode()).digest()[:8], "big", signed=True)


def client_lock(conn: Connection, email: str) -> None:
    """Serialise writers of the same client (PostgreSQL advisory lock; SQLite locks the file)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": client_lock_key(email)})


class PositionsChangedError(RuntimeError):
    """The client's positions were written (re-onboarded, offboarded) after a run read them: what that run
    computed from them must not be stored (the writer's own run computes the new book)."""

    def __init__(self, email: str, read: int, now: int):
        super().__init__(f"{email}: positions changed while this run computed (positions version {read} read, "
                         f"{now} now); nothing written for this client, its onboarding run writes them")
        self.email = email


@contextmanager
def client_transaction(engine: Engine, email: str, positions_version: int | None = None) -> Iterator[Connection]:
    """One transaction holding the client's lock: concurrent runs of the same client replace
    its rows one after the other instead of colliding on the same keys. After it commits, the tables it
    bulk-loaded get fresh planner statistics where they were young (`db.statistics`).

    `positions_version` (from `positions_versions`, read before the positions the caller computed from): the
    transaction raises `PositionsChangedError`, writing nothing, if the client's book was written since — a run
    over many clients must not store results of a book that a re-onboarding replaced meanwhile. Checked under
    the lock that `write_client` takes too (SQLite: BEGIN IMMEDIATE), so no write slips in between."""
    with clients_transaction(engine, {email: positions_version}) as (conn, changed):
        if email in changed:
            raise changed[email]
        yield conn


@contextmanager
def clients_transaction(engine: Engine, versions: dict[str, int | None]) -> Iterator[tuple[Connection, dict[str, PositionsChangedError]]]:
    """`client_transaction` of several clients at once (a multi-client run storing what it computed): ONE
    transaction holding every client's lock, taken in one global order (`client_lock_key`) so two such
    transactions never wait on each other in a cycle. Yields ``(conn, changed)``: `changed` holds, by email,
    the `PositionsChangedError` of each client whose book was re-written since its `positions_version` was read
    (one query for all of them, under the locks) — the caller writes nothing of those and the others' rows in
    ``conn``. `versions`: {email: positions version, or None for no check}."""
    with engine.begin() as conn:
        take_rows_written(conn)  # counts left on the pooled connection by an earlier transaction
        for email in sorted(versions, key=client_lock_key):
            client_lock(conn, email)
        checked = [e for e, v in versions.items() if v is not None]
        now = positions_versions(conn, checked) if checked else {}
        changed = {e: PositionsChangedError(e, versions[e], now[e]) for e in checked if now[e] != versions[e]}
        yield conn, changed
        written = take_rows_written(conn)
    refresh_statistics(engine, written)  # fresh planner statistics for tables this transaction bulk-loaded


def write_audit(conn: Connection, email: str, action: str, outcome: str, details: dict | None, actor: str | None = None) -> None:
    """Append one audit-log row (callers never pass secrets in `details`)."""
    conn.execute(
        insert(OnboardingAuditLog),
        [{"at": utcnow(), "client_email": email, "action": action, "outcome": outcome, "actor": actor, "details": details}],
    )


def audit(engine: Engine, email: str, action: str, outcome: str, details: dict | None, actor: str | None = None) -> None:
    with engine.begin() as conn:
        write_audit(conn, email, action, outcome, details, actor)


def _norm(value: Any) -> Any:
    """Comparable form of a column value (Decimals at 4 places, enums as their value)."""
    if isinstance(value, PositionType):
        return value.value
    if isinstance(value, (Decimal, float, int)) and not isinstance(value, bool):
        return Decimal(str(value)).quantize(Decimal("0.0001"))
    return value


def write_client(engine: Engine, drop: ClientDrop, settings: Settings, actor: str | None = None) -> OnboardingWriteResult:
    """Create or reconcile the client of `drop`; everything or nothing is written."""
    client = drop.client
    now = utcnow()
    prod = settings.is_production
    with client_transaction(engine, client.email) as conn:

        # -- user -----------------------------------------------------------------------
        user = conn.execute(select(User).where(User.email == client.email)).mappings().first()
        changed: list[str] = []
        if user is None:
            user_id = new_id(f"{client.email}_user", prod)
            hashed = client.password_hash or hash_password(client.password.value, settings.bcrypt_rounds)
            conn.execute(
                insert(User),
                [{"id": user_id, "email": client.email, "full_name": client.full_name, "hashed_password": hashed,
                  "is_active": True, "created_at": now, "updated_at": now}],
            )
            user_created = True
        else:
            user_id = user["id"]
            user_created = False
            values: dict[str, Any] = {}
            if user["full_name"] != client.full_name:
                values["full_name"] = client.full_name
            if client.password_hash is not None:
                if user["hashed_password"] != client.password_hash:
                    values["hashed_password"] = client.password_hash
            elif not verify_password(client.password.value, user["hashed_password"]):
                values["hashed_password"] = hash_password(client.password.value, settings.bcrypt_rounds)
            if not user["is_active"]:
                values["is_active"] = True
            if values:
                changed += ["user." + k for k in values]
                conn.execute(update(User).where(User.id == user_id).values(**values, updated_at=now))

        # -- portfolio --------------------------------------------------------------------
        portfolio = conn.execute(select(Portfolio).where(Portfolio.user_id == user_id)).mappings().first()
        wanted = {"name": client.portfolio_name, "description": client.portfolio_description, "currency": client.currency}
        if portfolio is None:
            portfolio_id = new_id(f"{client.email}_portfolio", prod)
            conn.execute(
                insert(Portfolio),
                [{"id": portfolio_id, "user_id": user_id, **wanted, "created_at": now, "updated_at": now, "deleted_at": None}],
            )
            portfolio_created = True
        else:
            portfolio_id = portfolio["id"]
            portfolio_created = False
            values = {k: v for k, v in wanted.items() if portfolio[k] != v}
            if portfolio["deleted_at"] is not None:
                values["deleted_at"] = None
            if values:
                changed += ["portfolio." + k for k in values]
                conn.execute(update(Portfolio).where(Portfolio.id == portfolio_id).values(**values, updated_at=now))

        # -- positions --------------------------------------------------------------------
        existing = {
            row["symbol"]: row
            for row in conn.execute(select(Position).where(Position.portfolio_id == portfolio_id)).mappings()
        }
        inserts, updates = [], []
        symbol_to_id: dict[str, Any] = {}
        unchanged = 0
        columns = list(drop.positions.columns)  # = to_dict("records") without pandas' per-cell boxing
        records = [dict(zip(columns, cells)) for cells in zip(*(drop.positions[c].tolist() for c in columns))]
        for rec in records:
            symbol = rec["symbol"]
            wanted_pos = {
                "position_type": PositionType(rec["position_type"]),
                "quantity": rec["quantity"],
                "entry_price": rec["entry_price"],
                "entry_date": rec["entry_date"],
                "underlying_symbol": rec["underlying_symbol"],
                "strike_price": rec["strike_price"],
                "expiration_date": rec["expiration_date"],
            }
            old = existing.get(symbol)
            if old is None:
                pid = new_id(f"{portfolio_id}_{symbol}_position", prod)
                inserts.append({"id": pid, "portfolio_id": portfolio_id, "symbol": symbol, **wanted_pos,
                                "created_at": now, "updated_at": now, "deleted_at": None})
            else:
                pid = old["id"]
                diff = {k: v for k, v in wanted_pos.items() if _norm(old[k]) != _norm(v)}
                if old["deleted_at"] is not None:
                    diff["deleted_at"] = None
                if diff:
                    if any(k in diff for k in ("quantity", "entry_price", "position_type", "strike_price")):
                        # valuation columns are recomputed by the market-data step
                        diff.update(last_price=None, market_value=None, unrealized_pnl=None)
                    updates.append({"id": pid, **diff, "updated_at": now})
                else:
                    unchanged += 1
            symbol_to_id[symbol] = pid
        to_soft_delete = [
            row["id"] for sym, row in existing.items() if sym not in symbol_to_id and row["deleted_at"] is None
        ]
        insert_rows(conn, Position.__table__, inserts)  # COPY on PostgreSQL, executemany elsewhere
        _bulk_update(conn, Position, updates)
        if to_soft_delete:
            conn.execute(
                update(Position).where(Position.id.in_(to_soft_delete)).values(deleted_at=now, updated_at=now)
            )

        # -- tags ------------------------------------------------------------------------
        wanted_links = {(rec["symbol"], tag) for rec in records for tag in rec["tags"]}  # (symbol, tag name)
        tag_names = sorted({tag for _symbol, tag in wanted_links})
        tag_ids = {r.name: r.id for r in conn.execute(select(Tag.id, Tag.name).where(Tag.user_id == user_id))}
        new_tags = [
            {"id": new_id(f"{client.email}_tag_{name}", prod), "user_id": user_id, "name": name, "created_at": now}
            for name in tag_names
            if name not in tag_ids
        ]
        if new_tags:
            conn.execute(insert(Tag), new_tags)
            tag_ids.update({t["name"]: t["id"] for t in new_tags})
        if existing:  # reconcile against the stored links
            wanted_pairs = {(symbol_to_id[symbol], tag_ids[name]) for symbol, name in wanted_links}
            current_pairs = {
                (r.position_id, r.tag_id)
                for r in conn.execute(
                    select(PositionTag.position_id, PositionTag.tag_id)
                    .join(Position, Position.id == PositionTag.position_id)
                    .where(Position.portfolio_id == portfolio_id)
                )
            }
            add_pairs = sorted(wanted_pairs - current_pairs, key=str)
            remove_pairs = current_pairs - wanted_pairs
        else:  # a new portfolio has no links yet (no UUID-pair set to build on a big drop)
            add_pairs = [(symbol_to_id[symbol], tag_ids[name]) for symbol, name in sorted(wanted_links)]
            remove_pairs = set()
        if add_pairs:
            insert_rows(conn, PositionTag.__table__, [{"position_id": p, "tag_id": t} for p, t in add_pairs])
        for p, t in remove_pairs:
            conn.execute(delete(PositionTag).where(PositionTag.position_id == p, PositionTag.tag_id == t))

        result = OnboardingWriteResult(
            user_id=str(user_id),
            portfolio_id=str(portfolio_id),
            user_created=user_created,
            portfolio_created=portfolio_created,
            account_fields_changed=changed,
            positions_inserted=len(inserts),
            positions_updated=len(updates),
            positions_soft_deleted=len(to_soft_delete),
            positions_unchanged=unchanged,
            tags_created=len(new_tags),
            tag_links_added=len(add_pairs),
            tag_links_removed=len(remove_pairs),
            active_positions=len(symbol_to_id),
        )
        action = "onboard" if user_created else ("reconcile" if result.changed_anything else "re-run (no change)")
        write_audit(
            conn,
            client.email,
            action,
            "success",
            {**result.as_dict(), "content_hash": drop.content_hash, "warnings": drop.warnings[:20]},
            actor,
        )
        return result


def _bulk_update(conn: Connection, model, rows: list[dict]) -> None:
    """executemany UPDATE … WHERE id = :id, one statement per distinct set of changed columns."""
    groups: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    table = model.__table__
    for keys, group in groups.items():
        columns = [k for k in keys if k != "id"]
        stmt = update(table).where(table.c.id == bindparam("_id")).values({k: bindparam(k) for k in columns})
        conn.execute(stmt, [{**{k: r[k] for k in columns}, "_id": r["id"]} for r in group])


def read_active_positions(engine: Engine, portfolio_id) -> list[dict]:
    """Active (not soft-deleted) positions of a portfolio with their tag names."""
    portfolio_id = uuid.UUID(str(portfolio_id))
    with engine.connect() as conn:
        rows = [
            dict(r)
            for r in conn.execute(
                select(Position).where(Position.portfolio_id == portfolio_id, Position.deleted_at.is_(None))
            ).mappings()
        ]
        tags = tag_names_by_position(conn, portfolio_id)
    for r in rows:
        r["tags"] = tags.get(r["id"], [])
    return rows


def reconcile_with_drop(stored: list[dict], drop: ClientDrop) -> list[str]:
    """Differences between stored active positions and the drop's CSV (empty when equal)."""
    diffs: list[str] = []
    by_symbol = {r["symbol"]: r for r in stored}
    csv_rows = {rec["symbol"]: rec for rec in drop.positions.to_dict("records")}
    for sym in sorted(set(csv_rows) - set(by_symbol)):
        diffs.append(f"{sym}: in the CSV but not in the database")
    for sym in sorted(set(by_symbol) - set(csv_rows)):
        diffs.append(f"{sym}: in the database but not in the CSV")
    for sym in sorted(set(csv_rows) & set(by_symbol)):
        rec, row = csv_rows[sym], by_symbol[sym]
        for f in POSITION_FIELDS:
            if _norm(row[f]) != _norm(rec[f]):
                diffs.append(f"{sym}: {f} is {row[f]!r} in the database, {rec[f]!r} in the CSV")
        if sorted(rec["tags"]) != row["tags"]:
            diffs.append(f"{sym}: tags {row['tags']} in the database, {sorted(rec['tags'])} in the CSV")
    return diffs


def iso(d: date | None) -> str | None:
    return d.isoformat() if d else None
