"""The typed risk result (analytics.risk.RiskMetrics) and the row the time-series asset stores from it.

The reference row is computed here from the real shipped prices with pandas/numpy/scipy and the
Black–Scholes formula only — independently of compute_risk_metrics — as the row the asset stored
when compute_risk_metrics returned a string-keyed dict (same columns, same `details` JSON).
"""

from __future__ import annotations

import dataclasses
import math
from datetime import date
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from sigmasight_onboarding.analytics import risk
from sigmasight_onboarding.analytics.greeks import black_scholes
from sigmasight_onboarding.assets.timeseries import RISK_COLUMNS, _risk_record

from .references import MARKET

DAY = pd.Timestamp("2026-08-03")
RATE, VOL = 0.04, 0.2
STOCKS = {"AAPL": 200.0, "MSFT": 100.0, "TSLA": -40.0}
CALL = dict(qty=2.0, strike=760.0, expiry=date(2026, 12, 18))  # long 2 SPY calls


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    df = pd.read_parquet(MARKET)
    px = df.pivot(index="date", columns="symbol", values="adj_close").sort_index()
    px.index = pd.DatetimeIndex(px.index).normalize()
    return px.loc[:DAY]


@pytest.fixture(scope="module")
def positions() -> pd.DataFrame:
    rows = [dict(symbol=s, position_type="LONG" if q > 0 else "SHORT", quantity=q) for s, q in STOCKS.items()]
    rows.append(dict(symbol="SPY261218C00760000", position_type="LC", quantity=CALL["qty"], underlying_symbol="SPY",
                     strike=CALL["strike"], expiration_date=CALL["expiry"]))
    return pd.DataFrame(rows, index=pd.Index(["p-aapl", "p-msft", "p-tsla", "p-call"], name="id"))


def _call(spot, t_years):
    return black_scholes(spot=np.asarray(spot, float), strike=CALL["strike"], time_years=np.maximum(t_years, 0.0),
                         rate=RATE, vol=VOL, dividend_yield=0.0, is_call=True)


def reference_row(prices: pd.DataFrame) -> dict:
    """The stored row from first principles (1-day VaR/ES positive dollar losses, 10-day = × √10)."""
    lookback, n_test_wanted, min_obs = 252, 250, 60
    syms = ["AAPL", "MSFT", "TSLA", "SPY"]
    window = prices.iloc[-(lookback + n_test_wanted + 1):]
    rets = window[syms].pct_change().iloc[1:]
    irx_prev = window["^IRX"].shift(1).iloc[1:] / 100.0 / 252
    spy = rets["SPY"]
    complete = rets.notna().all(axis=1)
    rets, irx_prev, spy = rets[complete], irx_prev[complete], spy[complete]
    in_sample = pd.Series(False, index=window.index[1:])
    in_sample.iloc[-lookback:] = True
    sample = in_sample[complete].to_numpy()

    spot = prices.iloc[-1]
    t0 = (pd.Timestamp(CALL["expiry"]) - DAY).days / 365.0
    call0 = _call(spot["SPY"], t0)
    mv = {s: q * spot[s] for s, q in STOCKS.items()}
    mv_call = CALL["qty"] * 100 * float(call0["price"])
    gross = sum(abs(v) for v in mv.values()) + abs(mv_call)
    net = sum(mv.values()) + mv_call

    def pnl_frame(r: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame({f"p-{s.lower()}": mv[s] * r[s] for s in STOCKS}, index=r.index)
        shocked = _call(spot["SPY"] * (1.0 + r["SPY"].to_numpy()), t0 - 1 / 365.0)["price"]
        out["p-call"] = CALL["qty"] * 100 * (shocked - float(call0["price"]))
        return out

    hist_pos = pnl_frame(rets)
    hist_all = hist_pos.sum(axis=1).to_numpy()
    pos_pnl = hist_pos[sample]
    pnl = pos_pnl.sum(axis=1).to_numpy()

    dollar_delta = {**mv, "SPY": CALL["qty"] * 100 * float(call0["delta"]) * spot["SPY"]}
    w = np.array([dollar_delta[s] for s in syms])
    cov = rets[sample].cov().to_numpy()
    sigma = math.sqrt(w @ cov @ w)
    sims = np.random.default_rng(42).standard_normal((10_000, 4)) @ np.linalg.cholesky(cov).T
    mc = pnl_frame(pd.DataFrame(sims, columns=syms)).sum(axis=1).to_numpy()

    def var(x, c):
        return -np.quantile(x, 1 - c)

    def es(x, c):
        return -x[x <= np.quantile(x, 1 - c)].mean()

    def p_var(c):
        return stats.norm.ppf(c) * sigma

    def p_es(c):
        return sigma * stats.norm.pdf(stats.norm.ppf(c)) / (1 - c)

    def euler(c):
        return dict(zip(syms, stats.norm.ppf(c) * w * (cov @ w) / sigma))

    def hist_components(c):
        order = np.argsort(pnl, kind="stable")
        h = (len(pnl) - 1) * (1 - c)
        j, g = int(h), h - int(h)
        x = pos_pnl.to_numpy()
        return dict(zip(pos_pnl.columns, -((1 - g) * x[order[j]] + g * x[order[j + 1]])))

    port_ret = pnl / gross
    ex = port_ret - irx_prev[sample].fillna(0.0).to_numpy()
    b = spy[sample].to_numpy()
    values = np.concatenate([[1.0], np.cumprod(1 + port_ret)])

    n_test = min(n_test_wanted, len(hist_all) - min_obs)
    backtest = {}
    for c in (0.95, 0.99):
        var_t = np.array([var(hist_all[max(0, t - lookback): t], c) for t in range(len(hist_all) - n_test, len(hist_all))])
        k = int((hist_all[-n_test:] < -var_t).sum())
        p = 1 - c
        lr = -2 * ((n_test - k) * math.log(1 - p) + k * math.log(p)
                   - special.xlogy(n_test - k, 1 - k / n_test) - special.xlogy(k, k / n_test))
        backtest[c] = (k, stats.chi2.sf(lr, 1))

    methods = {"historical": (lambda c: var(pnl, c), lambda c: es(pnl, c)),
               "parametric": (p_var, p_es),
               "monte_carlo": (lambda c: var(mc, c), lambda c: es(mc, c))}
    return {
        "quality_flag": "ok", "n_observations": lookback, "lookback_sessions": lookback,
        "gross_exposure": gross, "net_value": net,
        **{f"var_{lab}_{m}": f[0](c) for m, f in methods.items() for c, lab in ((0.95, "95"), (0.99, "99"))},
        "var_95_historical_10d": var(pnl, 0.95) * math.sqrt(10), "var_99_historical_10d": var(pnl, 0.99) * math.sqrt(10),
        **{f"es_975_{m}": f[1](0.975) for m, f in methods.items()},
        "annualised_volatility": math.sqrt(252) * port_ret.std(ddof=1),
        "max_drawdown": float(np.max(1 - values / np.maximum.accumulate(values))),
        "sharpe_ratio": math.sqrt(252) * ex.mean() / ex.std(ddof=1),
        "sortino_ratio": math.sqrt(252) * ex.mean() / math.sqrt(np.mean(np.minimum(ex, 0) ** 2)),
        "beta_spy": np.cov(port_ret, b, ddof=1)[0, 1] / np.var(b, ddof=1),
        "backtest_exceedances_95": backtest[0.95][0], "backtest_exceedances_99": backtest[0.99][0],
        "backtest_sessions": n_test, "kupiec_p_95": backtest[0.95][1], "kupiec_p_99": backtest[0.99][1],
        "details": {
            "es": {f"es_{lab}_{m}": f[1](c) for m, f in methods.items() for c, lab in ((0.95, "95"), (0.975, "975"), (0.99, "99"))},
            "component_var_95_parametric": euler(0.95),
            "component_var_99_parametric": euler(0.99),
            "component_var_99_historical": hist_components(0.99),
            "exposures": dict(zip(syms, w)),
            "rate": RATE, "method": "1-day VaR; 10-day = 1-day × √10; MC seed 42, 10,000 paths; ES at 97.5 %",
            "missing_symbols": [],
        },
    }


def _stored_row(positions, prices) -> tuple[dict, SimpleNamespace]:
    out = SimpleNamespace(risk=[], risk_lookback=252, problems={"risk_metrics_consistent": {}})
    _risk_record(out, SimpleNamespace(portfolio_id="pid"), positions, prices, DAY.date(), RATE, {"SPY": VOL})
    (row,) = out.risk
    return row, out


def _assert_same(actual, expected, path="row"):
    if isinstance(expected, dict):
        assert list(actual) == list(expected), path
        for k, v in expected.items():
            _assert_same(actual[k], v, f"{path}.{k}")
    elif isinstance(expected, float) and not isinstance(expected, bool):
        assert isinstance(actual, float) and type(actual) is float, (path, type(actual))
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-9), path
    else:
        assert actual == expected and type(actual) is type(expected), (path, actual, expected)


def test_stored_risk_row_equals_independent_reference(positions, prices):
    row, out = _stored_row(positions, prices)
    expected = reference_row(prices)
    assert row.pop("portfolio_id") == "pid" and row.pop("calculation_date") == DAY.date()
    row.pop("created_at")
    assert set(row) == set(expected)
    for key in expected:
        _assert_same(row[key], expected[key], key)
    assert not out.problems["risk_metrics_consistent"]
    assert all(row[c] is not None for c in RISK_COLUMNS)


def test_risk_metrics_fields_have_the_documented_types(positions, prices):
    m = risk.compute_risk_metrics(positions, prices, as_of=DAY, vols={"SPY": VOL}, rate=RATE)
    assert isinstance(m, risk.RiskMetrics) and dataclasses.is_dataclass(m)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.rate = 0.0  # type: ignore[misc]
    assert m.quality_flag is risk.QualityFlag.OK and m.quality_flag.value == "ok"
    assert m.as_of == date(2026, 8, 3) and type(m.n_observations) is int and m.missing_symbols == ()
    assert m.confidences == (0.95, 0.99) and m.es_confidences == (0.95, 0.975, 0.99)
    for value in (m.rate, m.net_value, m.gross_exposure, m.portfolio_sigma_1d):
        assert type(value) is float
    assert list(m.exposures) == ["AAPL", "MSFT", "TSLA", "SPY"] and all(type(v) is float for v in m.exposures.values())
    for name, est in m.methods.items():
        assert isinstance(est, risk.VarEstimates), name
        assert list(est.var) == [0.95, 0.99] and list(est.es) == [0.95, 0.975, 0.99]
        assert all(type(v) is float and v > 0 for v in (*est.var.values(), *est.es.values())), name
        assert est.var_10d == {c: v * math.sqrt(10) for c, v in est.var.items()}
    assert list(m.historical.components[0.99]) == ["p-aapl", "p-msft", "p-tsla", "p-call"]  # per position id
    assert list(m.parametric.components[0.99]) == ["AAPL", "MSFT", "TSLA", "SPY"]  # per underlying
    assert m.monte_carlo.components == {}
    for c in (0.95, 0.99):
        assert sum(m.historical.components[c].values()) == pytest.approx(m.historical.var[c], rel=1e-10)
        assert sum(m.parametric.components[c].values()) == pytest.approx(m.parametric.var[c], rel=1e-10)
    r = m.ratios
    assert isinstance(r, risk.RiskRatios) and r.benchmark == "SPY"
    assert all(type(getattr(r, f)) is float for f in ("annualised_volatility", "beta", "max_drawdown", "sharpe_ratio", "sortino_ratio"))
    bt = m.backtest
    assert isinstance(bt, risk.Backtest) and bt.n_test == 250 and bt.window == 252 and list(bt.levels) == [0.95, 0.99]
    level = bt.levels[0.99]
    assert isinstance(level, risk.BacktestLevel) and type(level.exceedances) is int and level.confidence == 0.99
    assert level.expected_exceedances == pytest.approx(2.5) and level.exceedance_rate == level.exceedances / 250
    # the typed back-test is var_backtest's numbers; too short a history: no levels / counts None
    x = np.random.default_rng(0).normal(0.0, 100.0, 400)
    typed, legacy = risk.rolling_var_backtest(x), risk.var_backtest(x)
    for c, lab in ((0.95, "95"), (0.99, "99")):
        assert typed.levels[c].exceedances == legacy[f"exceedances_{lab}"]
        assert typed.levels[c].kupiec_p == legacy[f"kupiec_p_{lab}"]
    assert risk.rolling_var_backtest(np.zeros(10)) == risk.Backtest(n_test=0, window=252, levels={})
    assert risk.var_backtest(np.zeros(10))["exceedances_99"] is None


@pytest.mark.parametrize("case", ["limited_history", "missing_prices", "empty_portfolio"])
def test_rows_without_numbers(positions, prices, case):
    px, pos = prices, positions
    if case == "limited_history":
        px = prices.iloc[-30:]
    elif case == "missing_prices":
        px = prices.copy()
        px.iloc[-1, px.columns.get_loc("TSLA")] = np.nan
    else:
        pos = positions.iloc[:0]
    m = risk.compute_risk_metrics(pos, px, as_of=DAY, vols={"SPY": VOL}, rate=RATE)
    assert m.quality_flag == case and m.historical is None and m.ratios is None and m.backtest is None
    row, out = _stored_row(pos, px)
    assert row["quality_flag"] == case and type(row["quality_flag"]) is str
    assert all(row[c] is None for c in (*RISK_COLUMNS, "beta_spy", "kupiec_p_95", "backtest_sessions"))
    details = row["details"]
    assert list(details["es"]) == [f"es_{lab}_{m}" for m in ("historical", "parametric", "monte_carlo") for lab in ("95", "975", "99")]
    assert all(v is None for v in details["es"].values()) and details["exposures"] == {}
    assert details["missing_symbols"] == (["TSLA"] if case == "missing_prices" else [])
    assert not out.problems["risk_metrics_consistent"]


def test_rolling_quantiles_equal_numpy_nanquantile_of_every_window():
    """The back-test's rolling VaR quantiles, windows with NaN and short windows included, are exactly
    numpy.nanquantile of each window of strictly prior values (NaN for an empty window)."""
    rng = np.random.default_rng(11)
    probs = [0.05, 0.01, 0.025]
    for _ in range(150):
        n = int(rng.integers(1, 400))
        x = rng.normal(0.0, 1_000.0, n) * rng.choice([1e-3, 1.0, 1e4])
        x[rng.integers(0, n, int(rng.integers(0, n // 8 + 2)))] = np.nan  # missing days
        if rng.random() < 0.2:
            x[: int(rng.integers(0, n))] = np.nan  # a history that starts late
        start, window = int(rng.integers(0, n)), int(rng.integers(1, 260))
        got = risk._rolling_nanquantiles(x, start, window, probs)
        for j, t in enumerate(range(start, n)):
            past = x[max(0, t - window): t]
            want = (np.nanquantile(past, probs) if np.isfinite(past).any() else np.full(len(probs), np.nan))
            assert np.array_equal(got[:, j], want, equal_nan=True), (n, start, window, t)
