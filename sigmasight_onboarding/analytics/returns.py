"""Return series from price matrices.

Price matrices are `pandas.DataFrame`s indexed by session date (ascending), one column per
symbol, values in dollars (or, for yields such as `^TNX`, in percent). Missing prices are NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def simple_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """Daily simple returns r_t = P_t / P_{t-1} - 1 (decimal, not annualised).

    A return is NaN when either price is missing; the first row is dropped.
    """
    values = prices.to_numpy(dtype=float)
    out = values[1:] / values[:-1] - 1.0
    return pd.DataFrame(out, index=prices.index[1:], columns=prices.columns)


def log_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """Daily log returns ln(P_t / P_{t-1}) (decimal, not annualised); NaN where a price is missing."""
    values = prices.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(values[1:] / values[:-1])
    return pd.DataFrame(out, index=prices.index[1:], columns=prices.columns)


def yield_changes_bp(yields_percent: pd.Series) -> pd.Series:
    """Daily change of a yield quoted in percent (e.g. `^TNX` = 4.25), in basis points.

    1 percentage point = 100 bp, so Δbp = (y_t − y_{t−1}) × 100. (Not `pct_change × 10000`,
    which is a relative change of the yield level, not a change in basis points.)
    """
    values = yields_percent.to_numpy(dtype=float)
    return pd.Series((values[1:] - values[:-1]) * 100.0, index=yields_percent.index[1:], name=yields_percent.name)


def session_index(labels) -> pd.DatetimeIndex:
    """Date-like labels (dates, Timestamps, strings; an index or a list) as a midnight-normalised
    DatetimeIndex. One that already is (tz-naive, normalised) is returned as it is: a range run's window
    carries such an index, and parsing and normalising it again cost ~0.5 ms a call."""
    if isinstance(labels, pd.DatetimeIndex) and labels.tz is None and labels.is_normalized:
        return labels
    return pd.DatetimeIndex(pd.to_datetime(labels)).normalize()


def by_session(prices: pd.DataFrame) -> pd.DataFrame:
    """`prices` on a sorted, midnight-normalised DatetimeIndex (any date-like index in, any order).

    A frame already so indexed is returned as it is, not copied (a range run hands every session such a
    slice); otherwise a copy is re-indexed and sorted. Callers never modify the result in place.
    """
    index = session_index(prices.index)
    if index is prices.index and index.is_monotonic_increasing:
        return prices
    return prices.set_axis(index, axis=0).sort_index()
