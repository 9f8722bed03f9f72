"""Publication into the SigmaSight backend's tables, on SQLite and PostgreSQL.

Expected values come from the shipped prices and the runbook book's hand valuation
(test_timeseries.john_value), not from the publishing code.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from sigmasight_onboarding.db import contract as ss
from sigmasight_onboarding.db import models as onb
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.portfolio_reads import client_portfolio
from sigmasight_onboarding.db.publish import BACKEND_FACTOR_ETFS, publish_client, published_counts

from .test_timeseries import DAY, JOHN, john, john_value, prices  # noqa: F401  (fixture)


def _q(value: float, places: int) -> Decimal:
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places))


def test_publish_fills_what_the_backend_reads(john):
    env, _instance = john
    engine = get_engine(env["db_url"])
    pid = client_portfolio(engine, JOHN).portfolio_id
    first = publish_client(engine, pid, DAY)
    again = publish_client(engine, pid, DAY)  # idempotent: same rows, nothing duplicated
    assert first.rows == again.rows
    counts = published_counts(engine, pid)
    # the runbook book (1,000 AAPL, 800 MSFT, 500 GOOGL, -300 TSLA: each far above $10,000 and 1 % of gross)
    assert counts["correlation_eligible_positions"] >= 4 and counts["correlation_calculations"] == 1

    held = ["AAPL", "MSFT", "GOOGL", "TSLA", "SPY"]
    px = prices(held + [s for s in BACKEND_FACTOR_ETFS if s not in held])
    with engine.connect() as conn:
        cache = {r.symbol: r for r in conn.execute(select(ss.MarketDataCache.__table__))}
        # one current row per symbol, the as-of close rounded to the column's 4 decimals
        assert conn.execute(select(func.count()).select_from(ss.MarketDataCache)).scalar_one() == len(cache)
        for symbol in held:
            assert cache[symbol].date == DAY and cache[symbol].close == _q(px.loc[DAY, symbol], 4)
            assert cache[symbol].data_source == "sigmasight-onboarding:file"
        assert {"SPY", "VTV", "VUG", "MTUM", "QUAL", "USMV"} <= set(cache)

        positions = {p.symbol: p for p in conn.execute(select(ss.Position.__table__).where(ss.Position.portfolio_id == pid))}
        for symbol, qty in (("AAPL", 1000), ("MSFT", 800), ("GOOGL", 500), ("TSLA", -300)):
            p = positions[symbol]
            assert p.last_price == _q(px.loc[DAY, symbol], 4)
            assert float(p.market_value) == pytest.approx(qty * px.loc[DAY, symbol], abs=0.006)
            assert float(p.unrealized_pnl) == pytest.approx(qty * (px.loc[DAY, symbol] - float(p.entry_price)), abs=0.006)
            assert p.realized_pnl == Decimal("0.00")

        snap = conn.execute(select(ss.PortfolioSnapshot.__table__).where(
            ss.PortfolioSnapshot.portfolio_id == pid, ss.PortfolioSnapshot.snapshot_date == DAY)).one()
        assert float(snap.total_value) == pytest.approx(john_value(prices(["AAPL", "MSFT", "GOOGL", "TSLA", "SPY"],
                                                                          start=date(2025, 1, 1)), DAY), abs=0.006)

        factors = dict(conn.execute(select(ss.FactorDefinition.name, ss.FactorDefinition.is_active)).all())
        assert factors == {"Market Beta": True, "Momentum": True, "Value": True, "Growth": True, "Quality": True,
                           "Size": True, "Low Volatility": True, "Short Interest": False}
        served = conn.execute(select(ss.FactorDefinition.name, ss.FactorExposure.exposure_value)
                              .join(ss.FactorDefinition, ss.FactorDefinition.id == ss.FactorExposure.factor_id)
                              .where(ss.FactorExposure.portfolio_id == pid)).all()
        ours = dict(conn.execute(select(onb.FactorDefinition.name, onb.FactorExposure.exposure_value)
                                 .join(onb.FactorDefinition, onb.FactorDefinition.id == onb.FactorExposure.factor_id)
                                 .where(onb.FactorExposure.portfolio_id == pid, onb.FactorExposure.model == "multivariate",
                                        onb.FactorExposure.calculation_date == DAY)).all())
        assert len(served) == 7
        backend_name = {"Market": "Market Beta"}
        assert {n: float(v) for n, v in served} == pytest.approx({backend_name.get(n, n): v for n, v in ours.items()}, abs=5e-7)

        # ir_beta is per +1 percentage point (100 bp) of the 10-year yield; ours is per bp
        ir = dict(conn.execute(select(ss.PositionInterestRateBeta.position_id, ss.PositionInterestRateBeta.ir_beta)).all())
        per_bp = dict(conn.execute(select(onb.PositionInterestRateBeta.position_id, onb.PositionInterestRateBeta.rate_beta)
                                   .where(onb.PositionInterestRateBeta.rate_beta.is_not(None))).all())
        assert ir and set(ir) == set(per_bp)
        assert all(float(ir[k]) == pytest.approx(per_bp[k] * 100, abs=5e-7) for k in ir)

        stress = dict(conn.execute(select(ss.StressTestScenario.scenario_id, ss.StressTestResult.correlated_pnl)
                                   .join(ss.StressTestScenario, ss.StressTestScenario.id == ss.StressTestResult.scenario_id)
                                   .where(ss.StressTestResult.calculation_date == DAY)).all())
        ours_stress = dict(conn.execute(select(onb.StressTestResult.scenario_id, onb.StressTestResult.portfolio_pnl)
                                        .where(onb.StressTestResult.calculation_date == DAY)).all())
        assert set(stress) == set(ours_stress) and len(stress) >= 18
        assert all(float(stress[k]) == pytest.approx(ours_stress[k], abs=0.006) for k in stress)

        calc = conn.execute(select(ss.CorrelationCalculation.__table__)).one()
        assert calc.duration_days == 90 and calc.calculation_date.date() == DAY and calc.data_quality == "sufficient"

    counts = published_counts(engine, pid)
    assert counts["market_data_cache_duplicates"] == 0 and counts["positions_without_last_price"] == 0


def test_backend_check_wants_correlations_only_when_two_positions_pass_the_filter():
    """A correlations row is required unless the latest correlation run let fewer than 2 positions through
    the backend's significance filter (≥ $10,000 and ≥ 1 % of gross) — e.g. 8,000 small positions, where
    the backend's own correlation service has nothing to compute either."""
    from sigmasight_onboarding.assets.backend import REQUIRED, backend_gaps

    filled = dict.fromkeys(REQUIRED, 1)
    missing = ["no correlation_calculations row"]
    assert backend_gaps({**filled, "correlation_calculations": 0, "correlation_eligible_positions": 5}, 8) == missing
    assert backend_gaps({**filled, "correlation_calculations": 0, "correlation_eligible_positions": None}, 8) == missing
    assert backend_gaps({**filled, "correlation_calculations": 0, "correlation_eligible_positions": 1}, 8_000) == []
    assert backend_gaps({**filled, "correlation_calculations": 0, "correlation_eligible_positions": 0}, 8_000) == []
    assert backend_gaps({**filled, "correlation_calculations": 1, "correlation_eligible_positions": 5}, 8) == []
    assert backend_gaps({**filled, "correlation_calculations": 0}, 1) == []  # one position: nothing to correlate

