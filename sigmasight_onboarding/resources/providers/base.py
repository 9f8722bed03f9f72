"""Shared pieces of the market-data providers: the result contract, row validation, redaction.

Every provider returns a :class:`ProviderResult`: a long price frame (``PRICE_COLUMNS``) and a
``{symbol: reason}`` dict of the symbols it could not serve. A symbol is either served in full
(every row valid) or failed with a reason; we never return partial or mislabelled rows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np
import pandas as pd

PRICE_COLUMNS = ["symbol", "date", "open", "high", "low", "close", "adj_close", "volume", "data_source"]
_FLOAT_COLUMNS = ["open", "high", "low", "close", "adj_close", "volume"]


class ProviderResult(NamedTuple):
    """What a provider (or the chain) returns.

    prices: long frame with ``PRICE_COLUMNS``; ``date`` holds ``datetime.date``; open/high/low/close
        and volume may be NaN; adj_close is finite and > 0; data_source is the provider's name.
    failures: symbol -> human-readable reason, for every requested symbol not in ``prices``.
    """

    prices: pd.DataFrame
    failures: dict[str, str]


@runtime_checkable
class MarketDataProvider(Protocol):
    name: str  # "fmp" | "polygon" | "file" | "synthetic" == data_source label of its rows

    def daily_prices(self, symbols: Sequence[str], start: date, end: date) -> ProviderResult: ...


class PayloadError(Exception):
    """A symbol's payload cannot be used; the message is the failure reason."""


def empty_prices() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in ("symbol", "date")})
    for col in _FLOAT_COLUMNS:
        frame[col] = pd.Series(dtype="float64")
    frame["data_source"] = pd.Series(dtype="object")
    return frame[PRICE_COLUMNS]


def normalize_symbols(symbols: Sequence[str] | str) -> list[str]:
    """Strip, drop blanks and duplicates, keep order. A bare string is one symbol, not characters."""
    if isinstance(symbols, str):
        symbols = [symbols]
    seen: dict[str, None] = {}
    for raw in symbols:
        sym = str(raw).strip()
        if sym and sym not in seen:
            seen[sym] = None
    return list(seen)


def check_range(start: date, end: date) -> None:
    if not isinstance(start, date) or not isinstance(end, date):
        raise TypeError("start and end must be datetime.date")
    if start > end:
        raise ValueError(f"start {start} is after end {end}")


def symbol_aliases(symbol: str) -> list[str]:
    """Spellings of the same listing: class shares are BRK.B at some vendors and BRK-B at others."""
    out = [symbol]
    for alt in (symbol.replace(".", "-"), symbol.replace("-", ".")):
        if alt not in out:
            out.append(alt)
    return out


@dataclass
class Bar:
    day: date
    open: float = math.nan
    high: float = math.nan
    low: float = math.nan
    close: float = math.nan
    adj_close: float = math.nan
    volume: float = math.nan


def to_number(value: object, field: str, day: date | str, *, required: bool, price: bool) -> float:
    """A JSON value as float. None/missing -> NaN (unless required); anything present must be a
    finite number, > 0 for prices and >= 0 for volume, else the whole symbol fails."""
    if value is None:
        if required:
            raise PayloadError(f"missing {field} on {day}")
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PayloadError(f"non-numeric {field} {value!r:.40} on {day}")
    number = float(value)
    if not math.isfinite(number):
        raise PayloadError(f"non-finite {field} on {day}")
    if price and number <= 0:
        raise PayloadError(f"non-positive {field} {number:g} on {day}")
    if not price and number < 0:
        raise PayloadError(f"negative {field} {number:g} on {day}")
    return number


def parse_day(value: object) -> date:
    """"2025-01-02" (or an ISO datetime such as "2025-01-02 00:00:00") as a date."""
    if not isinstance(value, str):
        raise PayloadError(f"bad date {value!r:.40}")
    text = value.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).date()
    except ValueError as exc:
        raise PayloadError(f"bad date {value!r:.40}") from exc


def bars_to_frame(symbol: str, bars: Iterable[Bar], start: date, end: date, source: str) -> pd.DataFrame:
    """Rows of one symbol within [start, end], sorted; exact duplicate dates collapse, conflicting
    ones fail the symbol. Raises PayloadError when nothing is left."""
    by_day: dict[date, Bar] = {}
    for bar in bars:
        if not (start <= bar.day <= end):
            continue
        prev = by_day.get(bar.day)
        if prev is not None and not _same_bar(prev, bar):
            raise PayloadError(f"conflicting rows for {bar.day}")
        by_day[bar.day] = bar
    if not by_day:
        raise PayloadError(f"no prices between {start} and {end}")
    days = sorted(by_day)
    frame = pd.DataFrame(
        {
            "symbol": [symbol] * len(days),
            "date": days,
            **{col: np.array([getattr(by_day[d], col) for d in days], dtype="float64") for col in _FLOAT_COLUMNS},
            "data_source": [source] * len(days),
        }
    )
    return frame[PRICE_COLUMNS]


def _same_bar(a: Bar, b: Bar) -> bool:
    for col in _FLOAT_COLUMNS:
        x, y = getattr(a, col), getattr(b, col)
        if not (x == y or (math.isnan(x) and math.isnan(y))):
            return False
    return True


def concat_prices(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return empty_prices()
    # one frame already in order (the file provider's whole table): no copy, no sort of millions of rows
    out = frames[0].copy(deep=False) if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    for col in _FLOAT_COLUMNS:
        if out[col].dtype != np.float64:
            out[col] = out[col].astype("float64")
    if not _sorted_by_symbol_date(out):
        out = out.sort_values(["symbol", "date"], kind="stable")
    if not out.index.equals(pd.RangeIndex(len(out))):
        out = out.reset_index(drop=True)
    return out if list(out.columns) == PRICE_COLUMNS else out[PRICE_COLUMNS]


def _sorted_by_symbol_date(frame: pd.DataFrame) -> bool:
    """Rows already in (symbol, date) order (what a stable sort would leave unchanged)."""
    if len(frame) < 2:
        return True
    sym = frame["symbol"].to_numpy(dtype=object)
    day = frame["date"].to_numpy(dtype=object)
    try:
        same = sym[1:] == sym[:-1]
        ok = (sym[1:] > sym[:-1]) | (same & (day[1:] >= day[:-1]))
    except TypeError:  # mixed / missing values: let the sort decide
        return False
    return bool(np.all(ok))


# --- secrets -------------------------------------------------------------------------------------

_KEY_PARAM = re.compile(r"(?i)((?:api_?key|access_token|token)=)[^&\s\"'#]*")


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove api keys from text: ``apikey=...``/``apiKey=...`` query values, and any literal secret."""
    text = _KEY_PARAM.sub(r"\1***", str(text))
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def reason_text(reasons: Mapping[str, str]) -> str:
    return "; ".join(f"{name}: {why}" for name, why in reasons.items())
