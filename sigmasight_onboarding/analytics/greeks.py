"""Option pricing and Greeks: vectorised Black–Scholes–Merton (European, continuous dividend yield).

Conventions used throughout this module
---------------------------------------
* ``spot``, ``strike`` and prices are in dollars per share (one contract = ``CONTRACT_MULTIPLIER``
  = 100 shares).
* ``rate`` (continuously compounded risk-free rate), ``dividend_yield`` (continuous yield q) and
  ``vol`` (σ) are annualised decimals: 4.5 % → 0.045, 25 vol → 0.25.
* ``time_years`` is calendar days / 365 (Actual/365 Fixed).
* Greeks are returned in *trader units*:

  - ``delta``  ∂V/∂S (per $1 of underlying, dimensionless; calls > 0, puts < 0),
  - ``gamma``  ∂²V/∂S² (per $1 of underlying, per $1),
  - ``theta``  ∂V/∂t per CALENDAR day = annual theta / 365 (usually negative for a long option),
  - ``vega``   ∂V/∂σ per 1 vol point = (annual vega) × 0.01,
  - ``rho``    ∂V/∂r per 1 % rate move = (annual rho) × 0.01.

* Signs are for a LONG option; position Greeks multiply by the signed quantity (negative = short).

No Dagster, no database: numpy/scipy, pandas only for labelled output.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

from sigmasight_onboarding.analytics.returns import log_returns, session_index
from sigmasight_onboarding.domain import CONTRACT_MULTIPLIER

TRADING_DAYS_PER_YEAR = 252
DAYS_PER_YEAR = 365.0
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)

VOL_SOURCE_IMPLIED = "implied"
VOL_SOURCE_REALISED = "realised_63d"

#: dividend_yield_source labels (stored in onb_position_greeks.dividend_yield_source)
DIVIDEND_SOURCE_PROVIDER = "provider_trailing_12m"  # Σ cash dividends, ex-date in the last 365 days / spot
DIVIDEND_SOURCE_NONE = "unavailable_assumed_0"  # the provider has no dividends (file/synthetic): q = 0, flagged


def _npdf(x: np.ndarray) -> np.ndarray:
    return _INV_SQRT_2PI * np.exp(-0.5 * x * x)


def _as_float(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _bs_price_only(spot, strike, t, rate, vol, q, is_call):
    """Undiscounted-safe BSM price for t > 0, vol > 0 (internal; no expiry handling)."""
    sqrt_t = np.sqrt(t)
    sig_sqrt_t = vol * sqrt_t
    d1 = (np.log(spot / strike) + (rate - q + 0.5 * vol * vol) * t) / sig_sqrt_t
    d2 = d1 - sig_sqrt_t
    df_q = np.exp(-q * t)
    df_r = np.exp(-rate * t)
    call = spot * df_q * ndtr(d1) - strike * df_r * ndtr(d2)
    put = strike * df_r * ndtr(-d2) - spot * df_q * ndtr(-d1)
    return np.where(is_call, call, put), spot * df_q * _npdf(d1) * sqrt_t


def _bs_terms(s, k, t, r, v, q):
    """Shared Black–Scholes terms: (expired, live, T, σ, √T, σ√T, d1, d2, e^{−qT}, e^{−rT}).

    Where an option is not live (expired, or σ ≤ 0 / NaN) safe placeholders T = 1, σ = 0.2 keep
    the arithmetic warning-free; callers overwrite those entries (intrinsic value or NaN).
    """
    expired = t <= 0.0
    live = ~expired & (v > 0.0)
    t_s = np.where(live, t, 1.0)
    v_s = np.where(live, v, 0.2)
    sqrt_t = np.sqrt(t_s)
    sig_sqrt_t = v_s * sqrt_t
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = (np.log(s / k) + (r - q + 0.5 * v_s * v_s) * t_s) / sig_sqrt_t
    d2 = d1 - sig_sqrt_t
    return expired, live, t_s, v_s, sqrt_t, sig_sqrt_t, d1, d2, np.exp(-q * t_s), np.exp(-r * t_s)


def black_scholes(
    spot: Any,
    strike: Any,
    time_years: Any,
    rate: Any,
    vol: Any,
    dividend_yield: Any = 0.0,
    is_call: Any = True,
) -> dict[str, np.ndarray]:
    """Black–Scholes–Merton price and Greeks of a European option, vectorised (numpy broadcasting).

    With d1 = [ln(S/K) + (r − q + σ²/2)T] / (σ√T), d2 = d1 − σ√T, N = standard normal CDF, φ = PDF:

    * call = S e^{−qT} N(d1) − K e^{−rT} N(d2);  put = K e^{−rT} N(−d2) − S e^{−qT} N(−d1)
    * delta: call e^{−qT} N(d1); put −e^{−qT} N(−d1)
    * gamma = e^{−qT} φ(d1) / (S σ √T)
    * theta (per calendar day) = [−S e^{−qT} φ(d1) σ / (2√T) ∓ r K e^{−rT} N(±d2) ± q S e^{−qT} N(±d1)] / 365
      (upper signs call, lower signs put)
    * vega (per vol point) = 0.01 × S e^{−qT} φ(d1) √T
    * rho (per 1 % rate) = ±0.01 × K T e^{−rT} N(±d2)

    Units: S, K, price in dollars per share; T in years (calendar days / 365); r, q, σ annualised
    decimals. Expired options (T ≤ 0) are worth intrinsic value max(±(S − K), 0) with all Greeks 0.
    A non-positive or NaN vol with T > 0 yields NaN outputs.

    Returns a dict with keys price, delta, gamma, theta, vega, rho (float arrays of the broadcast shape).
    """
    s, k, t, r, v, q = (_as_float(a) for a in (spot, strike, time_years, rate, vol, dividend_yield))
    c = np.asarray(is_call, dtype=bool)
    s, k, t, r, v, q, c = np.broadcast_arrays(s, k, t, r, v, q, c)

    expired, live, t_s, v_s, sqrt_t, sig_sqrt_t, d1, d2, df_q, df_r = _bs_terms(s, k, t, r, v, q)
    pdf_d1 = _npdf(d1)
    n_d1, n_d2 = ndtr(d1), ndtr(d2)
    n_md1, n_md2 = ndtr(-d1), ndtr(-d2)

    price = np.where(c, s * df_q * n_d1 - k * df_r * n_d2, k * df_r * n_md2 - s * df_q * n_md1)
    delta = np.where(c, df_q * n_d1, -df_q * n_md1)
    gamma = df_q * pdf_d1 / (s * sig_sqrt_t)
    decay = -s * df_q * pdf_d1 * v_s / (2.0 * sqrt_t)
    theta_year = np.where(
        c,
        decay - r * k * df_r * n_d2 + q * s * df_q * n_d1,
        decay + r * k * df_r * n_md2 - q * s * df_q * n_md1,
    )
    vega_unit = s * df_q * pdf_d1 * sqrt_t
    rho_unit = np.where(c, k * t_s * df_r * n_d2, -k * t_s * df_r * n_md2)

    intrinsic = np.where(c, np.maximum(s - k, 0.0), np.maximum(k - s, 0.0))
    bad = ~expired & ~live  # vol <= 0 or NaN while alive
    out = {
        "price": price,
        "delta": delta,
        "gamma": gamma,
        "theta": theta_year / DAYS_PER_YEAR,
        "vega": vega_unit * 0.01,
        "rho": rho_unit * 0.01,
    }
    for key, arr in out.items():
        arr = np.where(expired, intrinsic if key == "price" else 0.0, arr)
        out[key] = np.where(bad, np.nan, arr).astype(float)
    return out


def black_scholes_price(spot: Any, strike: Any, time_years: Any, rate: Any, vol: Any, dividend_yield: Any, is_call: Any) -> np.ndarray:
    """Black–Scholes–Merton PRICE only ($/share), the exact formula and edge cases of
    ``black_scholes(...)["price"]`` (same operations in the same order, so the same floats)
    without the Greeks: expired (T ≤ 0) → intrinsic, vol ≤ 0 / NaN while alive → NaN.

    Inputs broadcast; per-column constants (strike, T, rate, vol, q) are computed on their own
    (small) shapes, only the spot-dependent terms on the full grid.
    """
    s = np.asarray(spot, dtype=float)
    k = np.asarray(strike, dtype=float)
    t = np.asarray(time_years, dtype=float)
    r = np.asarray(rate, dtype=float)
    v = np.asarray(vol, dtype=float)
    q = np.asarray(dividend_yield, dtype=float)
    c = np.asarray(is_call, dtype=bool)
    shape = np.broadcast_shapes(s.shape, k.shape, t.shape, r.shape, v.shape, q.shape, c.shape)
    expired, live, _t_s, _v_s, _sqrt_t, _sig_sqrt_t, d1, d2, df_q, df_r = _bs_terms(s, k, t, r, v, q)
    sign = np.where(c, 1.0, -1.0)  # N(±d): multiplying by ±1 is exact
    a = s * df_q * ndtr(sign * d1)
    b = k * df_r * ndtr(sign * d2)
    price = np.where(c, a - b, b - a)  # call a − b; put K e^{−rT} N(−d2) − S e^{−qT} N(−d1) = b − a
    if expired.any():
        intrinsic = np.where(c, np.maximum(s - k, 0.0), np.maximum(k - s, 0.0))
        price = np.where(expired, intrinsic, price)
    bad = ~expired & ~live
    if bad.any():
        price = np.where(bad, np.nan, price)
    return np.array(np.broadcast_to(price, shape), dtype=float)


def no_arbitrage_bounds(spot, strike, time_years, rate, dividend_yield, is_call) -> tuple[np.ndarray, np.ndarray]:
    """European price bounds (dollars per share): call ∈ (max(Se^{−qT} − Ke^{−rT}, 0), Se^{−qT}),
    put ∈ (max(Ke^{−rT} − Se^{−qT}, 0), Ke^{−rT})."""
    s, k, t, r, q = (_as_float(a) for a in (spot, strike, time_years, rate, dividend_yield))
    c = np.asarray(is_call, dtype=bool)
    fwd_s = s * np.exp(-q * t)
    pv_k = k * np.exp(-r * t)
    lower = np.where(c, np.maximum(fwd_s - pv_k, 0.0), np.maximum(pv_k - fwd_s, 0.0))
    upper = np.where(c, fwd_s, pv_k)
    return lower, upper


def implied_volatility(
    price: Any,
    spot: Any,
    strike: Any,
    time_years: Any,
    rate: Any,
    dividend_yield: Any = 0.0,
    is_call: Any = True,
    *,
    vol_low: float = 1e-6,
    vol_high: float = 5.0,
    max_iter: int = 200,
    tol: float = 1e-12,
) -> np.ndarray:
    """Black–Scholes–Merton implied volatility (annualised decimal), vectorised.

    Solves BSM(σ) = price for every element at once with a safeguarded Newton iteration: a bracket
    [lo, hi] (initially [vol_low, vol_high], widened by doubling up to 320 if needed) is kept for every
    element; the Newton step σ − (BSM(σ) − price)/vega is accepted only when it stays inside the
    bracket, otherwise the bracket midpoint is used (bisection). BSM price is increasing in σ so the
    bracket always contains the root.

    Returns NaN where there is no solution: T ≤ 0, non-finite inputs, or a price not strictly inside
    the no-arbitrage bounds (see ``no_arbitrage_bounds``), or a root above the widened bracket.
    Units as in ``black_scholes`` (price in dollars per share, rate/q decimals, T in years).
    """
    p, s, k, t, r, q = (_as_float(a) for a in (price, spot, strike, time_years, rate, dividend_yield))
    c = np.asarray(is_call, dtype=bool)
    p, s, k, t, r, q, c = np.broadcast_arrays(p, s, k, t, r, q, c)
    shape = p.shape
    p, s, k, t, r, q, c = (a.ravel() for a in (p, s, k, t, r, q, c))

    result = np.full(p.shape, np.nan)
    finite = np.isfinite(p) & np.isfinite(s) & np.isfinite(k) & np.isfinite(t) & np.isfinite(r) & np.isfinite(q)
    ok = finite & (t > 0) & (s > 0) & (k > 0)
    lower, upper = no_arbitrage_bounds(
        np.where(ok, s, 1.0), np.where(ok, k, 1.0), np.where(ok, t, 1.0), r, q, c
    )
    ok &= (p > lower) & (p < upper)
    if not ok.any():
        return result.reshape(shape)

    idx = np.flatnonzero(ok)
    p, s, k, t, r, q, c = (a[idx] for a in (p, s, k, t, r, q, c))
    lo = np.full(p.shape, vol_low)
    hi = np.full(p.shape, vol_high)
    # Widen the upper bracket where needed (very short-dated / very high vol quotes).
    for _ in range(6):
        p_hi, _v = _bs_price_only(s, k, t, r, hi, q, c)
        need = p_hi < p
        if not need.any():
            break
        lo = np.where(need, hi, lo)
        hi = np.where(need, hi * 2.0, hi)
    p_hi, _v = _bs_price_only(s, k, t, r, hi, q, c)
    reachable = p_hi >= p

    x = np.clip(np.sqrt(2.0 * np.abs(np.log(s / k) + (r - q) * t) / t), lo, hi)  # Manaster–Koehler start
    x = np.where((x > lo) & (x < hi), x, 0.5 * (lo + hi))
    active = np.ones(p.shape, dtype=bool)
    for _ in range(max_iter):
        model, vega = _bs_price_only(s, k, t, r, x, q, c)
        diff = model - p
        lo = np.where(diff < 0, x, lo)
        hi = np.where(diff > 0, x, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = x - diff / vega
        use_newton = np.isfinite(newton) & (newton > lo) & (newton < hi)
        x_new = np.where(use_newton, newton, 0.5 * (lo + hi))
        converged = (np.abs(diff) <= tol * np.maximum(p, 1e-300)) | (hi - lo <= 1e-15 * np.maximum(x, 1.0))
        active &= ~converged
        x = np.where(active, x_new, x)
        if not active.any():
            break
    x = np.where(reachable, x, np.nan)
    result[idx] = x
    return result.reshape(shape)


def realised_volatility(prices: pd.DataFrame, window: int = 63, min_obs: int = 20) -> pd.Series:
    """Annualised realised volatility per column: stdev(daily log returns, ddof=1) × √252.

    Uses the last ``window`` daily log returns (i.e. the last window + 1 price rows; a return is
    NaN if either price is missing and is then skipped). Decimal (0.25 = 25 vol). NaN when fewer
    than ``min_obs`` returns are available in the window.
    """
    rets = log_returns(prices.iloc[-(window + 1):])
    n = rets.notna().sum()
    vol = rets.std(ddof=1) * np.sqrt(TRADING_DAYS_PER_YEAR)
    vol[n < min_obs] = np.nan
    vol.name = f"realised_vol_{window}d"
    return vol


def realised_volatility_by_date(prices: pd.DataFrame, dates, window: int = 63, min_obs: int = 20) -> pd.DataFrame:
    """``realised_volatility(prices.loc[:d], window, min_obs)`` for every d of ``dates`` at once.

    Returns a DataFrame (index = the dates, columns = prices' columns) of annualised decimal vols: each
    row is the stdev (ddof=1) of the last ``window`` daily log returns ending on that date (NaN returns
    skipped, NaN when fewer than ``min_obs``) × √252 — the window ending on each session, so a session's
    vol does not depend on which other dates are asked for. Every date must be in ``prices.index``.
    """
    idx = session_index(prices.index)
    want = session_index(dates if isinstance(dates, pd.DatetimeIndex) else list(dates))
    rows = idx.get_indexer(want)
    if (rows < 0).any():
        raise ValueError(f"dates not in the price index: {[str(d.date()) for d in want[rows < 0]][:5]}")
    values = prices.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = np.log(values[1:] / values[:-1])  # analytics.returns.log_returns
    # return t ends on price row t + 1; pad so every date has `window` return slots (missing = NaN, skipped)
    padded = np.vstack([np.full((window, values.shape[1]), np.nan), lr])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)  # slot i: returns ending on price row i
    chosen = windows[rows]  # dates × columns × window
    n = np.isfinite(chosen).sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(chosen, axis=2) / n
        var = np.nansum((chosen - mean[:, :, None]) ** 2, axis=2) / (n - 1)
    vol = np.sqrt(var) * np.sqrt(TRADING_DAYS_PER_YEAR)
    vol[n < max(min_obs, 2)] = np.nan
    return pd.DataFrame(vol, index=want, columns=prices.columns)


def dividend_yields(symbols: Any, spots: Any, as_of: Any, dividends: dict | None) -> pd.DataFrame:
    """Continuous dividend yield q per underlying for Black–Scholes–Merton, with its source.

    ``dividends``: {symbol: [(ex_date, cash amount per share), …] or objects with ``ex_date``/``amount``}
    as served by a provider (FMP, Polygon), or None / missing symbol when the provider has no dividend data.

    * symbol served → q = Σ amounts with ex-date in (as_of − 365 days, as_of] / spot (the trailing 12-month
      cash yield, decimal; 0 for a served symbol that paid nothing), source ``provider_trailing_12m``;
    * otherwise (the file and synthetic providers carry adjusted closes only) → q = 0, source
      ``unavailable_assumed_0``: a documented assumption, flagged on every Greeks row. For index ETFs this
      overstates call values and understates put values slightly (SPY yields ~1.2 %).

    Returns a DataFrame indexed by symbol with columns dividend_yield (decimal) and dividend_yield_source.
    """
    syms = [str(x) for x in np.atleast_1d(np.asarray(symbols, dtype=object))]
    spot = np.broadcast_to(_as_float(spots), (len(syms),))
    day = pd.Timestamp(as_of).date()
    lo = day - pd.Timedelta(days=365).to_pytimedelta()
    q, src = [], []
    for sym, s in zip(syms, spot):
        rows = None if dividends is None else dividends.get(sym)
        if rows is None or not (s > 0):
            q.append(0.0)
            src.append(DIVIDEND_SOURCE_NONE)
            continue
        total = 0.0
        for r in rows:
            ex, amt = (r.ex_date, r.amount) if hasattr(r, "ex_date") else r
            ex = pd.Timestamp(ex).date()
            if lo < ex <= day:
                total += float(amt)
        q.append(total / float(s))
        src.append(DIVIDEND_SOURCE_PROVIDER)
    return pd.DataFrame({"dividend_yield": q, "dividend_yield_source": src}, index=pd.Index(syms, name="symbol"))


def risk_free_rate_from_irx(irx_percent: float) -> float:
    """Convert the ^IRX quote (13-week T-bill yield in PERCENT, e.g. 4.5) to a decimal rate (0.045).

    ^IRX is quoted in percent; feeding 4.5 directly into Black–Scholes as ``rate`` would mean 450 %.
    """
    return float(irx_percent) / 100.0


def to_day_array(values: Any) -> np.ndarray:
    """Calendar days (``datetime64[D]``; NaT for None) of dates, datetimes, Timestamps or date strings, a time
    of day dropped. numpy converts naive dates/datetimes directly (a date column of a positions table: ~50×
    faster than a pandas parse, which matters once per session of a range); anything else (strings, NaN, NaT
    objects) goes through ``pandas.to_datetime`` — the same days either way. A time-zone-aware value counts by
    its UTC day."""
    if isinstance(values, (pd.Series, pd.Index)) and values.dtype.kind == "M" and getattr(values.dtype, "tz", None) is None:
        return values.to_numpy().astype("datetime64[D]")
    objects = np.atleast_1d(np.asarray(values, dtype=object))
    if all(v is None or isinstance(v, np.datetime64) or (isinstance(v, date) and getattr(v, "tzinfo", None) is None)
           for v in objects.tolist()):
        return np.array(objects, dtype="datetime64[D]")
    # utc=True: an aware value by its UTC day (as numpy converted it before), a naive one as it is
    return pd.to_datetime(pd.Series(objects), utc=True).dt.tz_localize(None).to_numpy().astype("datetime64[D]")


def compute_option_greeks(
    quantity: Any,
    strike: Any,
    expiry: Any,
    is_call: Any,
    spot: Any,
    as_of: Any,
    rate: float | Any,
    vol: Any,
    dividend_yield: float | Any = 0.0,
    market_price: Any = None,
    *,
    multiplier: int = CONTRACT_MULTIPLIER,
    index: Any = None,
) -> pd.DataFrame:
    """Per-contract and per-position BSM Greeks for a book of option positions (vectorised).

    Inputs (array-likes/Series of equal length, or scalars that broadcast):
      quantity: contracts, signed (negative = short); strike: dollars; expiry: dates;
      is_call: bool; spot: underlying price in dollars; as_of: valuation date (scalar);
      rate: decimal annualised (use ``risk_free_rate_from_irx``); vol: realised vol per position
      (decimal annualised, e.g. ``realised_volatility`` 63d); dividend_yield: decimal (default 0);
      market_price: option price per share in dollars, NaN / None when there is no quote.

    Volatility choice: where a market price is given AND an implied vol exists for it, the implied
    vol is used (volatility_source='implied'); otherwise the supplied realised vol
    (volatility_source='realised_63d'). Rows where a quote was present but had no implied vol
    (outside no-arbitrage bounds) have ``implied_vol_failed`` = True.

    Time to expiry: time_years = (expiry − as_of) calendar days / 365; an option is ``expired`` when
    that is ≤ 0 days (on expiry day it is valued at intrinsic, Greeks 0).

    Output DataFrame columns (index = ``index`` or the index of ``quantity`` if it is a Series):
      quantity, strike, spot, is_call, time_years, expired, implied_vol (the vol actually used),
      volatility_source, implied_vol_failed,
      per contract-share: price, delta, gamma, theta, vega, rho (units as in ``black_scholes``),
      per position (× quantity × multiplier, signed):
        position_price  — market value in dollars,
        position_delta  — share-equivalent delta (shares),
        position_gamma  — shares per $1 move,
        position_theta  — dollars per calendar day,
        position_vega   — dollars per vol point,
        position_rho    — dollars per 1 % rate move,
        delta_dollars   — position_delta × spot: dollar-equivalent underlying exposure,
        gamma_dollars   — 0.5 × position_gamma × spot² × 0.01²: dollar P&L from gamma alone for a
                          1 % move in the underlying (same sign for up and down moves).
    """
    if index is None and isinstance(quantity, pd.Series):
        index = quantity.index
    qty = _as_float(quantity)
    n = np.atleast_1d(qty).shape[0]

    def _vec(x: Any, dtype=float) -> np.ndarray:
        return np.broadcast_to(np.asarray(x, dtype=dtype), (n,)).copy()

    qty = _vec(qty)
    k = _vec(strike)
    s = _vec(spot)
    c = _vec(is_call, bool)
    r = _vec(rate)
    q = _vec(dividend_yield)
    realised = _vec(vol)
    if market_price is None:
        mkt = np.full(n, np.nan)
    else:
        raw = pd.Series(np.atleast_1d(np.asarray(market_price, dtype=object)))
        mkt = _vec(pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float))

    exp_days = to_day_array(expiry)
    if exp_days.shape[0] == 1 and n > 1:
        exp_days = np.repeat(exp_days, n)
    as_of_day = to_day_array([as_of])[0]
    days = (exp_days - as_of_day).astype(int).astype(float)
    t = days / DAYS_PER_YEAR
    expired = days <= 0

    iv = implied_volatility(mkt, s, k, t, r, q, c)
    has_quote = np.isfinite(mkt)
    use_iv = has_quote & np.isfinite(iv)
    sigma = np.where(use_iv, iv, realised)
    source = np.where(use_iv, VOL_SOURCE_IMPLIED, VOL_SOURCE_REALISED)

    g = black_scholes(s, k, t, r, sigma, q, c)
    scale = qty * multiplier
    out = pd.DataFrame(
        {
            "quantity": qty,
            "strike": k,
            "spot": s,
            "is_call": c,
            "time_years": t,
            "expired": expired,
            "implied_vol": sigma,
            "volatility_source": source,
            "implied_vol_failed": has_quote & ~np.isfinite(iv) & ~expired,
            "price": g["price"],
            "delta": g["delta"],
            "gamma": g["gamma"],
            "theta": g["theta"],
            "vega": g["vega"],
            "rho": g["rho"],
        },
        index=index,
    )
    for key in ("price", "delta", "gamma", "theta", "vega", "rho"):
        out[f"position_{key}"] = g[key] * scale
    out["delta_dollars"] = out["position_delta"].to_numpy() * s
    out["gamma_dollars"] = 0.5 * out["position_gamma"].to_numpy() * s * s * 0.01**2
    return out
