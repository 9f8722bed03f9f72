"""Group `timeseries`: per client and NYSE session — snapshots, risk metrics, stress tests.

One step computes the three assets of a (client, date) partition from the same loaded prices
(each can also be materialised alone). Everything is point-in-time: prices up to the date,
betas estimated on the 252 sessions before it, options revalued with Black–Scholes on that date.
A date that is not an NYSE session, or after the market data ends, is rejected with the reason.
"""

import os
import warnings
from datetime import date

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetSpec,
    Failure,
    MetadataValue,
    MultiToSingleDimensionPartitionMapping,
    Output,
    multi_asset,
)
from sqlalchemy import and_

from sigmasight_onboarding.analytics.factors import FACTOR_ETFS, betas_wide, multivariate_betas
from sigmasight_onboarding.analytics.greeks import realised_volatility
from sigmasight_onboarding.analytics.rates import interest_rate_betas
from sigmasight_onboarding.analytics.returns import simple_returns
from sigmasight_onboarding.analytics.risk import compute_risk_metrics
from sigmasight_onboarding.analytics.snapshots import portfolio_snapshot_series, value_positions
from sigmasight_onboarding.analytics.stress import historical_replay_scenarios, run_stress_tests
from sigmasight_onboarding.assets.market_data import backfill_prices, reference_symbols
from sigmasight_onboarding.calendar import is_session, last_sessions
from sigmasight_onboarding.db.bulk import replace_rows
from sigmasight_onboarding.db.market_data import dates_by_symbol, load_prices, price_matrix
from sigmasight_onboarding.db.models import (
    PortfolioRiskMetrics,
    PortfolioSnapshot,
    StressTestResult,
    StressTestScenario,
    utcnow,
)
from sigmasight_onboarding.db.portfolio_reads import active_positions_frame, client_portfolio, is_option_type, price_symbols
from sigmasight_onboarding.partitions import client_date_partitions
from sigmasight_onboarding.resources.database import SigmaSightDatabase
from sigmasight_onboarding.resources.market_data_resource import MarketDataResource
from sigmasight_onboarding.scenarios import load_scenarios

GROUP = "timeseries"
RISK_LOOKBACK = int(os.environ.get("SIGMASIGHT_RISK_LOOKBACK", "252"))
BACKTEST_SESSIONS = 250
# sessions of prices a date needs: risk look-back + backtest + the window's first return
HISTORY_SESSIONS = RISK_LOOKBACK + BACKTEST_SESSIONS + 5
MC_PATHS = 10_000

with warnings.catch_warnings():  # beta API, but the documented way to map client × date -> client
    warnings.simplefilter("ignore")
    _by_client = MultiToSingleDimensionPartitionMapping(partition_dimension_name="clients")


def _dep(key: str) -> AssetDep:
    return AssetDep(key, partition_mapping=_by_client)


def _f(value):
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def scenario_definition(s) -> dict:
    return {"factor_shocks": dict(s.factor_shocks), "rates_bp": s.rates_bp, "volatility_multiplier": s.volatility_multiplier,
            "description": s.description, "symbol_returns": {k: float(v) for k, v in dict(s.symbol_returns).items()}}


@multi_asset(
    specs=[
        AssetSpec("portfolio_snapshots", group_name=GROUP, kinds={"sql"},
                  deps=[_dep("portfolio_positions"), _dep("price_history"), _dep("position_greeks")],
                  description="End-of-day portfolio value, exposures, P&L and Greeks per client and session."),
        AssetSpec("portfolio_risk_metrics", group_name=GROUP, kinds={"sql", "numpy"},
                  deps=[_dep("portfolio_positions"), _dep("price_history"), _dep("factor_exposures")],
                  description="VaR (historical, parametric, Monte Carlo), ES 97.5 %, volatility, beta, drawdown, "
                              "Sharpe/Sortino, Euler contributions and a Kupiec backtest of the current positions."),
        AssetSpec("stress_test_results", group_name=GROUP, kinds={"sql", "numpy"},
                  deps=[_dep("portfolio_positions"), _dep("factor_exposures"), _dep("interest_rate_betas")],
                  description="P&L of the 18 SigmaSight scenarios plus historical replays, from the multivariate betas."),
    ],
    check_specs=[
        AssetCheckSpec("snapshot_valid", asset="portfolio_snapshots", blocking=True,
                       description="Every value finite; long − |short| = net; gross = long + |short|."),
        AssetCheckSpec("risk_metrics_consistent", asset="portfolio_risk_metrics", blocking=True,
                       description="Finite; VaR99 ≥ VaR95 ≥ 0; ES97.5 ≥ VaR95; Euler contributions sum to the total."),
        AssetCheckSpec("stress_results_complete", asset="stress_test_results", blocking=True,
                       description="A finite result for every scenario of the scenario file and the replays."),
    ],
    partitions_def=client_date_partitions,
    can_subset=True,
)
def portfolio_timeseries(context: AssetExecutionContext, database: SigmaSightDatabase, market_data: MarketDataResource):
    keys = context.partition_key.keys_by_dimension
    client_key, day = keys["clients"], date.fromisoformat(keys["date"])
    engine = database.engine()
    data_end = market_data.as_of()
    if not is_session(day):
        raise Failure(f"{day} is not an NYSE session (exchange holiday): nothing to compute", allow_retries=False)
    if day > data_end:
        raise Failure(f"{day} is after the newest session of the market data ({data_end}): no prices yet", allow_retries=False)
    client = client_portfolio(engine, client_key)
    positions = active_positions_frame(engine, client.portfolio_id)
    positions = positions[positions["entry_date"] <= day]
    if positions.empty:
        raise Failure(f"{client_key} held no position on {day} (every entry_date is later)", allow_retries=False)
    symbols = sorted(set(price_symbols(positions)) | set(reference_symbols()))
    sessions = last_sessions(day, HISTORY_SESSIONS)
    long = load_prices(engine, symbols, sessions[0], sessions[-1])
    fetched = backfill_prices(engine, market_data.chain(), symbols, sessions, cached=dates_by_symbol(long, symbols))
    if fetched["provider_calls"]:  # re-read: rows may also have been stored meanwhile by a concurrent run
        long = load_prices(engine, symbols, sessions[0], sessions[-1])
    prices = price_matrix(engine, symbols, sessions, long=long)
    held = price_symbols(positions)
    missing_today = [s for s in held if not np.isfinite(prices.at[day, s])]
    if missing_today:
        raise Failure(f"no price on {day} for {', '.join(missing_today)}; refusing to value with stale prices",
                      metadata={"failures": MetadataValue.json(fetched["failures"])})

    irx = prices["^IRX"]
    rates = (irx / 100.0).ffill()
    rate = float(rates.loc[day]) if np.isfinite(rates.loc[day]) else 0.0
    underlyings = sorted(set(positions.loc[is_option_type(positions["position_type"]), "underlying_symbol"]))
    vols = realised_volatility(prices.loc[:day, underlyings], window=63) if underlyings else pd.Series(dtype=float)
    selected = context.selected_output_names

    if "portfolio_snapshots" in selected:
        yield from _snapshots(engine, client, positions, prices, day, rates, vols)
    if "portfolio_risk_metrics" in selected:
        yield from _risk(engine, client, positions, prices, day, rate, vols)
    if "stress_test_results" in selected:
        yield from _stress(engine, client, positions, prices, day, rate, vols)


def _snapshots(engine, client, positions, prices, day, rates, vols):
    prev = last_sessions(day, 2)[0]
    series = portfolio_snapshot_series(positions, prices, [prev, day], rates, vols=vols)
    row = series.loc[pd.Timestamp(day)] if pd.Timestamp(day) in series.index else series.iloc[-1]
    note = None
    if row["missing_prices"]:
        raise Failure(f"missing prices on {day}: {row['missing_prices']}")
    if series.iloc[0]["missing_prices"]:
        note = f"previous session {prev} has missing prices ({series.iloc[0]['missing_prices']}): daily P&L left empty"
    record = {
        "portfolio_id": client.portfolio_id, "snapshot_date": day,
        "total_value": float(row["total_value"]), "cash_value": 0.0, "long_value": float(row["long_value"]),
        "short_value": float(row["short_value"]), "gross_exposure": float(row["gross_exposure"]),
        "net_exposure": float(row["net_exposure"]), "daily_pnl": _f(row["daily_pnl"]), "daily_return": _f(row["daily_return"]),
        "cumulative_pnl": float(row["cumulative_pnl"]), "portfolio_delta": float(row["portfolio_delta"]),
        "portfolio_gamma": float(row["portfolio_gamma"]), "portfolio_theta": float(row["portfolio_theta"]),
        "portfolio_vega": float(row["portfolio_vega"]), "num_positions": int(row["num_positions"]),
        "num_long_positions": int(row["num_long"]), "num_short_positions": int(row["num_short"]), "created_at": utcnow(),
    }
    t = PortfolioSnapshot.__table__
    with engine.begin() as conn:
        replace_rows(conn, t, and_(t.c.portfolio_id == client.portfolio_id, t.c.snapshot_date == day), [record])
    numbers = [v for k, v in record.items() if isinstance(v, float)]
    consistent = (abs(record["long_value"] + record["short_value"] - record["net_exposure"]) < 0.01
                  and abs(record["long_value"] - record["short_value"] - record["gross_exposure"]) < 0.01)
    yield Output(None, output_name="portfolio_snapshots", metadata={
        "date": day.isoformat(), "total_value": record["total_value"], "gross_exposure": record["gross_exposure"],
        "daily_pnl": record["daily_pnl"], "positions": record["num_positions"], "note": note or "none"})
    yield AssetCheckResult(asset_key="portfolio_snapshots", check_name="snapshot_valid",
                           passed=bool(all(np.isfinite(numbers)) and consistent),
                           metadata={"daily_pnl_available": record["daily_pnl"] is not None})


RISK_COLUMNS = [
    "var_95_historical", "var_99_historical", "var_95_parametric", "var_99_parametric", "var_95_monte_carlo",
    "var_99_monte_carlo", "var_95_historical_10d", "var_99_historical_10d", "es_975_historical", "es_975_parametric",
    "es_975_monte_carlo", "annualised_volatility", "max_drawdown", "sharpe_ratio", "sortino_ratio",
]


def _risk(engine, client, positions, prices, day, rate, vols):
    metrics = compute_risk_metrics(positions, prices, as_of=day, vols=vols, rate=rate, lookback=RISK_LOOKBACK,
                                   backtest_sessions=BACKTEST_SESSIONS, n_paths=MC_PATHS, seed=42)
    backtest = metrics.get("backtest") or {}
    record = {
        "portfolio_id": client.portfolio_id, "calculation_date": day, "quality_flag": metrics["quality_flag"],
        "n_observations": int(metrics.get("n_observations") or 0), "lookback_sessions": RISK_LOOKBACK,
        "gross_exposure": _f(metrics.get("gross_exposure")), "net_value": _f(metrics.get("net_value")),
        **{c: _f(metrics.get(c)) for c in RISK_COLUMNS},
        "beta_spy": _f(metrics.get("beta_SPY")),
        "backtest_exceedances_95": backtest.get("exceedances_95"), "backtest_exceedances_99": backtest.get("exceedances_99"),
        "backtest_sessions": backtest.get("n_test"), "kupiec_p_95": _f(backtest.get("kupiec_p_95")),
        "kupiec_p_99": _f(backtest.get("kupiec_p_99")),
        "details": {
            "es": {k: _f(v) for k, v in metrics.items() if k.startswith("es_")},
            "component_var_95_parametric": {k: _f(v) for k, v in (metrics.get("component_var_95_parametric") or {}).items()},
            "component_var_99_parametric": {k: _f(v) for k, v in (metrics.get("component_var_99_parametric") or {}).items()},
            "component_var_99_historical": {str(k): _f(v) for k, v in (metrics.get("component_var_99_historical") or {}).items()},
            "exposures": {k: _f(v) for k, v in (metrics.get("exposures") or {}).items()},
            "rate": rate, "method": "1-day VaR; 10-day = 1-day × √10; MC seed 42, 10,000 paths; ES at 97.5 %",
            "missing_symbols": metrics.get("missing_symbols"),
        },
        "created_at": utcnow(),
    }
    for k, v in (backtest or {}).items():
        if isinstance(v, (np.integer,)):
            backtest[k] = int(v)
    for key in ("backtest_exceedances_95", "backtest_exceedances_99", "backtest_sessions"):
        record[key] = int(record[key]) if record[key] is not None else None
    t = PortfolioRiskMetrics.__table__
    with engine.begin() as conn:
        replace_rows(conn, t, and_(t.c.portfolio_id == client.portfolio_id, t.c.calculation_date == day), [record])
    problems = risk_consistency_problems(record)
    yield Output(None, output_name="portfolio_risk_metrics", metadata={
        "date": day.isoformat(), "quality_flag": record["quality_flag"], "observations": record["n_observations"],
        "var_95_historical": record["var_95_historical"], "var_99_historical": record["var_99_historical"],
        "var_99_parametric": record["var_99_parametric"], "var_99_monte_carlo": record["var_99_monte_carlo"],
        "es_975_historical": record["es_975_historical"], "annualised_volatility": record["annualised_volatility"],
        "kupiec_p_99": record["kupiec_p_99"]})
    yield AssetCheckResult(asset_key="portfolio_risk_metrics", check_name="risk_metrics_consistent", passed=not problems,
                           metadata={"problems": "; ".join(problems) or "none", "quality_flag": record["quality_flag"]})


def risk_consistency_problems(record: dict) -> list[str]:
    """Rules every stored risk row obeys (a limited-history row must carry no numbers)."""
    if record["quality_flag"] != "ok":
        return [] if all(record[c] is None for c in RISK_COLUMNS) else [f"{record['quality_flag']} row carries numbers"]
    problems = [f"{c} is not finite" for c in RISK_COLUMNS if record[c] is None]
    if problems:
        return problems
    for method in ("historical", "parametric", "monte_carlo"):
        v95, v99 = record[f"var_95_{method}"], record[f"var_99_{method}"]
        if not (v99 >= v95 >= 0):
            problems.append(f"{method}: VaR99 {v99:.2f} ≥ VaR95 {v95:.2f} ≥ 0 fails")
        if record[f"es_975_{method}"] < v95:
            problems.append(f"{method}: ES97.5 below VaR95")
    for level in ("95", "99"):
        parts = record["details"][f"component_var_{level}_parametric"]
        if parts and abs(sum(v for v in parts.values() if v is not None) - record[f"var_{level}_parametric"]) > 1e-6 * max(1.0, record[f"var_{level}_parametric"]):
            problems.append(f"Euler contributions at {level} % do not sum to the parametric VaR")
    hist = record["details"]["component_var_99_historical"]
    if hist and abs(sum(v for v in hist.values() if v is not None) - record["var_99_historical"]) > 1e-6 * max(1.0, record["var_99_historical"]):
        problems.append("historical contributions do not sum to the historical VaR 99")
    return problems


def _stress(engine, client, positions, prices, day, rate, vols):
    returns = simple_returns(prices.loc[:day])
    price_syms = sorted(set(price_symbols(positions)))
    betas, _diag = multivariate_betas(returns.reindex(columns=price_syms), returns[list(FACTOR_ETFS.values())], window=252)
    wide = betas_wide(betas).fillna(0.0)
    rate_betas = interest_rate_betas(returns.reindex(columns=price_syms), prices.loc[:day, "^TNX"], returns["TLT"], window=252)["rate_beta"].fillna(0.0)
    spots = prices.loc[day]
    valued = value_positions(positions, spots, day, rate, vols=vols)
    scenarios = load_scenarios()
    replays = historical_replay_scenarios(prices.loc[:day], lookback=RISK_LOOKBACK, window=20)
    stress_positions = valued[["symbol", "market_value", "is_option", "underlying_symbol", "quantity", "strike",
                               "expiration_date", "position_type"]]
    result = run_stress_tests(stress_positions, wide, rate_betas, scenarios + replays, as_of=day, spots=spots, rate=rate, vols=vols,
                              factor_loadings=_diag["loadings"])  # issue 15: orthogonal style factors
    now = utcnow()
    scenario_rows = [{"id": s.id, "name": s.name, "category": s.category,
                      "source": "historical_replay" if s in replays else "scenario_file",
                      "file_version": None if s in replays else 1, "definition": scenario_definition(s), "updated_at": now}
                     for s in scenarios + replays]
    symbols = positions["symbol"].to_dict()
    rows = []
    for sid, summary in result.summary.iterrows():
        per_position = result.position_pnl.loc[sid]
        rows.append({
            "portfolio_id": client.portfolio_id, "scenario_id": sid, "calculation_date": day,
            "portfolio_pnl": float(summary["portfolio_pnl"]), "pnl_pct_gross": _f(summary["pnl_to_gross"]),
            "pnl_pct_net": _f(summary["pnl_to_net"]), "gross_exposure": float(summary["gross_exposure"]),
            "net_value": float(summary["net_value"]),
            "position_pnl": {symbols[pid]: round(float(v), 2) for pid, v in per_position.items() if np.isfinite(v)},
            "created_at": now,
        })
    st, rt = StressTestScenario.__table__, StressTestResult.__table__
    with engine.begin() as conn:
        existing = {r[0] for r in conn.execute(st.select().with_only_columns(st.c.id).where(st.c.id.in_([s["id"] for s in scenario_rows])))}
        new = [s for s in scenario_rows if s["id"] not in existing]
        if new:
            conn.execute(st.insert(), new)
        for s in scenario_rows:
            if s["id"] in existing:
                conn.execute(st.update().where(st.c.id == s["id"]).values(name=s["name"], category=s["category"],
                                                                         definition=s["definition"], updated_at=now))
        replace_rows(conn, rt, and_(rt.c.portfolio_id == client.portfolio_id, rt.c.calculation_date == day), rows)
    complete = len(rows) == len(scenarios) + len(replays) and all(np.isfinite(r["portfolio_pnl"]) for r in rows)
    worst = min(rows, key=lambda r: r["portfolio_pnl"])
    yield Output(None, output_name="stress_test_results", metadata={
        "date": day.isoformat(), "scenarios": len(rows),
        "worst_scenario": f"{worst['scenario_id']}: {worst['portfolio_pnl']:,.0f} USD",
        "results_usd": MetadataValue.json({r["scenario_id"]: round(r["portfolio_pnl"], 2) for r in rows}),
        "method": "multivariate betas (SPY + orthogonalised styles), rate betas per bp, options repriced with Black–Scholes; no loss caps"})
    yield AssetCheckResult(asset_key="stress_test_results", check_name="stress_results_complete", passed=bool(complete),
                           metadata={"expected": len(scenarios) + len(replays), "stored": len(rows)})
