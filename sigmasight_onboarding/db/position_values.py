"""Stock positions marked to the latest price: last_price, market_value and unrealized_pnl (dollars,
exact decimals) written on the `positions` rows the backend serves."""

from decimal import Decimal

from sqlalchemy import bindparam, update

from sigmasight_onboarding.db.models import Position, utcnow
from sigmasight_onboarding.db.portfolio_reads import is_option_type


def enrich_equity_positions(engine, positions, last_prices) -> int:
    """Fill last_price, market_value (= quantity × price) and unrealized_pnl for stock positions."""
    equities = positions[~is_option_type(positions["position_type"])]
    rows = []
    for pid, pos in equities.iterrows():
        price = last_prices.get(pos["symbol"])
        if price is None or price != price:
            continue
        q = Decimal(str(pos["quantity"]))
        p = Decimal(str(round(price, 4)))
        rows.append({
            "_id": pid,
            "last_price": p,
            "market_value": (q * p).quantize(Decimal("0.01")),
            "unrealized_pnl": (q * (p - Decimal(str(pos["entry_price"])))).quantize(Decimal("0.01")),
            "updated_at": utcnow(),
        })
    if rows:
        table = Position.__table__
        stmt = (
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values(last_price=bindparam("last_price"), market_value=bindparam("market_value"),
                    unrealized_pnl=bindparam("unrealized_pnl"), updated_at=bindparam("updated_at"))
        )
        with engine.begin() as conn:
            unchanged = {
                r.id: (r.last_price, r.market_value)
                for r in conn.execute(table.select().where(table.c.id.in_([r["_id"] for r in rows])))
            }
            rows = [r for r in rows if unchanged.get(r["_id"]) != (r["last_price"], r["market_value"])]
            if rows:
                conn.execute(stmt, rows)
    return len(rows)
