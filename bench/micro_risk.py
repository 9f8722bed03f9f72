"""Micro-benchmark: the per-(client, session) analytics of the ``timeseries`` asset, on real data.

Book: the 30-position demo hedge-fund portfolio (22 equities long/short + 8 options, from
``data/imports/demo_hedgefundstyle@sigmasight.com/portfolio.csv``), shaped like
``db.portfolio_reads.active_positions_frame``. Prices: ``data/market/daily_adj_close_extract.parquet``,
the last 507 sessions (risk look-back 252 + back-test 250 + 5) up to each session, for the held price
symbols plus the reference symbols (factor ETFs, ^TNX, ^IRX, TLT) — a date-object index like
``db.market_data.price_matrix``.

Per session, exactly the calls ``assets/timeseries.py`` makes:

* risk      ``compute_risk_metrics(..., lookback=252, backtest_sessions=250, n_paths=10_000, seed=42)``
* snapshots ``portfolio_snapshot_series`` over (previous session, session)
* stress    ``value_positions`` + ``load_scenarios`` + ``historical_replay_scenarios`` + ``run_stress_tests``
            (the betas / rate betas are estimated once per session OUTSIDE the timed block — other
            modules; their time is reported separately for information)

Usage::

    .venv/bin/python -m bench.micro_risk                     # timings
    .venv/bin/python -m bench.micro_risk --save /tmp/a.pkl   # also store every result
    .venv/bin/python -m bench.micro_risk --compare /tmp/a.pkl  # check results equal a stored run

``--compare`` checks every number of every result against the stored run with rel 1e-9
(abs 1e-9 × the book's gross exposure for dollar amounts near zero) and exact equality otherwise.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sigmasight_onboarding.analytics.factors import FACTOR_ETFS, betas_wide, multivariate_betas  # noqa: E402
from sigmasight_onboarding.analytics.greeks import realised_volatility  # noqa: E402
from sigmasight_onboarding.analytics.rates import interest_rate_betas  # noqa: E402
from sigmasight_onboarding.analytics.returns import simple_returns  # noqa: E402
from sigmasight_onboarding.analytics.risk import compute_risk_metrics  # noqa: E402
from sigmasight_onboarding.analytics.snapshots import portfolio_snapshot_series, value_positions  # noqa: E402
from sigmasight_onboarding.analytics.stress import historical_replay_scenarios, run_stress_tests  # noqa: E402
from sigmasight_onboarding.scenarios import load_scenarios  # noqa: E402

MARKET = REPO / "data" / "market" / "daily_adj_close_extract.parquet"
PORTFOLIO = REPO / "data" / "imports" / "demo_hedgefundstyle@sigmasight.com" / "portfolio.csv"
REFERENCE_SYMBOLS = sorted(set(FACTOR_ETFS.values()) | {"^TNX", "^IRX", "TLT"})
RISK_LOOKBACK = 252
BACKTEST_SESSIONS = 250
HISTORY_SESSIONS = RISK_LOOKBACK + BACKTEST_SESSIONS + 5
MC_PATHS = 10_000
OPTION_TYPES = ("LC", "LP", "SC", "SP")


def load_positions() -> pd.DataFrame:
    """The demo CSV as an ``active_positions_frame``-shaped table (index = position id)."""
    raw = pd.read_csv(PORTFOLIO, dtype=str, keep_default_na=False)
    frame = pd.DataFrame(
        {
            "symbol": raw["symbol"],
            "position_type": raw["position_type"],
            "quantity": pd.to_numeric(raw["quantity"]).astype(float),
            "entry_price": pd.to_numeric(raw["entry_price"]).astype(float),
            "entry_date": [date.fromisoformat(d) for d in raw["entry_date"]],
            "underlying_symbol": [u or None for u in raw["underlying_symbol"]],
            "strike": pd.to_numeric(raw["strike_price"].replace("", np.nan)).astype(float),
            "expiration_date": [date.fromisoformat(d) if d else None for d in raw["expiration_date"]],
            "tags": [sorted(t.split(",")) if t else [] for t in raw["tags"]],
        }
    )
    frame.index = pd.Index([f"pos-{i:03d}" for i in range(len(frame))], name="id")
    return frame.sort_values("symbol")


def price_syms(positions: pd.DataFrame) -> list[str]:
    opt = positions["position_type"].isin(OPTION_TYPES)
    return sorted(set(positions.loc[~opt, "symbol"]) | set(positions.loc[opt, "underlying_symbol"].dropna()))


def load_matrix(symbols: list[str]) -> pd.DataFrame:
    long = pd.read_parquet(MARKET)
    m = long.pivot(index="date", columns="symbol", values="adj_close").sort_index()
    m.index = pd.Index([date.fromisoformat(str(d)[:10]) for d in m.index], name="date")
    return m.reindex(columns=symbols).astype(float)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def run(n_sessions: int, repeat: int) -> tuple[dict[str, list[float]], dict[str, Any]]:
    positions = load_positions()
    held = price_syms(positions)
    symbols = sorted(set(held) | set(REFERENCE_SYMBOLS))
    full = load_matrix(symbols)
    days = list(full.index[-n_sessions:])
    n_opt = int(positions["position_type"].isin(OPTION_TYPES).sum())
    print(f"book: {len(positions)} positions ({n_opt} options), {len(symbols)} symbols, sessions {days[0]} .. {days[-1]}")

    timings: dict[str, list[float]] = {k: [] for k in ("risk", "snapshots", "value_positions", "load_scenarios",
                                                       "replays", "run_stress_tests", "session_total", "betas_other")}
    results: dict[str, Any] = {}
    for day in days:
        pos_i = full.index.get_loc(day)
        prices = full.iloc[max(0, pos_i + 1 - HISTORY_SESSIONS): pos_i + 1]
        positions_d = positions[positions["entry_date"] <= day]
        irx = prices["^IRX"]
        rates = (irx / 100.0).ffill()
        rate = float(rates.loc[day]) if np.isfinite(rates.loc[day]) else 0.0
        opt = positions_d["position_type"].isin(OPTION_TYPES)
        underlyings = sorted(set(positions_d.loc[opt, "underlying_symbol"]))
        vols = realised_volatility(prices.loc[:day, underlyings], window=63) if underlyings else pd.Series(dtype=float)
        prev = full.index[pos_i - 1]

        # betas: other modules, not timed in the session total
        t0 = time.perf_counter()
        returns = simple_returns(prices.loc[:day])
        psyms = price_syms(positions_d)
        betas, _ = multivariate_betas(returns.reindex(columns=psyms), returns[list(FACTOR_ETFS.values())], window=252)
        wide = betas_wide(betas).fillna(0.0)
        rate_betas = interest_rate_betas(returns.reindex(columns=psyms), prices.loc[:day, "^TNX"], returns["TLT"],
                                         window=252)["rate_beta"].fillna(0.0)
        timings["betas_other"].append(time.perf_counter() - t0)

        t_risk, metrics = timed(lambda: compute_risk_metrics(
            positions_d, prices, as_of=day, vols=vols, rate=rate, lookback=RISK_LOOKBACK,
            backtest_sessions=BACKTEST_SESSIONS, n_paths=MC_PATHS, seed=42), repeat)
        t_snap, snaps = timed(lambda: portfolio_snapshot_series(positions_d, prices, [prev, day], rates, vols=vols), repeat)
        spots = prices.loc[day]
        t_val, valued = timed(lambda: value_positions(positions_d, spots, day, rate, vols=vols), repeat)
        t_load, scenarios = timed(load_scenarios, repeat)
        t_rep, replays = timed(lambda: historical_replay_scenarios(prices.loc[:day], lookback=RISK_LOOKBACK, window=20), repeat)
        stress_positions = valued[["symbol", "market_value", "is_option", "underlying_symbol", "quantity", "strike",
                                   "expiration_date", "position_type"]]
        t_st, stress = timed(lambda: run_stress_tests(stress_positions, wide, rate_betas, list(scenarios) + replays,
                                                      as_of=day, spots=spots, rate=rate, vols=vols), repeat)
        for k, v in (("risk", t_risk), ("snapshots", t_snap), ("value_positions", t_val), ("load_scenarios", t_load),
                     ("replays", t_rep), ("run_stress_tests", t_st)):
            timings[k].append(v)
        timings["session_total"].append(t_risk + t_snap + t_val + t_load + t_rep + t_st)
        results[str(day)] = {
            "risk": metrics, "snapshots": snaps, "valued": valued, "scenarios": list(scenarios), "replays": replays,
            "stress_pnl": stress.position_pnl, "stress_returns": stress.position_returns, "stress_summary": stress.summary,
        }
    return timings, results


def _compare(a: Any, b: Any, path: str, scale: float, problems: list[str]) -> None:
    if isinstance(a, pd.DataFrame) or isinstance(a, pd.Series):
        if not isinstance(b, type(a)):
            problems.append(f"{path}: type {type(a).__name__} vs {type(b).__name__}")
            return
        if not a.index.equals(b.index) or (isinstance(a, pd.DataFrame) and not a.columns.equals(b.columns)):
            problems.append(f"{path}: labels differ")
            return
        frame_a = a.to_frame() if isinstance(a, pd.Series) else a
        frame_b = b.to_frame() if isinstance(b, pd.Series) else b
        for col in frame_a.columns:
            _compare(list(frame_a[col]), list(frame_b[col]), f"{path}[{col}]", scale, problems)
        return
    if isinstance(a, dict):
        if set(a) != set(b):
            problems.append(f"{path}: keys {sorted(set(a) ^ set(b))}")
            return
        for k in a:
            _compare(a[k], b[k], f"{path}.{k}", scale, problems)
        return
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            problems.append(f"{path}: length {len(a)} vs {len(b)}")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            _compare(x, y, f"{path}[{i}]", scale, problems)
        return
    if hasattr(a, "__dataclass_fields__"):
        _compare(vars(a), vars(b), path, scale, problems)
        return
    if isinstance(a, (float, np.floating)) and not isinstance(a, bool):
        if not isinstance(b, (float, np.floating, int, np.integer)):
            problems.append(f"{path}: {a!r} vs {b!r}")
        elif np.isnan(a) and np.isnan(b):
            pass
        elif not np.isclose(a, b, rtol=1e-9, atol=1e-9 * max(scale, 1.0)):
            problems.append(f"{path}: {a!r} vs {b!r}")
        return
    if a != b and not (a is None and b is None):
        problems.append(f"{path}: {a!r} vs {b!r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=7, help="number of trailing sessions (default 7)")
    ap.add_argument("--repeat", type=int, default=5, help="timed repetitions per call (median; default 5)")
    ap.add_argument("--save", type=Path, help="pickle every result to this file")
    ap.add_argument("--compare", type=Path, help="compare every result with a pickle from --save")
    args = ap.parse_args(argv)

    timings, results = run(args.sessions, args.repeat)
    print(f"\nmedian over {args.sessions} sessions of the per-call median of {args.repeat} runs (ms):")
    for k, v in timings.items():
        note = "   (other modules, not in session_total)" if k == "betas_other" else ""
        print(f"  {k:<18}{1000 * statistics.median(v):9.2f}   max {1000 * max(v):8.2f}{note}")
    if args.save:
        with args.save.open("wb") as fh:
            pickle.dump(results, fh)
        print(f"results saved to {args.save}")
    if args.compare:
        with args.compare.open("rb") as fh:
            ref = pickle.load(fh)
        problems: list[str] = []
        for day, res in results.items():
            if day not in ref:
                problems.append(f"{day}: not in the stored run")
                continue
            scale = float(res["risk"].get("gross_exposure") or 1.0)
            _compare(ref[day], res, day, scale, problems)
        print(f"compare with {args.compare}: {'IDENTICAL within tolerance' if not problems else f'{len(problems)} differences'}")
        for p in problems[:40]:
            print("  ", p)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
