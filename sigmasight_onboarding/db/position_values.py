"""Positions marked to the latest price: last_price, market_value and unrealized_pnl (dollars,
exact decimals) written on the `positions` rows the backend serves — stocks at their close
(`equity_marks`, written by `write_equity_marks` in the clients' transaction), options at their model price (`mark_option_positions`)."""

from decimal import Decimal

from sqlalchemy import bindparam, select, update

from sigmasight_onboarding.db.bulk import read_columns
from sigmasight_onboarding.db.models import Position, utcnow
from sigmasight_onboarding.db.portfolio_reads import is_option_type


#: Position ids per read of `write_equity_marks` (SQLite binds at most 32,766 parameters per statement)
READ_CHUNK = 10_000


def equity_marks(positions, last_prices) -> list[dict]:
    """The marks of the stock positions of `positions` (an `active_positions_frame`) at `last_prices` ({symbol: $}):
    one update per position with a finite price — {"_id", "last_price" ($ at 4 places), "market_value" (= quantity ×
    price), "unrealized_pnl" ($, to the cent), "updated_at"}."""
    equities = positions[~is_option_type(positions["position_type"])]
    rows = []
    cent = Decimal("0.01")
    for pid, symbol, quantity, entry_price in zip(equities.index, equities["symbol"].tolist(),
                                                  equities["quantity"].tolist(), equities["entry_price"].tolist()):
        price = last_prices.get(symbol)
        if price is None or price != price:
            continue
        q = Decimal(str(quantity))
        p = Decimal(str(round(price, 4)))
        rows.append({
            "_id": pid,
            "last_price": p,
            "market_value": (q * p).quantize(cent),
            "unrealized_pnl": (q * (p - Decimal(str(entry_price)))).quantize(cent),
            "updated_at": utcnow(),
        })
    return rows


def write_equity_marks(conn, rows: list[dict]) -> set:
    """Write `equity_marks` rows (of one client or of a whole batch) on their `positions` rows in ``conn``'s
    transaction, skipping those whose last_price and market_value are already stored: one read and one
    executemany for all of them. Returns the ids of the positions written."""
    if not rows:
        return set()
    table = Position.__table__
    stored = {}
    for i in range(0, len(rows), READ_CHUNK):
        ids, last, value = read_columns(conn, select(table.c.id, table.c.last_price, table.c.market_value)
                                        .where(table.c.id.in_([r["_id"] for r in rows[i:i + READ_CHUNK]])))
        stored.update(zip(ids, zip(last, value)))
    rows = [r for r in rows if stored.get(r["_id"]) != (r["last_price"], r["market_value"])]
    if rows:
        conn.execute(update(table).where(table.c.id == bindparam("_id"))
                     .values(last_price=bindparam("last_price"), market_value=bindparam("market_value"),
                             unrealized_pnl=bindparam("unrealized_pnl"), updated_at=bindparam("updated_at")), rows)
    return {r["_id"] for r in rows}


def mark_option_positions(conn, updates: list[dict]) -> int:
    """Write model prices of options on their `positions` rows in ``conn``'s transaction: each update
    {"_id", "last_price" (per share), "market_value", "unrealized_pnl" ($, Decimal)}; rows whose
    last_price and market_value are unchanged are skipped. Returns the rows written."""
    if not updates:
        return 0
    t = Position.__table__
    current = {r.id: (r.last_price, r.market_value) for r in conn.execute(
        select(t.c.id, t.c.last_price, t.c.market_value).where(t.c.id.in_([u["_id"] for u in updates])))}
    updates = [u for u in updates if current.get(u["_id"]) != (u["last_price"], u["market_value"])]
    if updates:
        conn.execute(
            update(t).where(t.c.id == bindparam("_id")).values(
                last_price=bindparam("last_price"), market_value=bindparam("market_value"),
                unrealized_pnl=bindparam("unrealized_pnl"), updated_at=utcnow()),
            updates,
        )
    return len(updates)
