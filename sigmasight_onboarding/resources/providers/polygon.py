"""Polygon.io daily aggregates.

``GET {base}/v2/aggs/ticker/{TICKER}/range/1/day/{from}/{to}?adjusted=true&sort=asc&limit=50000&apiKey=..``
-> ``{"ticker","status","resultsCount","adjusted","results":[{"v","vw","o","c","h","l","t","n"}], "next_url"?}``

``t`` is the ms epoch (UTC) of the start of the session day in America/New_York, converted to that
New York calendar date. ``adjusted=true``, so ``adj_close = c``. ``next_url`` pages are followed
(the api key re-appended) only when they stay on the configured host. Status other than OK/DELAYED
("ERROR", "NOT_AUTHORIZED", ...), no results, rows for another ticker, or any non-positive /
non-finite price fail the whole symbol. Polygon spells class shares with a dot (BRK.B): a requested
BRK-B is fetched as BRK.B and returned under BRK-B.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, ClassVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pandas as pd

from .base import Bar, PayloadError, bars_to_frame, to_number
from .http import HttpProviderBase

NEW_YORK = ZoneInfo("America/New_York")
_OK_STATUSES = {"OK", "DELAYED"}


def polygon_ticker(symbol: str) -> str:
    return symbol.replace("-", ".")


def ny_date_from_ms(ms: Any) -> date:
    if isinstance(ms, bool) or not isinstance(ms, (int, float)):
        raise PayloadError(f"bad timestamp {ms!r:.40}")
    try:
        return datetime.fromtimestamp(float(ms) / 1000.0, tz=timezone.utc).astimezone(NEW_YORK).date()
    except (OverflowError, OSError, ValueError) as exc:
        raise PayloadError(f"bad timestamp {ms!r:.40}") from exc


class PolygonProvider(HttpProviderBase):
    """Polygon daily aggregates. ``api_key`` should be ``EnvVar("POLYGON_API_KEY")``."""

    name: ClassVar[str] = "polygon"
    api_key_env: ClassVar[str] = "POLYGON_API_KEY"

    base_url: str = "https://api.polygon.io"
    max_pages: int = 50

    def request_for(self, symbol: str, start: date, end: date, key: str) -> tuple[str, dict[str, str]]:
        ticker = polygon_ticker(symbol)
        base = self.base_url.rstrip("/")
        url = f"{base}/v2/aggs/ticker/{quote(ticker, safe='.')}/range/1/day/{start.isoformat()}/{end.isoformat()}"
        return url, {"adjusted": "true", "sort": "asc", "limit": "50000", "apiKey": key}

    def _fetch_symbol(self, client: httpx.Client, key: str, symbol: str, start: date, end: date) -> pd.DataFrame:
        ticker = polygon_ticker(symbol)
        url, params = self.request_for(symbol, start, end, key)
        home = httpx.URL(self.base_url)
        bars: list[Bar] = []
        pages = 0
        while True:
            payload = self._get_json(client, url, params)
            if not isinstance(payload, dict):
                raise PayloadError(f"unexpected Polygon payload ({type(payload).__name__})")
            status = payload.get("status")
            if status not in _OK_STATUSES:
                detail = payload.get("error") or payload.get("message") or ""
                raise PayloadError(f"Polygon status {status}" + (f": {str(detail)[:200]}" if detail else ""))
            got = payload.get("ticker")
            if got is not None and str(got).upper() != ticker.upper():
                raise PayloadError(f"Polygon returned rows for {str(got)[:20]!r}, not {ticker!r}")
            results = payload.get("results")
            if results is None:
                results = []
            if not isinstance(results, list):
                raise PayloadError("unexpected Polygon payload ('results' is not a list)")
            for row in results:
                if not isinstance(row, dict):
                    raise PayloadError("unexpected Polygon row (not an object)")
                bars.append(_bar(row))
            next_url = payload.get("next_url")
            if not next_url:
                break
            pages += 1
            if pages >= self.max_pages:
                raise PayloadError(f"more than {self.max_pages} pages")
            try:
                nxt = httpx.URL(str(next_url))
            except Exception:
                raise PayloadError("bad next_url") from None
            if nxt.scheme != home.scheme or nxt.host != home.host or nxt.port != home.port:
                # never send the api key to another host
                raise PayloadError(f"next_url points to another host ({nxt.host})")
            # httpx replaces (not merges) a URL's query when given params: merge explicitly
            url, params = str(nxt.copy_merge_params({"apiKey": key})), None
        if not bars:
            raise PayloadError("Polygon returned no results")
        return bars_to_frame(symbol, bars, start, end, self.name)


    # --- dividends and option quotes (resources/providers/options_data.py) ----------------------

    def dividends(self, symbols, start: date, end: date):
        from .options_data import polygon_dividends

        return polygon_dividends(self, symbols, start, end)

    def option_quotes(self, contracts):
        from .options_data import polygon_option_quotes

        return polygon_option_quotes(self, contracts)


def _bar(row: dict) -> Bar:
    day = ny_date_from_ms(row.get("t"))
    close = to_number(row.get("c"), "close", day, required=True, price=True)
    return Bar(
        day=day,
        open=to_number(row.get("o"), "open", day, required=False, price=True),
        high=to_number(row.get("h"), "high", day, required=False, price=True),
        low=to_number(row.get("l"), "low", day, required=False, price=True),
        close=close,
        adj_close=close,
        volume=to_number(row.get("v"), "volume", day, required=False, price=False),
    )
