"""Reads and writes of the position-analytics tables (Greeks, factor and desk exposures, rate betas,
correlations) for one client's portfolio on one as-of date. The `analytics` assets compute; every
statement they need is here."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import Connection, Engine, Row, Table, and_, select

from sigmasight_onboarding.db.bulk import insert_columns, insert_rows, replace_columns, replace_rows
from sigmasight_onboarding.db.models import (
    CorrelationCalculation,
    CorrelationCluster,
    CorrelationClusterPosition,
    FactorDefinition,
    PairwiseCorrelation,
    Position,
    PositionGreeks,
)


def as_of_rows(table: Table, portfolio_id: uuid.UUID, as_of: datetime.date):
    """Where-clause of the portfolio's rows of ``table`` on the as-of date (what an asset replaces and reads back)."""
    return _as_of_rows_of(table, [portfolio_id], as_of)


def replace_as_of_rows(conn: Connection, table: Table, portfolio_id: uuid.UUID, as_of: datetime.date,
                       rows: Sequence[dict]) -> int:
    """Replace the portfolio's rows of ``table`` on the as-of date by ``rows`` (idempotent re-runs)."""
    return replace_rows(conn, table, as_of_rows(table, portfolio_id, as_of), rows)


def replace_as_of_columns(conn: Connection, table: Table, portfolio_id: uuid.UUID, as_of: datetime.date,
                          columns: Mapping[str, Sequence]) -> int:
    """`replace_as_of_rows` with the rows given column by column ({column name: values})."""
    return replace_columns(conn, table, as_of_rows(table, portfolio_id, as_of), columns)


class AsOfReplacements:
    """`replace_as_of_rows` / `replace_as_of_columns` (and `replace_many_correlations`) of several portfolios on one as-of
    date, collected and written together by `write`: per table ONE delete of every collected portfolio's rows of the
    date and ONE bulk insert (a daily refresh of 200 clients: one COPY of position factor exposures instead of 200).
    Tables are written in the order they were first collected, the correlations last."""

    def __init__(self, as_of: datetime.date):
        self.as_of = as_of
        self._tables: dict[Table, tuple[list, list[dict], dict[str, list]]] = {}  # table -> (portfolios, rows, columns)
        self._correlations: list[Correlations] = []  # written together by `replace_many_correlations`

    def _of(self, table: Table, portfolio_id: uuid.UUID):
        portfolios, rows, columns = self._tables.setdefault(table, ([], [], {}))
        portfolios.append(portfolio_id)
        return rows, columns

    def rows(self, table: Table, portfolio_id: uuid.UUID, rows: Sequence[dict]) -> None:
        self._of(table, portfolio_id)[0].extend(rows)

    def columns(self, table: Table, portfolio_id: uuid.UUID, columns: Mapping[str, Sequence]) -> None:
        collected = self._of(table, portfolio_id)[1]
        if collected and set(collected) != set(columns):
            raise ValueError(f"{table.name}: columns {sorted(columns)} differ from those collected {sorted(collected)}")
        for name, values in columns.items():
            collected.setdefault(name, []).extend(values)

    def correlations(self, item: Correlations) -> None:
        """A portfolio's correlation calculation of the as-of date with its children (`replace_many_correlations`)."""
        self._correlations.append(item)

    def write(self, conn: Connection) -> int:
        """Every collected replacement in ``conn``'s transaction; returns the rows inserted into the as-of tables.
        Empties the collection."""
        inserted = 0
        for table, (portfolios, rows, columns) in self._tables.items():
            ids = list(dict.fromkeys(portfolios))
            for i in range(0, len(ids), 500):
                conn.execute(table.delete().where(_as_of_rows_of(table, ids[i:i + 500], self.as_of)))
            inserted += insert_rows(conn, table, rows) + insert_columns(conn, table, columns)
        if self._correlations:
            replace_many_correlations(conn, self.as_of, self._correlations)
        self._tables.clear()
        self._correlations = []
        return inserted


def market_values_and_delta_dollars(engine: Engine, portfolio_ids: Sequence[uuid.UUID],
                                    as_of: datetime.date) -> dict[uuid.UUID, tuple[dict, dict]]:
    """Per portfolio: ({position id: stored market_value ($, Decimal or None)}, {position id: option delta_dollars ($)
    of the Greeks stored for the as-of date}) — every given portfolio in two queries."""
    t, g = Position.__table__, PositionGreeks.__table__
    out: dict[uuid.UUID, tuple[dict, dict]] = {pid: ({}, {}) for pid in portfolio_ids}
    with engine.connect() as conn:
        for pid, position_id, value in conn.execute(select(t.c.portfolio_id, t.c.id, t.c.market_value)
                                                    .where(t.c.portfolio_id.in_(list(out)))):
            out[pid][0][position_id] = value
        for pid, position_id, value in conn.execute(select(g.c.portfolio_id, g.c.position_id, g.c.delta_dollars)
                                                    .where(_as_of_rows_of(g, out, as_of))):
            out[pid][1][position_id] = value
    return out


def option_deltas(engine: Engine, portfolio_ids: Sequence[uuid.UUID], as_of: datetime.date) -> dict[uuid.UUID, dict]:
    """Per portfolio, {position id: per-share option delta} of the Greeks stored for the as-of date (one query)."""
    g = PositionGreeks.__table__
    out: dict[uuid.UUID, dict] = {pid: {} for pid in portfolio_ids}
    with engine.connect() as conn:
        for pid, position_id, delta in conn.execute(select(g.c.portfolio_id, g.c.position_id, g.c.delta)
                                                    .where(_as_of_rows_of(g, out, as_of))):
            out[pid][position_id] = delta
    return out


def option_pricing_inputs(engine: Engine, portfolio_ids: Sequence[uuid.UUID], as_of: datetime.date) -> dict[uuid.UUID, list[Row]]:
    """Per portfolio, per option, the pricing inputs stored with its Greeks on the as-of date: rows with position_id,
    underlying_price ($), implied_volatility (annual, decimal), risk_free_rate (decimal),
    time_to_expiry_years and dividend_yield (decimal, may be None) — one query."""
    g = PositionGreeks.__table__
    out: dict[uuid.UUID, list[Row]] = {pid: [] for pid in portfolio_ids}
    with engine.connect() as conn:
        for row in conn.execute(select(g.c.portfolio_id, g.c.position_id, g.c.underlying_price, g.c.implied_volatility,
                                       g.c.risk_free_rate, g.c.time_to_expiry_years, g.c.dividend_yield)
                                .where(_as_of_rows_of(g, out, as_of))):
            out[row.portfolio_id].append(row)
    return out


def _as_of_rows_of(table: Table, portfolio_ids: Iterable[uuid.UUID], as_of: datetime.date):
    """`as_of_rows` of several portfolios (one portfolio: an equality)."""
    ids = list(portfolio_ids)
    owner = table.c.portfolio_id == ids[0] if len(ids) == 1 else table.c.portfolio_id.in_(ids)
    return and_(owner, table.c.calculation_date == as_of)


def factor_ids(engine: Engine) -> dict[str, int]:
    """{factor name: factor_definitions id}."""
    with engine.connect() as conn:
        return dict(conn.execute(select(FactorDefinition.name, FactorDefinition.id)).all())


#: One portfolio's correlation calculation of an as-of date: (portfolio id, calculation row with its id, pairwise
#: rows, cluster rows, cluster member rows), what `replace_many_correlations` replaces.
Correlations = tuple[uuid.UUID, dict, Sequence[dict], Sequence[dict], Sequence[dict]]


def replace_many_correlations(conn: Connection, as_of: datetime.date, items: Sequence[Correlations]) -> None:
    """Replace each portfolio's correlation calculation of the as-of date by the given one with its pairwise
    correlations, clusters and cluster members (one portfolio, or every client of a daily refresh): the old
    calculations of the date (and any row with a new calculation's id) are deleted with their children explicitly (ON
    DELETE CASCADE is not relied on for SQLite), per 500 calculations one statement per table, then one bulk insert
    per table."""
    t = CorrelationCalculation.__table__
    portfolio_ids = list(dict.fromkeys(item[0] for item in items))
    doomed = [calc["id"] for _p, calc, *_rows in items]
    for i in range(0, len(portfolio_ids), 500):
        doomed += [r[0] for r in conn.execute(select(t.c.id).where(_as_of_rows_of(t, portfolio_ids[i:i + 500], as_of)))]
    doomed = list(dict.fromkeys(doomed))
    clusters, members = CorrelationCluster.__table__, CorrelationClusterPosition.__table__
    for i in range(0, len(doomed), 500):
        chunk = doomed[i:i + 500]
        old_clusters = [r[0] for r in conn.execute(select(clusters.c.id).where(clusters.c.correlation_calculation_id.in_(chunk)))]
        for j in range(0, len(old_clusters), 500):
            conn.execute(members.delete().where(members.c.cluster_id.in_(old_clusters[j:j + 500])))
        conn.execute(clusters.delete().where(clusters.c.correlation_calculation_id.in_(chunk)))
        conn.execute(PairwiseCorrelation.__table__.delete().where(PairwiseCorrelation.correlation_calculation_id.in_(chunk)))
        conn.execute(t.delete().where(t.c.id.in_(chunk)))
    insert_rows(conn, t, [calc for _p, calc, *_rows in items])
    insert_rows(conn, PairwiseCorrelation.__table__, [row for *_head, pairs, _c, _m in items for row in pairs])
    insert_rows(conn, clusters, [row for *_head, cluster_rows, _m in items for row in cluster_rows])
    insert_rows(conn, members, [row for *_head, member_rows in items for row in member_rows])
