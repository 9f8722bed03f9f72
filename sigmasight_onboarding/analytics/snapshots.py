"""Positions tables, single-date valuation and daily portfolio snapshot series.

Positions table (one row per position; the DataFrame index is the position id):

===================  =========================================================================
symbol               ticker (stocks/ETFs) or option symbol
position_type        LONG | SHORT (stock) ; LC | LP | SC | SP (long/short call/put)
quantity             signed: shares for stocks, contracts for options (LONG/LC/LP > 0, SHORT/SC/SP < 0)
entry_price          dollars per share (stocks) / per underlying share of premium (options)
entry_date           date the position is first held (optional for pure valuation)
underlying_symbol    options only: the underlying ticker
strike               options only: dollars
expiration_date      options only: date
===================  =========================================================================

Market value (dollars, signed): stocks quantity × price; options quantity × 100 × Black–Scholes price.
Options are priced with ``analytics.greeks.black_scholes`` unless a ``pricer`` with
the same signature is passed: time to expiry = calendar days / 365 (Act/365F); rate and vol are
annualised decimals; expired → intrinsic value with zero Greeks. Where only prices are needed on a
large grid (scenario revaluation), ``option_prices`` uses ``bs_price_only`` — the same Black–Scholes
price formula without the Greeks — for the default pricer.

Pure computation: numpy, pandas for labelled input/output. No Dagster, no database.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Mapping, Sequence, TypedDict, Unpack

import numpy as np
import pandas as pd

from sigmasight_onboarding.analytics.greeks import black_scholes, to_day_array
from sigmasight_onboarding.analytics.returns import by_session, session_index
from sigmasight_onboarding.analytics.greeks import black_scholes_price as bs_price_only

from sigmasight_onboarding.domain import CALL_TYPES, CONTRACT_MULTIPLIER, LONG_TYPES, OPTION_TYPES, STOCK_TYPES

DAYS_PER_YEAR = 365.0

Pricer = Callable[..., Mapping[str, np.ndarray]]


def get_pricer(pricer: Pricer | None = None) -> Pricer:
    """Return `pricer`, or ``analytics.greeks.black_scholes`` when None."""
    return black_scholes if pricer is None else pricer


def price_options(
    pricer: Pricer | None,
    spot: Any,
    strike: Any,
    time_years: Any,
    rate: Any,
    vol: Any,
    dividend_yield: Any,
    is_call: Any,
) -> dict[str, np.ndarray]:
    """Call the pricer on broadcast arrays (flattened, then reshaped back); per-share dollars.

    Returns dict price/delta/gamma/theta/vega/rho in the pricer's units (greeks.black_scholes:
    price $/share, delta per $1, gamma per $1², theta $/calendar day, vega $/vol point).
    """
    arrays = np.broadcast_arrays(
        np.asarray(spot, dtype=float),
        np.asarray(strike, dtype=float),
        np.asarray(time_years, dtype=float),
        np.asarray(rate, dtype=float),
        np.asarray(vol, dtype=float),
        np.asarray(dividend_yield, dtype=float),
        np.asarray(is_call, dtype=bool),
    )
    shape = arrays[0].shape
    if arrays[0].size == 0:
        return {k: np.zeros(shape) for k in ("price", "delta", "gamma", "theta", "vega", "rho")}
    s, k, t, r, v, q, c = (a.ravel() for a in arrays)
    out = get_pricer(pricer)(spot=s, strike=k, time_years=t, rate=r, vol=v, dividend_yield=q, is_call=c)
    return {key: np.asarray(val, dtype=float).reshape(shape) for key, val in out.items()}


def _is_default_pricer(pricer: Pricer | None) -> bool:
    return pricer is None or pricer is black_scholes


def option_prices(pricer: Pricer | None, *inputs: Any) -> np.ndarray:
    """Option prices ($/share) for the inputs of `price_options` (spot, strike, time_years, rate, vol,
    dividend_yield, is_call; broadcast arrays): `bs_price_only` for the default pricer (``greeks.black_scholes``,
    no Greeks computed), else ``price_options(pricer, *inputs)["price"]``."""
    if len(inputs) != 7:
        raise TypeError(f"option_prices takes spot, strike, time_years, rate, vol, dividend_yield, is_call; got {len(inputs)} inputs")
    if _is_default_pricer(pricer):
        return bs_price_only(*inputs)
    return price_options(pricer, *inputs)["price"]


def prepare_positions(positions: pd.DataFrame) -> pd.DataFrame:
    """Validate a positions table and add derived columns.

    Added columns: is_option (bool), is_call (bool; False for stocks), multiplier (1 or 100),
    price_symbol (the symbol whose price drives the position: symbol for stocks, underlying_symbol
    for options). Raises ValueError for unknown position types, a quantity whose sign contradicts
    the type (LONG/LC/LP must be > 0, SHORT/SC/SP < 0) or options without underlying/strike/expiry.
    """
    required = {"symbol", "position_type", "quantity"}
    missing = required - set(positions.columns)
    if missing:
        raise ValueError(f"positions table lacks columns {sorted(missing)}")
    index = positions.index
    # plain Python/numpy on the columns (a handful of pandas calls cost more than the work itself)
    ptype_list = [str(v).upper().strip() for v in positions["position_type"].astype(object).tolist()]
    ptype = np.array(ptype_list, dtype=object)
    known = set(STOCK_TYPES + OPTION_TYPES)
    unknown = np.array([p not in known for p in ptype_list], dtype=bool)
    if unknown.any():
        raise ValueError(f"unknown position_type for positions {list(index[unknown])}: {sorted(set(ptype[unknown]))}")
    qty_col = positions["quantity"]
    qty = (qty_col if qty_col.dtype == np.float64 else pd.to_numeric(qty_col, errors="coerce")).to_numpy(dtype=float, na_value=np.nan)
    long_type = np.array([p in LONG_TYPES for p in ptype_list], dtype=bool)
    bad_sign = ~np.isfinite(qty) | (long_type & (qty <= 0)) | (~long_type & (qty >= 0))
    if bad_sign.any():
        raise ValueError(
            "quantity must be signed (LONG/LC/LP > 0, SHORT/SC/SP < 0); offending positions: "
            f"{list(index[bad_sign])}"
        )
    is_option = np.array([p in OPTION_TYPES for p in ptype_list], dtype=bool)
    is_call = np.array([p in CALL_TYPES for p in ptype_list], dtype=bool)
    strike = None
    if "strike" in positions.columns:
        strike_col = positions["strike"]
        strike = (strike_col if strike_col.dtype == np.float64 else pd.to_numeric(strike_col, errors="coerce")).to_numpy(
            dtype=float, na_value=np.nan)
    if is_option.any():
        for col in ("underlying_symbol", "strike", "expiration_date"):
            if col not in positions.columns:
                raise ValueError(f"option positions need column {col!r}")
        bad = (
            pd.isna(positions["underlying_symbol"].to_numpy(dtype=object)[is_option])
            | np.isnan(strike[is_option])
            | pd.isna(positions["expiration_date"].to_numpy(dtype=object)[is_option])
        )
        if bad.any():
            raise ValueError(f"option positions missing underlying/strike/expiry: {list(index[is_option][bad])}")
    if "underlying_symbol" in positions.columns:
        underlying = positions["underlying_symbol"].to_numpy(dtype=object)
    else:
        underlying = np.full(len(positions), None, dtype=object)
    price_symbol = np.where(is_option, underlying, positions["symbol"].to_numpy(dtype=object))

    replaced = {"position_type": ptype, "quantity": qty}
    if strike is not None:
        replaced["strike"] = strike
    added = {
        "is_option": is_option,
        "is_call": is_call,
        "multiplier": np.where(is_option, CONTRACT_MULTIPLIER, 1).astype(float),
        "price_symbol": price_symbol,
    }
    if not positions.columns.is_unique or any(c in positions.columns for c in added):
        pos = positions.copy()
        for key, arr in {**replaced, **added}.items():
            pos[key] = arr
        return pos
    data = {c: (replaced[c] if c in replaced else positions[c].array) for c in positions.columns}
    data.update(added)
    pos = pd.DataFrame(data, index=index, copy=True)
    pos.columns.name = positions.columns.name
    if positions.attrs:
        pos.attrs = copy.deepcopy(positions.attrs)
    return pos


def _float_values(spots: Mapping[str, float] | pd.Series, keys: Sequence[str]) -> np.ndarray:
    """spots[key] per key as floats (NaN where absent) = ``pd.Series(spots, dtype=float).reindex(keys)``;
    a numeric Series with a unique index is read directly (no new Series, no reindex)."""
    if isinstance(spots, pd.Series) and spots.dtype.kind in "fiub" and spots.index.is_unique and spots.index.nlevels == 1:
        idx = spots.index.get_indexer(list(keys))
        vals = spots.to_numpy(dtype=float)
        return np.where(idx >= 0, vals[np.maximum(idx, 0)] if vals.size else np.nan, np.nan)
    return pd.Series(spots, dtype=float).reindex(list(keys)).to_numpy(dtype=float)


def lookup_values(mapping: Mapping[str, float] | pd.Series | float | None, keys: Sequence[str], what: str, default: float | None = None) -> np.ndarray:
    """Per-key values of a mapping as a float vector (vols, dividend yields, spots, rate betas, ...).

    Parameters
    ----------
    mapping : mapping or Series keyed by symbol, a scalar (broadcast to every key), or None
        The values, in whatever unit the caller uses (e.g. decimal annualised vols).
    keys : sequence of str
        The symbols to look up, in output order (repeats allowed).
    what : str
        Name of the quantity, used in error messages.
    default : float, optional
        Value for absent keys (and for every key when `mapping` is None).

    Returns
    -------
    numpy.ndarray
        ``mapping[key]`` per key (float). Raises ValueError for an absent key (or a None mapping)
        when `default` is None.
    """
    if mapping is None:
        if default is None:
            raise ValueError(f"{what} required")
        return np.full(len(keys), float(default))
    if np.isscalar(mapping):
        return np.full(len(keys), float(mapping))
    values = _float_values(mapping, keys)
    if default is not None:
        return np.where(np.isnan(values), default, values)
    if np.isnan(values).any():
        absent = sorted({k for k, v in zip(keys, values) if np.isnan(v)})
        raise ValueError(f"{what} missing for {absent}")
    return values


def time_to_expiry_years(expiration_dates: Any, as_of: Any) -> np.ndarray:
    """(expiration_date − as_of) in calendar days / 365 (Act/365F); ≤ 0 means expired."""
    exp = to_day_array(expiration_dates)
    ref = np.datetime64(pd.Timestamp(as_of).date(), "D")
    return (exp - ref).astype(float) / DAYS_PER_YEAR


class ValuationOptions(TypedDict, total=False):
    """Optional inputs of a one-date valuation (`value_positions`, `valuation_arrays`; keywords): vols —
    decimal annualised per option underlying (options only); dividend_yields — decimal per underlying
    (default 0); pricer — Black–Scholes-signature option pricer (default ``greeks.black_scholes``)."""

    vols: Mapping[str, float] | pd.Series | None
    dividend_yields: Mapping[str, float] | pd.Series | None
    pricer: Pricer | None


def value_positions(
    positions: pd.DataFrame,
    spots: Mapping[str, float] | pd.Series,
    as_of: Any,
    rate: float,
    **options: Unpack[ValuationOptions],
) -> pd.DataFrame:
    """Value every position on one date (vectorised over positions).

    spots: price per price_symbol in dollars (stocks: their own symbol, options: underlying).
    rate: decimal annualised (continuous); vols: decimal annualised per underlying (options only);
    dividend_yields: decimal per underlying (default 0).

    Output (index = positions index) = prepare_positions columns plus:
      spot ($/share of price_symbol), time_years (options; NaN for stocks), vol, unit_price
      ($/share; stock price or BS option price), market_value ($, signed = quantity × multiplier ×
      unit_price), delta_shares (share-equivalents: stocks = quantity, options = quantity × 100 × Δ),
      dollar_delta ($ = delta_shares × spot), gamma_shares (shares per $1), theta ($ per calendar
      day), vega ($ per vol point); option Greeks per the pricer's units, stocks have gamma/theta/vega 0.
    """
    pos = positions if "price_symbol" in positions.columns else prepare_positions(positions)
    cols = valuation_arrays(pos, spots, as_of, rate, **options)
    if not pos.index.is_unique or any(c in pos.columns for c in cols):
        out = pos.copy()
        for key, arr in cols.items():
            out[key] = arr
        return out
    return pd.concat([pos, pd.DataFrame(cols, index=pos.index)], axis=1)


VALUATION_COLUMNS = ("spot", "time_years", "vol", "unit_price", "market_value", "delta_shares", "dollar_delta",
                     "gamma_shares", "theta", "vega")


def valuation_arrays(
    pos: pd.DataFrame,
    spots: Mapping[str, float] | pd.Series,
    as_of: Any,
    rate: float,
    **options: Unpack[ValuationOptions],
) -> dict[str, np.ndarray]:
    """The valuation columns of `value_positions` as arrays, without building a DataFrame.

    Parameters
    ----------
    pos : DataFrame
        A positions table already through `prepare_positions` (has price_symbol, is_option, ...).
    spots, as_of, rate, vols, dividend_yields, pricer
        As in `value_positions` (dollars; annualised decimals).

    Returns
    -------
    dict of str to numpy.ndarray
        ``VALUATION_COLUMNS`` in order, one value per position: spot ($), time_years, vol, unit_price
        ($/share), market_value ($, signed), delta_shares, dollar_delta ($), gamma_shares, theta
        ($/calendar day), vega ($/vol point) — the numbers `value_positions` adds to the table.
    """
    vols, dividend_yields, pricer = options.get("vols"), options.get("dividend_yields"), options.get("pricer")
    n = len(pos)
    spot = _float_values(spots, pos["price_symbol"].tolist()) if n else np.zeros(0)
    is_opt = pos["is_option"].to_numpy(dtype=bool)
    qty = pos["quantity"].to_numpy(dtype=float)
    mult = pos["multiplier"].to_numpy(dtype=float)
    unit = spot.copy()
    delta = np.ones(n)
    gamma = np.zeros(n)
    theta = np.zeros(n)
    vega = np.zeros(n)
    t_years = np.full(n, np.nan)
    vol_vec = np.full(n, np.nan)
    if is_opt.any():
        opt = pos.loc[is_opt]
        und = opt["price_symbol"].tolist()
        t = time_to_expiry_years(opt["expiration_date"], as_of)
        v = lookup_values(vols, und, "vol")
        q = lookup_values(dividend_yields, und, "dividend_yield", default=0.0)
        g = price_options(pricer, spot[is_opt], opt["strike"].to_numpy(float), t, rate, v, q, opt["is_call"].to_numpy(bool))
        unit[is_opt] = g["price"]
        delta[is_opt] = g["delta"]
        gamma[is_opt] = g["gamma"]
        theta[is_opt] = g["theta"]
        vega[is_opt] = g["vega"]
        t_years[is_opt] = t
        vol_vec[is_opt] = v
    scale = qty * mult
    return {
        "spot": spot,
        "time_years": t_years,
        "vol": vol_vec,
        "unit_price": unit,
        "market_value": scale * unit,
        "delta_shares": scale * delta,
        "dollar_delta": scale * delta * spot,
        "gamma_shares": scale * gamma,
        "theta": scale * theta,
        "vega": scale * vega,
    }


def _vol_matrix(vols: Mapping[str, float] | pd.Series | pd.DataFrame | None, und: list[str], date_idx: pd.DatetimeIndex,
                held: np.ndarray) -> np.ndarray:
    """Vol per (date, option) as a dates × options array.

    A mapping/Series gives one vol per underlying for every date (missing → ValueError); a DataFrame
    (index = dates, columns = underlyings) gives each session its OWN vol — a NaN is allowed only where the
    option is not held on that date (ValueError otherwise).
    """
    if isinstance(vols, pd.DataFrame):
        fr = vols.set_axis(session_index(vols.index), axis=0)
        fr = fr[~fr.index.duplicated(keep="last")]
        m = fr.reindex(index=date_idx, columns=und).to_numpy(dtype=float)
        bad = np.isnan(m) & held
        if bad.any():
            where = sorted({f"{und[j]} on {date_idx[i].date()}" for i, j in zip(*np.nonzero(bad))})
            raise ValueError(f"vol missing for {where[:10]}")
        return m
    return np.broadcast_to(lookup_values(vols, und, "vol")[None, :], (len(date_idx), len(und))).copy()


def _rate_vector(rates: pd.Series | float, date_idx: pd.DatetimeIndex) -> np.ndarray:
    """Rate per date: a scalar broadcasts; a Series is forward-filled onto the dates (ValueError if a
    first date has nothing to forward-fill from)."""
    if isinstance(rates, (int, float, np.floating, np.integer)):
        return np.full(len(date_idx), float(rates))
    rs = pd.Series(rates, dtype=float)
    rs.index = session_index(rs.index)
    rs = rs[~rs.index.duplicated(keep="last")]
    r = rs.sort_index().reindex(rs.index.union(date_idx)).ffill().reindex(date_idx).to_numpy(float)
    if np.isnan(r).any():
        raise ValueError("rates missing for the first snapshot dates (nothing to forward-fill from)")
    return r


def _position_arrays(
    positions: pd.DataFrame,
    prices: pd.DataFrame,
    dates: Sequence[Any],
    rates: pd.Series | float,
    vols: Mapping[str, float] | pd.Series | pd.DataFrame | None = None,
    dividend_yields: Mapping[str, float] | pd.Series | None = None,
    pricer: Pricer | None = None,
) -> dict[str, Any]:
    """Each (date, position)'s own marks as dates × positions arrays (the one valuation behind
    `portfolio_snapshot_series` and `position_marks`): spot, unit (price per share), vol, rate, time_years,
    per-share Greeks delta/gamma/theta/vega/rho, held, mv (= quantity × multiplier × unit where held, else 0),
    plus pos (prepared table), date_idx, qty, mult, cost, missing, psym."""
    pos = prepare_positions(positions)
    for col in ("entry_date", "entry_price"):
        if col not in pos.columns:
            raise ValueError(f"positions table lacks column {col!r}")
    date_idx = session_index(list(dates))
    n_d, n_p = len(date_idx), len(pos)
    px = by_session(prices)
    psym = pos["price_symbol"].tolist()
    all_px = px.reindex(columns=list(dict.fromkeys(psym)))
    spot = all_px.reindex(date_idx).reindex(columns=psym).to_numpy(dtype=float)  # d × p
    if n_p == 0:
        spot = np.zeros((n_d, 0))

    entry = pd.to_datetime(pos["entry_date"]).dt.normalize().to_numpy()
    held = entry[None, :] <= date_idx.to_numpy()[:, None]  # d × p
    qty = pos["quantity"].to_numpy(float)
    mult = pos["multiplier"].to_numpy(float)
    cost = qty * mult * pd.to_numeric(pos["entry_price"], errors="coerce").to_numpy(float)
    is_opt = pos["is_option"].to_numpy(bool)

    unit = spot.copy()
    delta = np.ones((n_d, n_p))
    gamma = np.zeros((n_d, n_p))
    theta = np.zeros((n_d, n_p))
    vega = np.zeros((n_d, n_p))
    rho = np.zeros((n_d, n_p))
    vol = np.full((n_d, n_p), np.nan)
    t_years = np.full((n_d, n_p), np.nan)
    try:
        r = _rate_vector(rates, date_idx)
    except ValueError:
        if is_opt.any():
            raise
        r = np.full(n_d, np.nan)  # a stock-only book does not need the rate
    if is_opt.any():
        opt = pos.loc[is_opt]
        und = opt["price_symbol"].tolist()
        exp = pd.to_datetime(opt["expiration_date"]).dt.normalize().to_numpy()
        days = (exp[None, :] - date_idx.to_numpy()[:, None]).astype("timedelta64[D]").astype(float)
        t = np.maximum(days, 0.0) / DAYS_PER_YEAR
        s = spot[:, is_opt]
        # settlement spot: last price on or before expiration (vectorised searchsorted)
        loc = np.searchsorted(all_px.index.to_numpy(), exp, side="right") - 1
        und_cols = all_px.columns.get_indexer(und)
        settle = np.where(loc >= 0, all_px.to_numpy(float)[np.maximum(loc, 0), und_cols], np.nan)
        after = days < 0
        s = np.where(after, settle[None, :], s)
        spot[:, is_opt] = s
        v = _vol_matrix(vols, und, date_idx, held[:, is_opt])
        q = lookup_values(dividend_yields, und, "dividend_yield", default=0.0)
        g = price_options(pricer, s, opt["strike"].to_numpy(float)[None, :], t, r[:, None], v, q[None, :], opt["is_call"].to_numpy(bool)[None, :])
        unit[:, is_opt] = g["price"]
        delta[:, is_opt] = g["delta"]
        gamma[:, is_opt] = g["gamma"]
        theta[:, is_opt] = g["theta"]
        vega[:, is_opt] = g["vega"]
        rho[:, is_opt] = g.get("rho", np.zeros_like(g["price"]))
        vol[:, is_opt] = v
        t_years[:, is_opt] = t
    scale = (qty * mult)[None, :]
    missing = held & ~np.isfinite(spot)
    mv = np.where(held, scale * unit, 0.0)  # NaN where held and price missing
    return {"pos": pos, "date_idx": date_idx, "psym": psym, "spot": spot, "unit": unit, "delta": delta, "gamma": gamma,
            "theta": theta, "vega": vega, "rho": rho, "vol": vol, "rate": r, "time_years": t_years, "held": held,
            "qty": qty, "mult": mult, "cost": cost, "scale": scale, "missing": missing, "mv": mv}


class MarkOptions(TypedDict, total=False):
    """Optional valuation inputs of `position_marks` and `portfolio_snapshot_series` (keywords).

    vols: decimal annualised per option underlying — a mapping/Series (one vol for every date) or a
    DataFrame dates × underlyings (each session its own vol); dividend_yields: decimal per underlying
    (default 0); pricer: Black–Scholes-signature option pricer (default ``greeks.black_scholes``).
    """

    vols: Mapping[str, float] | pd.Series | pd.DataFrame | None
    dividend_yields: Mapping[str, float] | pd.Series | None
    pricer: Pricer | None


MARK_COLUMNS = ("held", "quantity", "multiplier", "spot", "price", "vol", "rate", "time_years", "delta", "gamma",
                "vega", "theta", "rho", "market_value", "cost")


def position_marks(
    positions: pd.DataFrame,
    prices: pd.DataFrame,
    dates: Sequence[Any],
    rates: pd.Series | float,
    **options: Unpack[MarkOptions],
) -> pd.DataFrame:
    """Every position's OWN marks on every date — the valuation `portfolio_snapshot_series` aggregates.

    Same inputs as `portfolio_snapshot_series`. Output indexed by (date, position id), ``MARK_COLUMNS``:
    held (entry_date ≤ date), quantity (signed), multiplier (1 / 100), spot ($; options: the underlying,
    frozen at the settlement price after expiry), price ($ per share: stock price or option premium),
    vol / rate (annualised decimals of that date; vol NaN for stocks), time_years (options), per-share Greeks
    delta (per $1), gamma (per $1²), vega ($ per vol point), theta ($ per calendar day), rho ($ per 1 % rate)
    — stocks 1, 0, 0, 0, 0 —, market_value ($ = quantity × multiplier × price where held, else 0) and cost
    ($ = quantity × multiplier × entry_price). This is what `analytics.pnl_explain.explain_sessions` takes.
    """
    return _marks_frame(_position_arrays(positions, prices, dates, rates, **options))


def _marks_frame(a: dict[str, Any]) -> pd.DataFrame:
    """`position_marks` of the arrays of `_position_arrays`."""
    n_d, n_p = a["held"].shape
    ids = a["pos"].index
    index = pd.MultiIndex.from_product([a["date_idx"], ids], names=["date", "position_id"])
    cols = {
        "held": a["held"].ravel(),
        "quantity": np.tile(a["qty"], n_d),
        "multiplier": np.tile(a["mult"], n_d),
        "spot": a["spot"].ravel(),
        "price": a["unit"].ravel(),
        "vol": a["vol"].ravel(),
        "rate": np.repeat(a["rate"], n_p),
        "time_years": a["time_years"].ravel(),
        "delta": a["delta"].ravel(),
        "gamma": a["gamma"].ravel(),
        "vega": a["vega"].ravel(),
        "theta": a["theta"].ravel(),
        "rho": a["rho"].ravel(),
        "market_value": a["mv"].ravel(),
        "cost": np.tile(a["cost"], n_d),
    }
    return pd.DataFrame(cols, index=index)


def portfolio_snapshot_series(
    positions: pd.DataFrame,
    prices: pd.DataFrame,
    dates: Sequence[Any],
    rates: pd.Series | float,
    **options: Unpack[MarkOptions],
) -> pd.DataFrame:
    """Daily portfolio snapshots over `dates` (vectorised over dates × positions).

    Inputs: positions table (module docstring; entry_date required, entry_price required),
    prices: date × symbol matrix in dollars (underlyings for options), rates: decimal annualised
    risk-free rate per date (Series indexed by date, forward-filled onto `dates`, or a scalar),
    vols: decimal annualised vol per option underlying — a mapping/Series (the same vol on every date) or a
    DataFrame dates × underlyings (each session its OWN vol, e.g. the realised-vol window ending on that
    session: what the time-series asset passes), dividend_yields: decimal per underlying (default 0),
    dates: the session dates to report (ascending).

    Each (date, position) is valued ONCE with that date's own marks — its price, its vol, its rate, its time
    to expiry — (`position_marks`), and every column below is computed from those values, so the previous
    session inside this series is valued exactly as it is when it is the last date of its own series.

    A position is held on date d when entry_date ≤ d. Options are revalued with Black–Scholes on
    each date with time to expiry (expiration − d)/365; on/after expiry they are worth intrinsic
    value; after expiry the value is frozen at intrinsic on the underlying's last price on or before
    the expiration date (settlement), so it no longer moves; expired options still count as held.

    Output, index `date` (the given dates), columns (dollars unless stated):
      total_value = net_exposure = Σ signed market values (options = quantity × 100 × BS price),
      long_value = Σ positive market values, short_value = Σ negative market values (a NEGATIVE
      number), gross_exposure = Σ |market value|,
      daily_pnl = Σ over positions held on the previous date of (mv_d − mv_{d−1})  [market P&L]
        + entry_pnl,
      entry_pnl = Σ over positions ENTERING on d (entry after the previous date, or any position held on the
        first date) of mv_d − quantity × entry_price × multiplier: the P&L of the trade since its entry price
        on its first day — a trade, not a market move of the book held over the night,
      so, exactly (up to floating point): total_value_d − total_value_{d−1} = daily_pnl − entry_pnl
        + Σ_entering mv_d; with no position entering on d, daily_pnl = total_value_d − total_value_{d−1};
      daily_return = daily_pnl / gross_exposure of the previous session (decimal; NaN on the first
        date or when that gross exposure is 0),
      cumulative_pnl = Σ_held (mv_d − quantity × entry_price × multiplier), so cumulative_pnl_d −
        cumulative_pnl_{d−1} = daily_pnl on every date after the first (entries included);
      portfolio_delta: share-equivalents (stocks: quantity; options: quantity × 100 × Δ) summed ACROSS
        underlyings — kept because the backend's snapshot table has the column, but a sum of shares of
        different names has no desk meaning (the desk figures are dollar delta and beta-adjusted dollar delta,
        `analytics.exposures` / onb_portfolio_exposures); dollar_delta: Σ share-equivalents × spot ($);
        portfolio_gamma: shares per $1 move (quantity × 100 × Γ);
        portfolio_theta: dollars per calendar day; portfolio_vega: dollars per vol point,
      num_positions, num_long (quantity > 0), num_short (quantity < 0),
      missing_prices: comma-separated sorted symbols held on d without a price on d ("" if none).
    On a date with missing prices every value/Greek column is NaN (never a stale price); daily_pnl
    and daily_return are also NaN on the following date (no valid previous valuation).
    """
    return _snapshot_frame(_position_arrays(positions, prices, dates, rates, **options), dates)


def marks_and_snapshots(
    positions: pd.DataFrame,
    prices: pd.DataFrame,
    dates: Sequence[Any],
    rates: pd.Series | float,
    **options: Unpack[MarkOptions],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(`position_marks`, `portfolio_snapshot_series`) of the same inputs from ONE valuation of every
    (date, position): what the time-series asset stores (snapshots) and explains (P&L attribution)."""
    a = _position_arrays(positions, prices, dates, rates, **options)
    return _marks_frame(a), _snapshot_frame(a, dates)


def _snapshot_frame(a: dict[str, Any], dates: Sequence[Any]) -> pd.DataFrame:
    """`portfolio_snapshot_series` of the arrays of `_position_arrays` over `dates`."""
    n_d, n_p = a["held"].shape
    held, mv, cost, scale, qty, spot = a["held"], a["mv"], a["cost"], a["scale"], a["qty"], a["spot"]
    missing = a["missing"]

    def agg(x: np.ndarray) -> np.ndarray:
        return np.where(held, x, 0.0).sum(axis=1)

    long_value = np.where(mv > 0, mv, 0.0).sum(axis=1)
    short_value = np.where(mv < 0, mv, 0.0).sum(axis=1)
    gross = np.abs(mv).sum(axis=1)
    net = mv.sum(axis=1)
    any_missing = missing.any(axis=1)
    for arr in (long_value, short_value, gross):
        arr[any_missing] = np.nan

    prev_held = np.vstack([np.zeros((1, n_p), bool), held[:-1]]) if n_d else held
    prev_mv = np.vstack([np.zeros((1, n_p)), mv[:-1]]) if n_d else mv
    entering = held & ~prev_held
    entry_pnl = np.where(entering, mv - cost[None, :], 0.0).sum(axis=1)
    market_pnl = np.where(prev_held, mv - prev_mv, 0.0).sum(axis=1)
    daily_pnl = market_pnl + entry_pnl
    prev_gross = np.concatenate([[np.nan], gross[:-1]]) if n_d else gross
    with np.errstate(divide="ignore", invalid="ignore"):
        daily_return = np.where(prev_gross > 0, daily_pnl / prev_gross, np.nan)
    cumulative = np.where(held, mv - cost[None, :], 0.0).sum(axis=1)

    sym_arr = np.asarray(a["psym"], dtype=object)
    missing_str = [",".join(sorted(set(sym_arr[row]))) for row in missing]  # one join per date

    values = {
        "total_value": net,
        "long_value": long_value,
        "short_value": short_value,
        "gross_exposure": gross,
        "net_exposure": net,
        "daily_pnl": daily_pnl,
        "entry_pnl": entry_pnl,
        "daily_return": daily_return,
        "cumulative_pnl": cumulative,
        "portfolio_delta": agg(scale * a["delta"]),
        "dollar_delta": agg(scale * a["delta"] * np.nan_to_num(spot)),
        "portfolio_gamma": agg(scale * a["gamma"]),
        "portfolio_theta": agg(scale * a["theta"]),
        "portfolio_vega": agg(scale * a["vega"]),
    }
    if any_missing.any():  # a date with a missing price: every value column NaN (never a stale price)
        values = {k: np.where(any_missing, np.nan, v) for k, v in values.items()}
    out = pd.DataFrame(
        {
            **values,
            "num_positions": held.sum(axis=1),
            "num_entering": entering.sum(axis=1),
            "num_long": (held & (qty > 0)[None, :]).sum(axis=1),
            "num_short": (held & (qty < 0)[None, :]).sum(axis=1),
            "missing_prices": missing_str,
        },
        index=pd.Index(list(dates), name="date"),
    )
    return out


__all__ = [
    "CONTRACT_MULTIPLIER",
    "OPTION_TYPES",
    "STOCK_TYPES",
    "bs_price_only",
    "get_pricer",
    "lookup_values",
    "option_prices",
    "MARK_COLUMNS",
    "MarkOptions",
    "marks_and_snapshots",
    "portfolio_snapshot_series",
    "position_marks",
    "prepare_positions",
    "price_options",
    "time_to_expiry_years",
    "valuation_arrays",
    "value_positions",
]
