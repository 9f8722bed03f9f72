"""Financial Modeling Prep (FMP) daily prices.

Endpoints (``api_version``):

* ``"stable"`` (default): ``GET {base}/stable/historical-price-eod/full?symbol=AAPL&from=..&to=..&apikey=..``
  -> ``[{"symbol","date","open","high","low","close","volume","change","changePercent","vwap"}, ...]``
* ``"v3"`` (legacy): ``GET {base}/api/v3/historical-price-full/AAPL?from=..&to=..&apikey=..``
  -> ``{"symbol": "AAPL", "historical": [{"date","open","high","low","close","adjClose","volume"}, ...]}``

Either shape is accepted whatever the endpoint. ``adj_close`` is ``adjClose`` when the row carries
it (v3 rows, the stable dividend-adjusted rows), else ``close`` (the stable ``full`` endpoint has
no adjClose; its close is split-adjusted but not dividend-adjusted).

FMP spells class shares with a dash (BRK-B): a requested BRK.B is fetched as BRK-B and returned
under BRK.B. ``{"Error Message": ...}``, an empty list/object, rows for another symbol, or any
non-positive / non-finite price fail the whole symbol.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
import pandas as pd

from .base import Bar, PayloadError, bars_to_frame, parse_day, to_number
from .http import HttpProviderBase


def fmp_symbol(symbol: str) -> str:
    return symbol.replace(".", "-")


class FmpProvider(HttpProviderBase):
    """FMP historical daily prices. ``api_key`` should be ``EnvVar("FMP_API_KEY")``."""

    name: ClassVar[str] = "fmp"
    api_key_env: ClassVar[str] = "FMP_API_KEY"

    base_url: str = "https://financialmodelingprep.com"
    api_version: str = "stable"  # "stable" | "v3"

    def _validate_config(self) -> None:
        super()._validate_config()
        if self.api_version not in ("stable", "v3"):
            raise ValueError(f"fmp: api_version must be 'stable' or 'v3', got {self.api_version!r}")

    def request_for(self, symbol: str, start: date, end: date, key: str) -> tuple[str, dict[str, str]]:
        vendor = fmp_symbol(symbol)
        base = self.base_url.rstrip("/")
        window = {"from": start.isoformat(), "to": end.isoformat(), "apikey": key}
        if self.api_version == "v3":
            return f"{base}/api/v3/historical-price-full/{quote(vendor, safe='')}", window
        return f"{base}/stable/historical-price-eod/full", {"symbol": vendor, **window}

    def _fetch_symbol(self, client: httpx.Client, key: str, symbol: str, start: date, end: date) -> pd.DataFrame:
        url, params = self.request_for(symbol, start, end, key)
        payload = self._get_json(client, url, params)
        rows = _rows(payload, fmp_symbol(symbol))
        return bars_to_frame(symbol, (_bar(row) for row in rows), start, end, self.name)


    # --- dividends (resources/providers/options_data.py); FMP option quotes are not used ----------

    def dividends(self, symbols, start: date, end: date):
        from .options_data import fmp_dividends

        return fmp_dividends(self, symbols, start, end)


def _rows(payload: Any, vendor_symbol: str) -> list[dict]:
    if isinstance(payload, dict):
        for field in ("Error Message", "error", "message"):
            msg = payload.get(field)
            if isinstance(msg, str) and msg.strip():
                raise PayloadError(f"FMP error: {msg.strip()[:200]}")
        if not payload:
            raise PayloadError("FMP returned no data (empty object)")
        if "historical" not in payload:
            raise PayloadError(f"unexpected FMP payload (keys {sorted(payload)[:5]})")
        _check_symbol(payload.get("symbol"), vendor_symbol)
        rows = payload["historical"]
        if not isinstance(rows, list):
            raise PayloadError("unexpected FMP payload ('historical' is not a list)")
    elif isinstance(payload, list):
        rows = payload
    else:
        raise PayloadError(f"unexpected FMP payload ({type(payload).__name__})")
    if not rows:
        raise PayloadError("FMP returned no data (empty list)")
    for row in rows:
        if not isinstance(row, dict):
            raise PayloadError("unexpected FMP row (not an object)")
        _check_symbol(row.get("symbol"), vendor_symbol)
    return rows


def _check_symbol(got: Any, expected: str) -> None:
    if got is not None and str(got).upper() != expected.upper():
        raise PayloadError(f"FMP returned rows for {str(got)[:20]!r}, not {expected!r}")


def _bar(row: dict) -> Bar:
    day = parse_day(row.get("date"))
    adj = row.get("adjClose")
    adj_field = "adjClose"
    if adj is None:
        adj, adj_field = row.get("close"), "close"
    return Bar(
        day=day,
        open=to_number(row.get("open"), "open", day, required=False, price=True),
        high=to_number(row.get("high"), "high", day, required=False, price=True),
        low=to_number(row.get("low"), "low", day, required=False, price=True),
        close=to_number(row.get("close"), "close", day, required=False, price=True),
        adj_close=to_number(adj, adj_field, day, required=True, price=True),
        volume=to_number(row.get("volume"), "volume", day, required=False, price=False),
    )
