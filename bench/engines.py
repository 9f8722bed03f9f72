"""Scenario B: the pure analytics engines on real returns vs the predecessor's statsmodels loop.

For N positions (N distinct full-coverage symbols of the benchmark universe, familiar names first)
over the benchmark window (2024-08-01 .. 2026-08-03, real adjusted closes):

* ``single_factor_betas``   7 factor ETFs × N positions (252-session window)
* ``multivariate_betas``    one joint 7-regressor model per position (+ collinearity diagnostics)
* ``interest_rate_betas``   Δ^TNX (bp) and TLT regressions per position
* ``correlation_matrix``    N × N pairwise-complete Pearson on 90 sessions of log returns
* ``compute_option_greeks`` the option share of an N-position book (bench/portfolios.py options,
                            realised 63-day vol of the underlying, ^IRX rate, quoted premium → IV)

The baseline is ``bench/engines_baseline.statsmodels_loop_baseline`` (one ``sm.OLS`` per position
per factor) on exactly the same returns: it is compared with ``single_factor_betas`` (same
output). When the baseline would exceed ``BASELINE_BUDGET_S`` it is timed on a subset and
extrapolated linearly (it is a per-(position, factor) loop) — marked ``extrapolated``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from bench.portfolios import AS_OF, Universe, generate_positions, load_universe

BASELINE_BUDGET_S = 60.0
BASELINE_PROBE = 50  # positions timed first to predict the full baseline run


def timed(fn: Callable, min_total: float = 0.3, max_repeat: int = 5) -> tuple[float, object, float]:
    """Median wall time of ``fn()`` (and median process CPU time): repeated (up to ``max_repeat``)
    while the total stays under ``min_total`` seconds, so sub-millisecond engines are not measured
    from a single sample."""
    times, cpus, out = [], [], None
    start = time.perf_counter()
    while True:
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        if len(times) >= max_repeat or time.perf_counter() - start > min_total:
            break
    return float(np.median(times)), out, float(np.median(cpus))


def _inputs(uni: Universe, n: int):
    from sigmasight_onboarding.analytics.factors import FACTOR_ETFS
    from sigmasight_onboarding.analytics.returns import log_returns, simple_returns

    frame, _info = generate_positions(uni, max(n, 10))
    # N distinct symbols: the generator's equities first (familiar names first), then the universe.
    eq = [s for s in frame.loc[frame["underlying_symbol"] == "", "symbol"]]
    extra = [s for s in uni.symbols if s not in set(eq)]
    symbols = (eq + extra)[:n]
    prices = uni.prices[symbols]
    rets = simple_returns(prices)
    logs = log_returns(prices)
    ref = uni.reference
    etf = simple_returns(ref[list(FACTOR_ETFS.values())])
    tlt = simple_returns(ref[["TLT"]])["TLT"]
    options = frame[frame["underlying_symbol"] != ""].head(max(1, round(0.1 * n)))
    return symbols, prices, rets, logs, etf, tlt, ref, options


def _greeks(uni: Universe, options: pd.DataFrame, ref: pd.DataFrame):
    from sigmasight_onboarding.analytics.greeks import compute_option_greeks, realised_volatility, risk_free_rate_from_irx

    unds = sorted(set(options["underlying_symbol"]))
    vol = realised_volatility(uni.prices[unds], window=63)
    spot = uni.prices[unds].iloc[-1]
    und = options["underlying_symbol"]
    return compute_option_greeks(
        quantity=options["quantity"].astype(float).to_numpy(),
        strike=options["strike_price"].astype(float).to_numpy(),
        expiry=options["expiration_date"].to_numpy(),
        is_call=options["position_type"].isin(["LC", "SC"]).to_numpy(),
        spot=spot.reindex(und).to_numpy(),
        as_of=AS_OF,
        rate=risk_free_rate_from_irx(float(ref["^IRX"].iloc[-1])),
        vol=vol.reindex(und).to_numpy(),
        market_price=options["entry_price"].astype(float).to_numpy(),
    )


def run_engines(n: int, baseline: bool = True, budget: float = BASELINE_BUDGET_S) -> dict:
    """Time every engine for ``n`` positions (one process, inputs prepared untimed)."""
    from bench.engines_baseline import statsmodels_loop_baseline
    from sigmasight_onboarding.analytics.correlations import correlation_matrix
    from sigmasight_onboarding.analytics.factors import multivariate_betas, single_factor_betas
    from sigmasight_onboarding.analytics.rates import interest_rate_betas

    uni = load_universe()
    symbols, _prices, rets, logs, etf, tlt, ref, options = _inputs(uni, n)
    out: dict = {"positions": n, "symbols": len(symbols), "options": int(len(options)), "sessions": int(len(rets))}
    engines = {
        "single_factor_betas": lambda: single_factor_betas(rets, etf),
        "multivariate_betas": lambda: multivariate_betas(rets, etf),
        "interest_rate_betas": lambda: interest_rate_betas(rets, ref["^TNX"], tlt),
        "correlation_matrix": lambda: correlation_matrix(logs, window=90),
        "compute_option_greeks": lambda: _greeks(uni, options, ref),
    }
    times, cpus, results = {}, {}, {}
    for name, fn in engines.items():
        times[name], result, cpus[name] = timed(fn)
        if name == "single_factor_betas":  # kept for the comparison; other outputs are dropped at once
            results[name] = result
        del result
    out["engine_seconds"] = {k: round(v, 6) for k, v in times.items()}
    out["engine_cpu_seconds"] = {k: round(v, 6) for k, v in cpus.items()}
    out["engines_total"] = float(sum(times.values()))
    out["engines_total_cpu"] = float(sum(cpus.values()))
    fast = results["single_factor_betas"]
    out["single_factor_rows"] = int(len(fast))
    if not baseline:
        return out

    # -- baseline: statsmodels per position per factor --------------------------------------------------
    probe = min(n, BASELINE_PROBE)
    t0, c0 = time.perf_counter(), time.process_time()
    base_probe = statsmodels_loop_baseline(rets[symbols[:probe]], etf)
    t_probe, c_probe = time.perf_counter() - t0, time.process_time() - c0
    predicted = t_probe * n / probe
    if probe == n:
        t_base, c_base, base, extrapolated, timed_on = t_probe, c_probe, base_probe, False, n
    elif predicted <= budget:
        t0, c0 = time.perf_counter(), time.process_time()
        base = statsmodels_loop_baseline(rets, etf)
        t_base, c_base, extrapolated, timed_on = time.perf_counter() - t0, time.process_time() - c0, False, n
    else:
        # time a bigger subset (≈ a quarter of the budget) and extrapolate linearly
        sub = max(probe, min(n, int(n * (budget / 4) / predicted)))
        t0, c0 = time.perf_counter(), time.process_time()
        base = statsmodels_loop_baseline(rets[symbols[:sub]], etf)
        t_sub, c_sub = time.perf_counter() - t0, time.process_time() - c0
        t_base, c_base, extrapolated, timed_on = t_sub * n / sub, c_sub * n / sub, True, sub
    merged = base.merge(fast, on=["symbol", "factor"], suffixes=("_sm", ""))
    out.update(
        baseline_seconds=float(t_base),
        baseline_cpu_seconds=float(c_base),
        speedup_single_cpu=float(c_base / max(cpus["single_factor_betas"], 1e-9)),
        baseline_extrapolated=extrapolated,
        baseline_timed_positions=int(timed_on),
        speedup_single=float(t_base / times["single_factor_betas"]),
        speedup_all_engines=float(t_base / out["engines_total"]),
        max_abs_beta_diff=float(np.nanmax(np.abs(merged["beta_sm"] - merged["beta"]))) if len(merged) else float("nan"),
        compared_rows=int(len(merged)),
    )
    return out
