"""Dividends and option quotes from the HTTP providers (for dividend yields and implied vols).

Both go through the providers' existing ``httpx`` client (``HttpProviderBase._client`` / ``_get_json``:
retries with backoff, ``Retry-After``, rate limit, key redaction), one request per symbol / contract.

Endpoints
---------
* Polygon dividends: ``GET {base}/v3/reference/dividends?ticker=SPY&ex_dividend_date.gte=..&ex_dividend_date.lte=..
  &limit=1000&apiKey=..`` -> ``{"status": "OK", "results": [{"ticker", "cash_amount", "ex_dividend_date",
  "frequency", ...}]}``.
* FMP dividends: ``GET {base}/stable/dividends?symbol=AAPL&apikey=..`` -> ``[{"symbol", "date" (ex-date),
  "dividend", "adjDividend", "recordDate", "paymentDate", "yield", "frequency"}, ...]`` (``date`` is the
  ex-dividend date; ``dividend`` the cash amount per share).
* Polygon option contract snapshot: ``GET {base}/v3/snapshot/options/{UNDERLYING}/O:{OCC}?apiKey=..`` ->
  ``{"status": "OK", "results": {"details": {"ticker", "contract_type", "strike_price", "expiration_date"},
  "implied_volatility", "last_quote": {"bid", "ask", "midpoint", "last_updated"}, "day": {"close", ...},
  "underlying_asset": {"ticker", "price"}, ...}}``. FMP has no option-quote endpoint in the API version we
  use: option quotes come from Polygon only; every other path falls back to realised volatility (labelled).

Nothing here prices anything: ``analytics.greeks`` turns the quote into an implied vol with our own
Black–Scholes–Merton inversion (same r and q as the Greeks), and uses the vendor's ``implied_volatility``
only for the record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Sequence
from urllib.parse import quote

from .base import PayloadError, normalize_symbols, parse_day


@dataclass(frozen=True)
class Dividend:
    ex_date: date
    amount: float  # cash per share, dollars


@dataclass(frozen=True)
class OptionQuote:
    contract: str  # OCC symbol without the "O:" prefix, e.g. SPY261218P00700000
    bid: float
    ask: float
    mid: float  # (bid + ask) / 2 when both are > 0, else the last trade close (NaN when neither)
    price_basis: str  # 'mid' | 'last'
    vendor_implied_vol: float  # as reported (decimal), NaN when absent
    underlying_price: float
    source: str


def _num(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    x = float(value)
    return x if math.isfinite(x) else math.nan


def _many(provider, items: Sequence[str], fetch) -> tuple[dict, dict[str, str]]:
    key = provider._resolved_key()
    if not key:
        raise ValueError(f"{provider.name}: api_key is empty (set {provider.api_key_env or 'the api key'})")
    out, failures = {}, {}
    with provider._client(1) as client:
        for item in items:
            try:
                out[item] = fetch(client, key, item)
            except PayloadError as exc:
                failures[item] = provider._redact(str(exc))
    return out, failures


# --------------------------------------------------------------------------- dividends

def parse_polygon_dividends(payload: Any, symbol: str) -> list[Dividend]:
    if not isinstance(payload, dict) or payload.get("status") not in ("OK", "DELAYED"):
        raise PayloadError(f"unexpected Polygon dividends payload for {symbol}")
    rows = payload.get("results") or []
    if not isinstance(rows, list):
        raise PayloadError("unexpected Polygon dividends payload ('results' is not a list)")
    out = []
    for row in rows:
        if not isinstance(row, dict):
            raise PayloadError("unexpected Polygon dividend row")
        got = str(row.get("ticker", symbol)).replace(".", "-").upper()
        if got != symbol.replace(".", "-").upper():
            raise PayloadError(f"Polygon returned dividends for {got[:20]!r}, not {symbol!r}")
        amount = _num(row.get("cash_amount"))
        if not (amount >= 0):
            raise PayloadError(f"bad cash_amount {row.get('cash_amount')!r:.40}")
        out.append(Dividend(parse_day(row.get("ex_dividend_date")), amount))
    return out


def parse_fmp_dividends(payload: Any, symbol: str) -> list[Dividend]:
    if isinstance(payload, dict):
        msg = payload.get("Error Message") or payload.get("error") or payload.get("message")
        if msg:
            raise PayloadError(f"FMP error: {str(msg)[:200]}")
        payload = payload.get("historical", [])
    if not isinstance(payload, list):
        raise PayloadError(f"unexpected FMP dividends payload for {symbol}")
    out = []
    for row in payload:
        if not isinstance(row, dict):
            raise PayloadError("unexpected FMP dividend row")
        got = row.get("symbol")
        if got is not None and str(got).upper() != symbol.replace(".", "-").upper():
            raise PayloadError(f"FMP returned dividends for {str(got)[:20]!r}, not {symbol!r}")
        amount = _num(row.get("dividend", row.get("adjDividend")))
        if not (amount >= 0):
            raise PayloadError(f"bad dividend {row.get('dividend')!r:.40}")
        out.append(Dividend(parse_day(row.get("date")), amount))
    return out


def polygon_dividends(provider, symbols: Sequence[str], start: date, end: date) -> tuple[dict[str, list[Dividend]], dict[str, str]]:
    base = provider.base_url.rstrip("/")

    def fetch(client, key, sym):
        params = {"ticker": sym.replace("-", "."), "ex_dividend_date.gte": start.isoformat(),
                  "ex_dividend_date.lte": end.isoformat(), "limit": "1000", "apiKey": key}
        return parse_polygon_dividends(provider._get_json(client, f"{base}/v3/reference/dividends", params), sym)

    return _many(provider, normalize_symbols(symbols), fetch)


def fmp_dividends(provider, symbols: Sequence[str], start: date, end: date) -> tuple[dict[str, list[Dividend]], dict[str, str]]:
    base = provider.base_url.rstrip("/")

    def fetch(client, key, sym):
        divs = parse_fmp_dividends(provider._get_json(client, f"{base}/stable/dividends",
                                                      {"symbol": sym.replace(".", "-"), "apikey": key}), sym)
        return [d for d in divs if start <= d.ex_date <= end]

    return _many(provider, normalize_symbols(symbols), fetch)


def trailing_dividend_yield(dividends: Sequence[Dividend], spot: float, as_of: date, days: int = 365) -> float:
    """Continuous-yield estimate q = Σ cash dividends with ex-date in (as_of − days, as_of] / spot (decimal).

    The trailing 12-month cash yield, used as the continuous dividend yield of Black–Scholes–Merton
    (the usual desk approximation when no forward dividend curve is available). NaN if spot ≤ 0."""
    if not (spot > 0):
        return math.nan
    lo = as_of - timedelta(days=days)
    return float(sum(d.amount for d in dividends if lo < d.ex_date <= as_of)) / float(spot)


# --------------------------------------------------------------------------- option quotes

def parse_polygon_option_snapshot(payload: Any, contract: str) -> OptionQuote:
    if not isinstance(payload, dict) or payload.get("status") not in ("OK", "DELAYED"):
        detail = payload.get("error") or payload.get("message") if isinstance(payload, dict) else None
        raise PayloadError(f"Polygon option snapshot status {payload.get('status') if isinstance(payload, dict) else '?'}"
                           + (f": {str(detail)[:200]}" if detail else ""))
    res = payload.get("results")
    if not isinstance(res, dict):
        raise PayloadError("Polygon option snapshot has no results")
    details = res.get("details") or {}
    ticker = str(details.get("ticker", "")).removeprefix("O:")
    if ticker and ticker.upper() != contract.upper():
        raise PayloadError(f"Polygon returned a snapshot for {ticker[:30]!r}, not {contract!r}")
    q = res.get("last_quote") or {}
    bid, ask = _num(q.get("bid")), _num(q.get("ask"))
    if bid > 0 and ask > 0 and ask >= bid:
        mid, basis = 0.5 * (bid + ask), "mid"
    else:
        mid, basis = _num((res.get("day") or {}).get("close")), "last"
    if not (mid > 0):
        raise PayloadError(f"no usable quote for {contract}")
    return OptionQuote(contract=contract, bid=bid, ask=ask, mid=mid, price_basis=basis,
                       vendor_implied_vol=_num(res.get("implied_volatility")),
                       underlying_price=_num((res.get("underlying_asset") or {}).get("price")), source="polygon")


def polygon_option_quotes(provider, contracts: Sequence[tuple[str, str]]) -> tuple[dict[str, OptionQuote], dict[str, str]]:
    """contracts: [(OCC symbol, underlying)] → ({OCC: OptionQuote}, {OCC: reason})."""
    base = provider.base_url.rstrip("/")
    underlying = dict(contracts)

    def fetch(client, key, occ):
        url = f"{base}/v3/snapshot/options/{quote(underlying[occ].replace('-', '.'), safe='.')}/{quote('O:' + occ, safe=':')}"
        return parse_polygon_option_snapshot(provider._get_json(client, url, {"apiKey": key}), occ)

    return _many(provider, [c for c, _ in contracts], fetch)
