"""Micro-benchmark: the per-(client, session) analytics of the ``timeseries`` asset, on real data.

Book: the 30-position demo hedge-fund portfolio (22 equities long/short + 8 options, from
``data/imports/demo_hedgefundstyle@sigmasight.com/portfolio.csv``), shaped like
``db.portfolio_reads.active_positions_frame``. Prices: ``data/market/daily_adj_close_extract.parquet``,
the last 507 sessions (risk look-back 252 + back-test 250 + 5) up to each session, for the held price
symbols plus the reference symbols (factor ETFs, ^TNX, ^IRX, TLT) — a date-object index like
``db.price_cache.price_matrix``.

Per session, exactly the calls ``assets/timeseries.py`` makes:

* risk      ``compute_risk_metrics(..., lookback=252, backtest_sessions=250, n_paths=10_000, seed=42)``
* snapshots ``portfolio_snapshot_series`` over (previous session, session)
* stress    ``value_positions`` + ``load_scenarios`` + ``historical_replay_scenarios`` + ``run_stress_tests``
            (the betas / rate betas are estimated once per session OUTSIDE the timed block — other
            modules; their time is reported separately for information)

Usage::

    .venv/bin/python -m bench.micro_risk                            # timings of the current code
    .venv/bin/python -m bench.micro_risk --baseline-dir DIR         # before/after, interleaved
    .venv/bin/python -m bench.micro_risk --save /tmp/a.pkl          # store every result
    .venv/bin/python -m bench.micro_risk --compare /tmp/a.pkl       # check results equal a stored run

``--baseline-dir DIR``: DIR holds earlier versions of ``analytics/risk.py``, ``analytics/stress.py``,
``analytics/snapshots.py`` and ``scenarios/__init__.py`` (saved as ``scenarios__init__.py``), e.g.
``git show <rev>:sigmasight_onboarding/analytics/risk.py > DIR/risk.py``. They are imported under
private names and timed call by call alternately with the current code (so machine load hits both
alike), and every result of the two is compared.

Each call is repeated ``--repeat`` times and its minimum kept (the least disturbed run); the table
shows the median and maximum of those minima over the sessions. Comparisons check every number with
rel 1e-9 (abs 1e-9 × the book's gross exposure near zero) and everything else exactly; risk results
are compared as `legacy_risk_dict` (the typed ``RiskMetrics`` under the flat keys the dict-returning
versions used), so a baseline from before the typed result still compares.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import time
import types
from dataclasses import dataclass
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
TARGET_RISK_MS = 60.0  # compute_risk_metrics, 30 positions with 8 options
TARGET_SESSION_MS = 100.0  # everything of one (client, session) in session_total


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


@dataclass
class Impl:
    """The functions one implementation provides (the current package, or a baseline copy)."""

    name: str
    compute_risk_metrics: Callable[..., Any]
    portfolio_snapshot_series: Callable[..., Any]
    value_positions: Callable[..., Any]
    load_scenarios: Callable[..., Any]
    historical_replay_scenarios: Callable[..., Any]
    run_stress_tests: Callable[..., Any]


CURRENT = Impl("current", compute_risk_metrics, portfolio_snapshot_series, value_positions, load_scenarios,
               historical_replay_scenarios, run_stress_tests)
MODULE_FILES = {  # alias module → file name in --baseline-dir (imports between them are rewritten)
    "_baseline_scenarios": "scenarios__init__.py",
    "_baseline_snapshots": "snapshots.py",
    "_baseline_risk": "risk.py",
    "_baseline_stress": "stress.py",
}


def load_baseline(directory: Path) -> Impl:
    """Import earlier versions of the four modules from `directory` (risk.py, stress.py, snapshots.py,
    scenarios__init__.py — e.g. saved from the previous commit) under private names, wired to each other."""
    mods: dict[str, types.ModuleType] = {}
    for alias, fname in MODULE_FILES.items():
        src = (directory / fname).read_text(encoding="utf-8")
        src = src.replace("sigmasight_onboarding.analytics.snapshots", "_baseline_snapshots")
        src = src.replace("from sigmasight_onboarding.scenarios import", "from _baseline_scenarios import")
        mod = types.ModuleType(alias)
        mod.__file__ = str(directory / fname)
        sys.modules[alias] = mod
        exec(compile(src, str(directory / fname), "exec"), mod.__dict__)
        mods[alias] = mod
    from sigmasight_onboarding import scenarios as current_scenarios

    mods["_baseline_scenarios"].DEFAULT_SCENARIO_FILE = current_scenarios.DEFAULT_SCENARIO_FILE
    return Impl("baseline", mods["_baseline_risk"].compute_risk_metrics, mods["_baseline_snapshots"].portfolio_snapshot_series,
                mods["_baseline_snapshots"].value_positions, mods["_baseline_scenarios"].load_scenarios,
                mods["_baseline_stress"].historical_replay_scenarios, mods["_baseline_stress"].run_stress_tests)


STEPS = ("risk", "snapshots", "value_positions", "load_scenarios", "replays", "run_stress_tests")


def session_steps(impl: Impl, day: date, prev: date, prices: pd.DataFrame, positions: pd.DataFrame, rates: pd.Series,
                  rate: float, vols: pd.Series, wide: pd.DataFrame, rate_betas: pd.Series) -> dict[str, Callable[[], Any]]:
    """The per-session calls of assets/timeseries.py as thunks (stress inputs from the same impl's outputs)."""
    spots = prices.loc[day]
    cache: dict[str, Any] = {}

    def stress() -> Any:
        valued = cache["value_positions"]
        stress_positions = valued[["symbol", "market_value", "is_option", "underlying_symbol", "quantity", "strike",
                                   "expiration_date", "position_type"]]
        return impl.run_stress_tests(stress_positions, wide, rate_betas, list(cache["load_scenarios"]) + cache["replays"],
                                     as_of=day, spots=spots, rate=rate, vols=vols)

    return {
        "risk": lambda: impl.compute_risk_metrics(positions, prices, as_of=day, vols=vols, rate=rate, lookback=RISK_LOOKBACK,
                                                  backtest_sessions=BACKTEST_SESSIONS, n_paths=MC_PATHS, seed=42),
        "snapshots": lambda: impl.portfolio_snapshot_series(positions, prices, [prev, day], rates, vols=vols),
        "value_positions": lambda: impl.value_positions(positions, spots, day, rate, vols=vols),
        "load_scenarios": impl.load_scenarios,
        "replays": lambda: impl.historical_replay_scenarios(prices.loc[:day], lookback=RISK_LOOKBACK, window=20),
        "run_stress_tests": stress,
    }, cache


def run(n_sessions: int, repeat: int, impls: list[Impl]) -> tuple[dict[str, dict[str, list[float]]], dict[str, dict[str, Any]]]:
    """timings[impl][step] = per-session minimum over `repeat` runs (s); results[impl][day] = outputs.

    The implementations are interleaved call by call, so machine load hits them alike."""
    positions = load_positions()
    held = price_syms(positions)
    symbols = sorted(set(held) | set(REFERENCE_SYMBOLS))
    full = load_matrix(symbols)
    days = list(full.index[-n_sessions:])
    n_opt = int(positions["position_type"].isin(OPTION_TYPES).sum())
    print(f"book: {len(positions)} positions ({n_opt} options), {len(symbols)} symbols, "
          f"{HISTORY_SESSIONS} sessions of prices per date, dates {days[0]} .. {days[-1]}")

    timings = {impl.name: {k: [] for k in (*STEPS, "session_total")} for impl in impls}
    timings["betas (other modules)"] = {"betas": []}
    results: dict[str, dict[str, Any]] = {impl.name: {} for impl in impls}
    for day in days:
        pos_i = full.index.get_loc(day)
        prices = full.iloc[max(0, pos_i + 1 - HISTORY_SESSIONS): pos_i + 1]
        positions_d = positions[positions["entry_date"] <= day]
        rates = (prices["^IRX"] / 100.0).ffill()
        rate = float(rates.loc[day]) if np.isfinite(rates.loc[day]) else 0.0
        opt = positions_d["position_type"].isin(OPTION_TYPES)
        underlyings = sorted(set(positions_d.loc[opt, "underlying_symbol"]))
        vols = realised_volatility(prices.loc[:day, underlyings], window=63) if underlyings else pd.Series(dtype=float)
        prev = full.index[pos_i - 1]

        # betas / rate betas: other modules, reported apart (not in session_total)
        t0 = time.perf_counter()
        returns = simple_returns(prices.loc[:day])
        psyms = price_syms(positions_d)
        betas, _ = multivariate_betas(returns.reindex(columns=psyms), returns[list(FACTOR_ETFS.values())], window=252)
        wide = betas_wide(betas).fillna(0.0)
        rate_betas = interest_rate_betas(returns.reindex(columns=psyms), prices.loc[:day, "^TNX"], returns["TLT"],
                                         window=252)["rate_beta"].fillna(0.0)
        timings["betas (other modules)"]["betas"].append(time.perf_counter() - t0)

        steps = {impl.name: session_steps(impl, day, prev, prices, positions_d, rates, rate, vols, wide, rate_betas) for impl in impls}
        best = {impl.name: {k: float("inf") for k in STEPS} for impl in impls}
        for _ in range(repeat):
            for step in STEPS:
                for impl in impls:
                    thunks, cache = steps[impl.name]
                    t0 = time.perf_counter()
                    cache[step] = thunks[step]()
                    best[impl.name][step] = min(best[impl.name][step], time.perf_counter() - t0)
        for impl in impls:
            cache = steps[impl.name][1]
            for step in STEPS:
                timings[impl.name][step].append(best[impl.name][step])
            timings[impl.name]["session_total"].append(sum(best[impl.name].values()))
            stress = cache["run_stress_tests"]
            results[impl.name][str(day)] = {
                "risk": cache["risk"], "snapshots": cache["snapshots"], "valued": cache["value_positions"],
                "scenarios": list(cache["load_scenarios"]), "replays": cache["replays"],
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
    if isinstance(a, np.ndarray):
        if not isinstance(b, np.ndarray) or a.shape != b.shape:
            problems.append(f"{path}: array {getattr(a, 'shape', None)} vs {getattr(b, 'shape', None)}")
        elif a.dtype.kind in "fc":
            if not np.allclose(a, b, rtol=1e-9, atol=1e-9 * max(scale, 1.0), equal_nan=True):
                problems.append(f"{path}: arrays differ (max |Δ| {np.nanmax(np.abs(a - b)):.3g})")
        elif not np.array_equal(a, b):
            problems.append(f"{path}: arrays differ")
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


def legacy_risk_dict(metrics: Any) -> dict[str, Any]:
    """A `RiskMetrics` as the flat dict `compute_risk_metrics` returned before it was typed (keys such as
    var_95_historical, es_975_parametric, beta_SPY, component_var_99_historical, backtest), so a baseline
    from before the typed result still compares. A dict (an old result) is returned unchanged."""
    if isinstance(metrics, dict):
        return metrics
    from sigmasight_onboarding.analytics.risk import confidence_label as lab

    m = metrics
    out: dict[str, Any] = {"as_of": m.as_of, "quality_flag": str(m.quality_flag), "n_observations": m.n_observations,
                           "lookback": m.lookback, "missing_symbols": list(m.missing_symbols), "rate": m.rate,
                           "net_value": m.net_value, "gross_exposure": m.gross_exposure}
    for kind, est in m.methods.items():
        out.update({f"var_{lab(c)}_{kind}": est.var[c] if est else None for c in m.confidences})
        out.update({f"es_{lab(c)}_{kind}": est.es[c] if est else None for c in m.es_confidences})
        out.update({f"var_{lab(c)}_{kind}_10d": est.var_10d[c] if est else None for c in m.confidences})
    for c in m.confidences:
        for kind in ("parametric", "historical"):
            est = m.methods[kind]
            out[f"component_var_{lab(c)}_{kind}"] = est.components[c] if est else None
    r, bt = m.ratios, m.backtest
    benchmark = r.benchmark if r else "SPY"
    out.update({"portfolio_sigma_1d": m.portfolio_sigma_1d, "exposures": m.exposures,
                "annualised_volatility": r and r.annualised_volatility, f"beta_{benchmark}": r and r.beta,
                "max_drawdown": r and r.max_drawdown, "sharpe_ratio": r and r.sharpe_ratio,
                "sortino_ratio": r and r.sortino_ratio, "backtest": None})
    if bt is not None:
        out["backtest"] = {"n_test": bt.n_test, "window": bt.window}
        for c in m.confidences:
            level = bt.levels.get(c)
            for key in ("exceedances", "expected_exceedances", "exceedance_rate", "kupiec_lr", "kupiec_p"):
                out["backtest"][f"{key}_{lab(c)}"] = getattr(level, key) if level else None
    return out


def compare_runs(ref: dict[str, Any], res: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for day, out in res.items():
        if day not in ref:
            problems.append(f"{day}: not in the reference run")
            continue
        out = {**out, "risk": legacy_risk_dict(out["risk"])}
        scale = float(out["risk"].get("gross_exposure") or 1.0)
        _compare({**ref[day], "risk": legacy_risk_dict(ref[day]["risk"])}, out, day, scale, problems)
    return problems


def report_compare(label: str, problems: list[str]) -> None:
    print(f"results {label}: {'IDENTICAL within rel 1e-9' if not problems else f'{len(problems)} differences'}")
    for p in problems[:40]:
        print("  ", p)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=7, help="number of trailing sessions (default 7)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per call; the minimum is kept (default 5)")
    ap.add_argument("--baseline-dir", type=Path,
                    help="directory with earlier risk.py, stress.py, snapshots.py, scenarios__init__.py: timed "
                         "interleaved with the current code and every result compared")
    ap.add_argument("--save", type=Path, help="pickle the current code's results to this file")
    ap.add_argument("--compare", type=Path, help="compare the current results with a pickle from --save")
    args = ap.parse_args(argv)

    impls = ([load_baseline(args.baseline_dir)] if args.baseline_dir else []) + [CURRENT]
    timings, results = run(args.sessions, args.repeat, impls)
    names = [i.name for i in impls]
    print(f"\nper call: minimum of {args.repeat} runs; then median [max] over {args.sessions} sessions, ms")
    print(f"  {'step':<18}" + "".join(f"{n:>22}" for n in names) + ("   speed-up" if len(names) == 2 else ""))
    for step in (*STEPS, "session_total"):
        cells = [timings[n][step] for n in names]
        line = f"  {step:<18}" + "".join(f"{1000 * statistics.median(c):11.2f} [{1000 * max(c):7.2f}]" for c in cells)
        if len(names) == 2:
            line += f"   {statistics.median(cells[0]) / statistics.median(cells[1]):7.1f}x"
        print(line)
    b = timings["betas (other modules)"]["betas"]
    print(f"  {'(betas, not ours)':<18}{1000 * statistics.median(b):11.2f} [{1000 * max(b):7.2f}]   not in session_total")

    risk_ms = 1000 * statistics.median(timings["current"]["risk"])
    total_ms = 1000 * statistics.median(timings["current"]["session_total"])
    print(f"targets: compute_risk_metrics {risk_ms:.1f} ms (≤ {TARGET_RISK_MS:.0f}: {'met' if risk_ms <= TARGET_RISK_MS else 'MISSED'}), "
          f"per-session analytics {total_ms:.1f} ms (≤ {TARGET_SESSION_MS:.0f}: {'met' if total_ms <= TARGET_SESSION_MS else 'MISSED'})")

    status = 0
    if args.baseline_dir:
        problems = compare_runs(results["baseline"], results["current"])
        report_compare("current vs baseline", problems)
        status |= bool(problems)
    if args.save:
        with args.save.open("wb") as fh:
            pickle.dump(results["current"], fh)
        print(f"results saved to {args.save}")
    if args.compare:
        with args.compare.open("rb") as fh:
            problems = compare_runs(pickle.load(fh), results["current"])
        report_compare(f"current vs {args.compare}", problems)
        status |= bool(problems)
    return int(status)


if __name__ == "__main__":
    raise SystemExit(main())
