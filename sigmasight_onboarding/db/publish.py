"""Publish one client's results into the SigmaSight backend's tables (`db/contract.py`).

Our engines write full-precision, per-date results into our own `onb_*` tables. This module
copies what the backend serves into its tables, in its conventions, in ONE transaction per
client: the client's previous rows in those tables are replaced (idempotent; re-publishing
never duplicates a row).

Conventions applied (the backend's, see README "SigmaSight backend contract"):
- `market_data_cache`: ONE row per symbol (held symbols, option underlyings, the backend's
  factor ETFs), the as-of session's close, `data_source` "sigmasight-onboarding:<provider>".
  The backend's portfolio overview joins positions to this table on the symbol alone, so
  history there would multiply its figures: our older rows are removed (others' are kept).
- `positions.last_price` per share (options: our model price per share), `market_value` with
  the 100-share contract multiplier, `unrealized_pnl` against the entry price, `realized_pnl` 0.
- `position_greeks`: one row per option position, Greeks per share of underlying (as the backend
  computes them); `delta_dollars`/`gamma_dollars` our position figures.
- `factor_exposures` / `position_factor_exposures`: our multivariate model (market + style
  spreads), our factor names mapped onto the backend's seeded definitions by ETF proxy.
  "Short Interest" (no data source) is marked inactive so the backend's completeness rule
  applies to the seven factors we estimate.
- `position_interest_rate_betas.ir_beta`: return per +1 percentage point of the 10-year yield
  (= our per-bp beta × 100), the backend's regression convention.
- `correlation_calculations`: our 90-session calculation, `calculation_date` a timestamp at
  00:00 UTC of the as-of date; one direction per pair; p-values as `statistical_significance`.
- `portfolio_snapshots`, `stress_test_results`: every session we computed; stress P&L is our
  full-revaluation P&L, stored as both `direct_pnl` and `correlated_pnl`.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Iterable

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, update

from sigmasight_onboarding.db import contract as ss
from sigmasight_onboarding.db import models as onb
from sigmasight_onboarding.db.onboarding_writer import client_lock
from sigmasight_onboarding.domain import CONTRACT_MULTIPLIER

#: Our factor name -> the backend's seeded factor name.
BACKEND_FACTOR_NAME = {
    "Market": "Market Beta", "Value": "Value", "Growth": "Growth", "Momentum": "Momentum",
    "Quality": "Quality", "Size": "Size", "Low Volatility": "Low Volatility",
}
#: Factors the backend seeds that we have no data for: published as inactive.
UNESTIMATED_BACKEND_FACTORS = ("Short Interest",)
#: ETFs the backend's data routes look up (`/data/factors/etf-prices`, data quality), plus the
#: proxy its factor seed names for Size.
BACKEND_FACTOR_ETFS = ("SPY", "VTV", "VUG", "MTUM", "QUAL", "SLY", "SIZE", "USMV")
#: The model whose exposures the backend shows.
PUBLISHED_FACTOR_MODEL = "multivariate"
#: Our price source, as written to `market_data_cache.data_source`.
DATA_SOURCE_PREFIX = "sigmasight-onboarding"


@dataclass(frozen=True)
class PublishResult:
    as_of: date
    rows: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _dec(value: Any, places: int) -> Decimal | None:
    """Round half-even to `places` decimals (the column's scale); None for NULL/NaN."""
    if value is None:
        return None
    f = float(value)
    if not math.isfinite(f):
        return None
    return Decimal(repr(f)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _severity(definition: dict[str, Any]) -> str:
    """The backend's four severities from the largest absolute shock of a scenario."""
    shocks = definition.get("shocks") or {}
    biggest = max([abs(float(v)) for k, v in shocks.items() if k not in ("rates_bp", "volatility_multiplier")] or [0.0])
    biggest = max(biggest, abs(float(shocks.get("rates_bp", 0))) / 1000.0)
    if definition.get("category") == "historical" or biggest > 0.30:
        return "extreme"
    if biggest > 0.15:
        return "severe"
    if biggest > 0.05:
        return "moderate"
    return "mild"


def delete_client_rows(conn: Connection, portfolio_ids: Iterable[Any]) -> dict[str, int]:
    """Delete the client's rows from the backend's analytics tables (children first; the
    backend's foreign keys do not cascade). Account tables are left to the caller."""
    pids = [_uuid(p) for p in portfolio_ids]
    if not pids:
        return {}
    deleted: dict[str, int] = {}

    def run(name: str, stmt) -> None:
        deleted[name] = deleted.get(name, 0) + (conn.execute(stmt).rowcount or 0)

    positions = select(ss.Position.id).where(ss.Position.portfolio_id.in_(pids))
    calcs = select(ss.CorrelationCalculation.id).where(ss.CorrelationCalculation.portfolio_id.in_(pids))
    clusters = select(ss.CorrelationCluster.id).where(ss.CorrelationCluster.correlation_calculation_id.in_(calcs))
    run("correlation_cluster_positions", delete(ss.CorrelationClusterPosition).where(ss.CorrelationClusterPosition.cluster_id.in_(clusters)))
    run("correlation_clusters", delete(ss.CorrelationCluster).where(ss.CorrelationCluster.correlation_calculation_id.in_(calcs)))
    run("pairwise_correlations", delete(ss.PairwiseCorrelation).where(ss.PairwiseCorrelation.correlation_calculation_id.in_(calcs)))
    run("correlation_calculations", delete(ss.CorrelationCalculation).where(ss.CorrelationCalculation.portfolio_id.in_(pids)))
    run("position_greeks", delete(ss.PositionGreeks).where(ss.PositionGreeks.position_id.in_(positions)))
    run("position_factor_exposures", delete(ss.PositionFactorExposure).where(ss.PositionFactorExposure.position_id.in_(positions)))
    run("position_interest_rate_betas", delete(ss.PositionInterestRateBeta).where(ss.PositionInterestRateBeta.position_id.in_(positions)))
    for model in (ss.FactorExposure, ss.PortfolioSnapshot, ss.StressTestResult, ss.MarketRiskScenario):
        run(model.__tablename__, delete(model).where(model.portfolio_id.in_(pids)))
    return deleted


def _upsert_current_prices(conn: Connection, latest: dict[str, Any], now: datetime) -> None:
    """One current `market_data_cache` row per symbol: upsert the newest session's close and
    drop the older rows WE wrote for those symbols (rows another writer, e.g. the backend's own
    batch, stored are left alone). Upsert, not delete + insert, so concurrent publications of
    clients holding the same symbol never collide on (symbol, date)."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    values = [{"id": uuid.uuid4(), "symbol": s, "date": r.date, "close": _dec(r.adj_close, 4),
               "data_source": f"{DATA_SOURCE_PREFIX}:{r.data_source}"[:50], "created_at": now, "updated_at": now}
              for s, r in sorted(latest.items())]
    stmt = dialect_insert(ss.MarketDataCache)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["symbol", "date"],
        set_={"close": stmt.excluded.close, "data_source": stmt.excluded.data_source, "updated_at": stmt.excluded.updated_at}),
        values)
    for symbol, r in sorted(latest.items()):
        conn.execute(delete(ss.MarketDataCache).where(
            ss.MarketDataCache.symbol == symbol, ss.MarketDataCache.date != r.date,
            ss.MarketDataCache.data_source.like(f"{DATA_SOURCE_PREFIX}:%")))


def _latest(conn: Connection, column, *where) -> date | None:
    return conn.execute(select(func.max(column)).where(*where)).scalar_one_or_none()


def publish_client(engine: Engine, portfolio_id: Any, as_of: date) -> PublishResult:
    """Replace the client's rows in the backend's tables with our results up to `as_of`."""
    pid = _uuid(portfolio_id)
    now = datetime.now(timezone.utc)
    rows: dict[str, int] = {}
    with engine.begin() as conn:
        email = conn.execute(select(ss.User.email).join(ss.Portfolio, ss.Portfolio.user_id == ss.User.id)
                             .where(ss.Portfolio.id == pid)).scalar_one()
        client_lock(conn, email)  # one publication of a client at a time
        delete_client_rows(conn, [pid])
        positions = conn.execute(
            select(ss.Position.id, ss.Position.symbol, ss.Position.position_type, ss.Position.quantity,
                   ss.Position.entry_price, ss.Position.underlying_symbol)
            .where(ss.Position.portfolio_id == pid, ss.Position.deleted_at.is_(None))
        ).all()
        pos_by_id = {p.id: p for p in positions}

        # -- prices: one current row per symbol --------------------------------------------
        symbols = sorted({p.symbol for p in positions if not p.position_type.is_option}
                         | {p.underlying_symbol for p in positions if p.position_type.is_option and p.underlying_symbol}
                         | set(BACKEND_FACTOR_ETFS))
        price_rows = conn.execute(
            select(onb.MarketDataCache.symbol, onb.MarketDataCache.date, onb.MarketDataCache.adj_close,
                   onb.MarketDataCache.data_source)
            .where(onb.MarketDataCache.symbol.in_(symbols), onb.MarketDataCache.date <= as_of)
            .order_by(onb.MarketDataCache.symbol, onb.MarketDataCache.date.desc())
        ).all()
        latest: dict[str, Any] = {}
        for r in price_rows:
            latest.setdefault(r.symbol, r)
        if latest:
            _upsert_current_prices(conn, latest, now)
        rows["market_data_cache"] = len(latest)

        # -- positions: marks ------------------------------------------------------------------
        greeks_date = _latest(conn, onb.PositionGreeks.calculation_date,
                              onb.PositionGreeks.portfolio_id == pid, onb.PositionGreeks.calculation_date <= as_of)
        greeks = {g.position_id: g for g in conn.execute(
            select(onb.PositionGreeks.__table__).where(onb.PositionGreeks.portfolio_id == pid,
                                              onb.PositionGreeks.calculation_date == greeks_date)).all()} if greeks_date else {}
        marks = []
        for p in positions:
            if p.position_type.is_option:
                g = greeks.get(p.id)
                unit = g.unit_price if g is not None else None
                multiplier = CONTRACT_MULTIPLIER
            else:
                r = latest.get(p.symbol)
                unit = r.adj_close if r is not None else None
                multiplier = 1
            if unit is None:
                continue
            qty = float(p.quantity)
            marks.append({"b_id": p.id, "last_price": _dec(unit, 4), "market_value": _dec(qty * unit * multiplier, 2),
                          "unrealized_pnl": _dec(qty * (unit - float(p.entry_price)) * multiplier, 2),
                          "realized_pnl": Decimal("0.00"), "updated_at": now})
        if marks:
            conn.execute(update(ss.Position).where(ss.Position.id == bindparam("b_id")), marks)
        rows["positions_marked"] = len(marks)

        # -- Greeks: one row per option position -------------------------------------------
        g_rows = [{"id": uuid.uuid4(), "position_id": pos_id, "calculation_date": g.calculation_date,
                   "delta": _dec(g.delta, 6), "gamma": _dec(g.gamma, 6), "theta": _dec(g.theta, 4),
                   "vega": _dec(g.vega, 4), "rho": _dec(g.rho, 4), "delta_dollars": _dec(g.delta_dollars, 2),
                   "gamma_dollars": _dec(g.gamma_dollars, 2), "created_at": now, "updated_at": now}
                  for pos_id, g in greeks.items() if pos_id in pos_by_id]
        if g_rows:
            conn.execute(insert(ss.PositionGreeks), g_rows)
        rows["position_greeks"] = len(g_rows)

        # -- factors ----------------------------------------------------------------------------
        conn.execute(update(ss.FactorDefinition)
                     .where(ss.FactorDefinition.name.in_(UNESTIMATED_BACKEND_FACTORS), ss.FactorDefinition.is_active.is_(True))
                     .values(is_active=False, updated_at=now))
        backend_factor_id = dict(conn.execute(select(ss.FactorDefinition.name, ss.FactorDefinition.id)).all())
        our_factor = {f.id: backend_factor_id.get(BACKEND_FACTOR_NAME.get(f.name, ""))
                      for f in conn.execute(select(onb.FactorDefinition.__table__)).all()}
        f_date = _latest(conn, onb.FactorExposure.calculation_date, onb.FactorExposure.portfolio_id == pid,
                         onb.FactorExposure.model == PUBLISHED_FACTOR_MODEL, onb.FactorExposure.calculation_date <= as_of)
        fe_rows, pfe_rows = [], []
        if f_date is not None:
            for e in conn.execute(select(onb.FactorExposure.__table__).where(
                    onb.FactorExposure.portfolio_id == pid, onb.FactorExposure.calculation_date == f_date,
                    onb.FactorExposure.model == PUBLISHED_FACTOR_MODEL)).all():
                fid = our_factor.get(e.factor_id)
                value = _dec(e.exposure_value, 6)
                if fid is not None and value is not None:
                    fe_rows.append({"id": uuid.uuid4(), "portfolio_id": pid, "factor_id": fid, "calculation_date": f_date,
                                    "exposure_value": value, "exposure_dollar": _dec(e.exposure_dollar, 2),
                                    "created_at": now, "updated_at": now})
            for e in conn.execute(select(onb.PositionFactorExposure.__table__).where(
                    onb.PositionFactorExposure.portfolio_id == pid, onb.PositionFactorExposure.calculation_date == f_date,
                    onb.PositionFactorExposure.model == PUBLISHED_FACTOR_MODEL)).all():
                fid = our_factor.get(e.factor_id)
                value = _dec(e.exposure_value, 6)
                if fid is not None and value is not None and e.position_id in pos_by_id:
                    pfe_rows.append({"id": uuid.uuid4(), "position_id": e.position_id, "factor_id": fid,
                                     "calculation_date": f_date, "exposure_value": value,
                                     "quality_flag": (e.quality_flag or None) and e.quality_flag[:20], "created_at": now})
        if fe_rows:
            conn.execute(insert(ss.FactorExposure), fe_rows)
        if pfe_rows:
            conn.execute(insert(ss.PositionFactorExposure), pfe_rows)
        rows["factor_exposures"], rows["position_factor_exposures"] = len(fe_rows), len(pfe_rows)

        # -- rate betas -------------------------------------------------------------------------
        r_date = _latest(conn, onb.PositionInterestRateBeta.calculation_date,
                         onb.PositionInterestRateBeta.portfolio_id == pid, onb.PositionInterestRateBeta.calculation_date <= as_of)
        ir_rows = []
        if r_date is not None:
            for b in conn.execute(select(onb.PositionInterestRateBeta.__table__).where(
                    onb.PositionInterestRateBeta.portfolio_id == pid,
                    onb.PositionInterestRateBeta.calculation_date == r_date)).all():
                beta = _dec(None if b.rate_beta is None else b.rate_beta * 100.0, 6)
                if beta is not None and b.position_id in pos_by_id and abs(beta) < 100:
                    ir_rows.append({"id": uuid.uuid4(), "position_id": b.position_id, "ir_beta": beta,
                                    "r_squared": _dec(b.r_squared, 4), "calculation_date": r_date, "created_at": now})
        if ir_rows:
            conn.execute(insert(ss.PositionInterestRateBeta), ir_rows)
        rows["position_interest_rate_betas"] = len(ir_rows)

        rows.update(_publish_correlations(conn, pid, as_of, pos_by_id, now))
        rows.update(_publish_timeseries(conn, pid, as_of, now))
    return PublishResult(as_of=as_of, rows=rows)


def _publish_correlations(conn: Connection, pid: uuid.UUID, as_of: date, pos_by_id: dict, now: datetime) -> dict[str, int]:
    calc = conn.execute(
        select(onb.CorrelationCalculation.__table__).where(onb.CorrelationCalculation.portfolio_id == pid,
                                                 onb.CorrelationCalculation.calculation_date <= as_of)
        .order_by(onb.CorrelationCalculation.calculation_date.desc()).limit(1)).first()
    if calc is None or calc.overall_correlation is None:
        return {"correlation_calculations": 0, "pairwise_correlations": 0, "correlation_clusters": 0}
    pairs = conn.execute(select(onb.PairwiseCorrelation.__table__).where(
        onb.PairwiseCorrelation.correlation_calculation_id == calc.id)).all()
    included = calc.positions_included
    quality = "sufficient" if included >= 3 else ("limited" if included >= 2 else "insufficient")
    calc_id = uuid.uuid4()
    conn.execute(insert(ss.CorrelationCalculation), [{
        "id": calc_id, "portfolio_id": pid, "duration_days": calc.duration_days,
        "calculation_date": datetime.combine(calc.calculation_date, time(0, 0), tzinfo=timezone.utc),
        "overall_correlation": _dec(calc.overall_correlation, 6),
        "correlation_concentration_score": _dec(calc.correlation_concentration_score or 0.0, 6),
        "effective_positions": _dec(calc.effective_positions or 0.0, 2), "data_quality": quality,
        "filter_mode": "both", "correlation_threshold": Decimal("0.700000"),
        "positions_included": included, "positions_excluded": calc.positions_excluded, "created_at": now}])
    pair_rows = [{"id": uuid.uuid4(), "correlation_calculation_id": calc_id, "symbol_1": p.symbol_1, "symbol_2": p.symbol_2,
                  "correlation_value": _dec(p.correlation_value, 6), "data_points": p.data_points,
                  "statistical_significance": _dec(p.p_value, 6)}
                 for p in pairs if _dec(p.correlation_value, 6) is not None]
    if pair_rows:
        conn.execute(insert(ss.PairwiseCorrelation), pair_rows)
    rho = {(p.symbol_1, p.symbol_2): p.correlation_value for p in pairs}
    rho.update({(b, a): v for (a, b), v in list(rho.items())})
    n_clusters = 0
    for cl in conn.execute(select(onb.CorrelationCluster.__table__).where(
            onb.CorrelationCluster.correlation_calculation_id == calc.id)
            .order_by(onb.CorrelationCluster.cluster_number)).all():
        members = conn.execute(select(onb.CorrelationClusterPosition.__table__).where(
            onb.CorrelationClusterPosition.cluster_id == cl.id)).all()
        cluster_id = uuid.uuid4()
        conn.execute(insert(ss.CorrelationCluster), [{
            "id": cluster_id, "correlation_calculation_id": calc_id, "cluster_number": cl.cluster_number,
            "nickname": cl.nickname[:100], "avg_correlation": _dec(cl.avg_correlation, 6),
            "total_value": _dec(cl.total_value, 4), "portfolio_percentage": _dec(cl.portfolio_percentage, 6),
            "created_at": now}])
        symbols = [m.symbol for m in members]
        member_rows = []
        for m in members:
            if m.position_id not in pos_by_id:
                continue
            others = [rho[(m.symbol, s)] for s in symbols if s != m.symbol and (m.symbol, s) in rho]
            member_rows.append({"id": uuid.uuid4(), "cluster_id": cluster_id, "position_id": m.position_id,
                                "symbol": m.symbol, "value": _dec(m.value, 4),
                                "portfolio_percentage": _dec(m.portfolio_percentage, 6),
                                # mean correlation of the member with the cluster's other members
                                "correlation_to_cluster": _dec(sum(others) / len(others) if others else 1.0, 6)})
        if member_rows:
            conn.execute(insert(ss.CorrelationClusterPosition), member_rows)
        n_clusters += 1
    return {"correlation_calculations": 1, "pairwise_correlations": len(pair_rows), "correlation_clusters": n_clusters}


def _publish_timeseries(conn: Connection, pid: uuid.UUID, as_of: date, now: datetime) -> dict[str, int]:
    snaps = conn.execute(select(onb.PortfolioSnapshot.__table__).where(
        onb.PortfolioSnapshot.portfolio_id == pid, onb.PortfolioSnapshot.snapshot_date <= as_of)).all()
    snap_rows = [{"id": uuid.uuid4(), "portfolio_id": pid, "snapshot_date": s.snapshot_date,
                  "total_value": _dec(s.total_value, 2), "cash_value": _dec(s.cash_value, 2),
                  "long_value": _dec(s.long_value, 2), "short_value": _dec(s.short_value, 2),
                  "gross_exposure": _dec(s.gross_exposure, 2), "net_exposure": _dec(s.net_exposure, 2),
                  "daily_pnl": _dec(s.daily_pnl, 2), "daily_return": _dec(s.daily_return, 6),
                  "cumulative_pnl": _dec(s.cumulative_pnl, 2), "portfolio_delta": _dec(s.portfolio_delta, 2),
                  "portfolio_gamma": _dec(s.portfolio_gamma, 2), "portfolio_theta": _dec(s.portfolio_theta, 2),
                  "portfolio_vega": _dec(s.portfolio_vega, 2), "num_positions": s.num_positions,
                  "num_long_positions": s.num_long_positions, "num_short_positions": s.num_short_positions,
                  "created_at": now} for s in snaps]
    if snap_rows:
        conn.execute(insert(ss.PortfolioSnapshot), snap_rows)

    results = conn.execute(select(onb.StressTestResult.__table__).where(
        onb.StressTestResult.portfolio_id == pid, onb.StressTestResult.calculation_date <= as_of)).all()
    scenario_ids = _publish_scenarios(conn, {r.scenario_id for r in results}, now)
    stress_rows = []
    for r in results:
        pnl = _dec(r.portfolio_pnl, 2)
        if pnl is None or r.scenario_id not in scenario_ids:
            continue
        stress_rows.append({
            "id": uuid.uuid4(), "portfolio_id": pid, "scenario_id": scenario_ids[r.scenario_id],
            "calculation_date": r.calculation_date, "direct_pnl": pnl, "correlated_pnl": pnl,
            "correlation_effect": Decimal("0.00"), "factor_impacts": None,
            "calculation_metadata": {"source": "sigmasight-onboarding", "method": "full revaluation, multivariate betas, no caps",
                                     "gross_exposure": r.gross_exposure, "net_value": r.net_value,
                                     "pnl_pct_gross": r.pnl_pct_gross},
            "created_at": now})
    if stress_rows:
        conn.execute(insert(ss.StressTestResult), stress_rows)
    return {"portfolio_snapshots": len(snap_rows), "stress_test_scenarios": len(scenario_ids),
            "stress_test_results": len(stress_rows)}


def _publish_scenarios(conn: Connection, our_ids: set[str], now: datetime) -> dict[str, uuid.UUID]:
    """Upsert our scenario definitions by `scenario_id`; returns our id -> backend UUID."""
    if not our_ids:
        return {}
    ours = {s.id: s for s in conn.execute(select(onb.StressTestScenario.__table__).where(onb.StressTestScenario.id.in_(our_ids))).all()}
    existing = dict(conn.execute(select(ss.StressTestScenario.scenario_id, ss.StressTestScenario.id)
                                 .where(ss.StressTestScenario.scenario_id.in_([i[:50] for i in ours]))).all())
    out: dict[str, uuid.UUID] = {}
    for sid, s in ours.items():
        key = sid[:50]
        definition = dict(s.definition or {})
        values = {"name": s.name[:255], "description": (definition.get("description") or None),
                  "category": s.category[:50], "severity": _severity({**definition, "category": s.category}),
                  "shock_config": definition, "active": True, "updated_at": now}
        if key in existing:
            conn.execute(update(ss.StressTestScenario).where(ss.StressTestScenario.id == existing[key]).values(**values))
            out[sid] = existing[key]
        else:
            new_id = uuid.uuid4()
            conn.execute(insert(ss.StressTestScenario).values(id=new_id, scenario_id=key, created_at=now, **values))
            out[sid] = new_id
    return out


def published_counts(engine: Engine, portfolio_id: Any) -> dict[str, int]:
    """Rows the backend can see for the client, per contract table (for checks and status)."""
    pid = _uuid(portfolio_id)
    positions = select(ss.Position.id).where(ss.Position.portfolio_id == pid)
    with engine.connect() as conn:
        def count(model, *where) -> int:
            return conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one()

        symbols = select(ss.Position.symbol).where(ss.Position.portfolio_id == pid)
        return {
            "positions": count(ss.Position, ss.Position.portfolio_id == pid),
            "positions_without_last_price": count(ss.Position, ss.Position.portfolio_id == pid, ss.Position.last_price.is_(None),
                                                  ss.Position.deleted_at.is_(None)),
            "market_data_cache": count(ss.MarketDataCache, ss.MarketDataCache.symbol.in_(symbols)),
            "market_data_cache_duplicates": conn.execute(
                select(func.count()).select_from(
                    select(ss.MarketDataCache.symbol).where(ss.MarketDataCache.symbol.in_(symbols))
                    .group_by(ss.MarketDataCache.symbol).having(func.count() > 1).subquery())).scalar_one(),
            "factor_exposures": count(ss.FactorExposure, ss.FactorExposure.portfolio_id == pid),
            "position_factor_exposures": count(ss.PositionFactorExposure, ss.PositionFactorExposure.position_id.in_(positions)),
            "position_interest_rate_betas": count(ss.PositionInterestRateBeta, ss.PositionInterestRateBeta.position_id.in_(positions)),
            "position_greeks": count(ss.PositionGreeks, ss.PositionGreeks.position_id.in_(positions)),
            "correlation_calculations": count(ss.CorrelationCalculation, ss.CorrelationCalculation.portfolio_id == pid),
            # positions the latest correlation run let through the backend's significance filter (None: no run yet)
            "correlation_eligible_positions": conn.execute(
                select(onb.CorrelationCalculation.positions_included).where(onb.CorrelationCalculation.portfolio_id == pid)
                .order_by(onb.CorrelationCalculation.calculation_date.desc()).limit(1)).scalar(),
            "portfolio_snapshots": count(ss.PortfolioSnapshot, ss.PortfolioSnapshot.portfolio_id == pid),
            "stress_test_results": count(ss.StressTestResult, ss.StressTestResult.portfolio_id == pid),
        }

