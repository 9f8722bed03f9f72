"""Market-data provider clients, all offline: httpx.MockTransport, local files, fake clocks."""

from __future__ import annotations

import os

import json
import logging
import random
import threading
from datetime import date, datetime, time as dtime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings as hyp_settings, strategies as st

from sigmasight_onboarding.calendar import sessions_between
from sigmasight_onboarding.config import SHIPPED_MARKET_DATA, Settings
from sigmasight_onboarding.resources.price_providers import (
    PRICE_COLUMNS,
    FileProvider,
    FmpProvider,
    MarketDataProvider,
    PolygonProvider,
    ProviderChain,
    ProviderResult,
    RateLimiter,
    SyntheticProvider,
    build_provider_chain,
    parse_retry_after,
    redact,
)

KEY = "SECRETKEY-abc123XYZ"
POLY_KEY = "POLYSECRET-987zyx"
NY = ZoneInfo("America/New_York")
# The full real data beside the repository (../shared); CI has it, a bare clone may not.
FULL_MARKET_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "market" / "daily_adj_close.parquet"
ALL_ENV = (
    "SIGMASIGHT_PROVIDERS",
    "SIGMASIGHT_ALLOW_SYNTHETIC",
    "SIGMASIGHT_ENV",
    "SIGMASIGHT_MARKET_DATA_FILE",
    "FMP_API_KEY",
    "POLYGON_API_KEY",
)


# --- helpers -------------------------------------------------------------------------------------


class FakeClock:
    """clock() + sleep(): sleeping advances the clock instantly and is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def sessions(start: date, n: int) -> list[date]:
    return sessions_between(start, start + timedelta(days=3 * n + 10))[:n]


def fmp_stable_rows(symbol: str, days: list[date], base: float = 100.0) -> list[dict]:
    rows = []
    for i, d in enumerate(days):
        close = base + i
        rows.append(
            {
                "symbol": symbol,
                "date": d.isoformat(),
                "open": close - 0.5,
                "high": close + 1.0,
                "low": close - 1.0,
                "close": close,
                "volume": 1_000_000 + i,
                "change": 0.5,
                "changePercent": 0.5,
                "vwap": close,
            }
        )
    return list(reversed(rows))  # FMP returns newest first


def ny_midnight_ms(d: date) -> int:
    return int(datetime.combine(d, dtime(0, 0), tzinfo=NY).timestamp() * 1000)


def polygon_results(days: list[date], base: float = 50.0) -> list[dict]:
    return [
        {"v": 2_000_000 + i, "vw": base + i, "o": base + i - 0.2, "c": base + i, "h": base + i + 1, "l": base + i - 1, "t": ny_midnight_ms(d), "n": 100}
        for i, d in enumerate(days)
    ]


def json_response(payload, status: int = 200, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(payload).encode(), headers={"content-type": "application/json", **(headers or {})})


def fmp(handler, fake: FakeClock | None = None, **config) -> FmpProvider:
    fake = fake or FakeClock()
    return FmpProvider(api_key=KEY, **config).with_hooks(
        transport=httpx.MockTransport(handler), sleep=fake.sleep, clock=fake.clock, rng=random.Random(0)
    )


def polygon(handler, fake: FakeClock | None = None, **config) -> PolygonProvider:
    fake = fake or FakeClock()
    return PolygonProvider(api_key=POLY_KEY, **config).with_hooks(
        transport=httpx.MockTransport(handler), sleep=fake.sleep, clock=fake.clock, rng=random.Random(0)
    )


def assert_contract(result: ProviderResult) -> None:
    frame = result.prices
    assert list(frame.columns) == PRICE_COLUMNS
    assert all(isinstance(d, date) and not isinstance(d, datetime) for d in frame["date"])
    assert np.isfinite(frame["adj_close"]).all() and (frame["adj_close"] > 0).all()
    assert not frame.duplicated(["symbol", "date"]).any()
    assert not set(frame["symbol"]) & set(result.failures)


def file_reference(symbols: list[str], start: date, end: date) -> pd.DataFrame:
    """Independent read of the shipped extract: whole file into pandas, then filter."""
    df = pd.read_parquet(SHIPPED_MARKET_DATA)
    df = df[df["symbol"].isin(symbols) & (df["date"] >= start) & (df["date"] <= end)]
    return df.sort_values(["symbol", "date"]).reset_index(drop=True)


DAYS = sessions(date(2025, 1, 2), 5)
START, END = DAYS[0], DAYS[-1]


# --- FMP -----------------------------------------------------------------------------------------


def test_fmp_stable_happy_path_parses_rows():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(fmp_stable_rows("AAPL", DAYS))

    result = fmp(handler).daily_prices(["AAPL"], START, END)
    assert_contract(result)
    assert result.failures == {}
    frame = result.prices
    assert list(frame["date"]) == DAYS
    assert list(frame["adj_close"]) == [100.0 + i for i in range(5)]  # stable 'full' has no adjClose: close
    assert list(frame["close"]) == list(frame["adj_close"])
    assert list(frame["volume"]) == [1_000_000.0 + i for i in range(5)]
    assert frame["open"].iloc[0] == 99.5 and frame["high"].iloc[0] == 101.0 and frame["low"].iloc[0] == 99.0
    assert set(frame["data_source"]) == {"fmp"} and set(frame["symbol"]) == {"AAPL"}
    (req,) = seen
    assert req.url.path == "/stable/historical-price-eod/full"
    assert dict(req.url.params) == {"symbol": "AAPL", "from": START.isoformat(), "to": END.isoformat(), "apikey": KEY}


def test_fmp_v3_shape_uses_adjclose():
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v3/historical-price-full/MSFT"
        hist = [
            {"date": d.isoformat(), "open": 10.0, "high": 12.0, "low": 9.0, "close": 11.0, "adjClose": 10.5 + i, "volume": 5}
            for i, d in enumerate(DAYS)
        ]
        return json_response({"symbol": "MSFT", "historical": hist})

    result = fmp(handler, api_version="v3").daily_prices(["MSFT"], START, END)
    assert result.failures == {}
    assert list(result.prices["adj_close"]) == [10.5 + i for i in range(5)]
    assert set(result.prices["close"]) == {11.0}


def test_fmp_rows_outside_window_are_dropped():
    wider = sessions(date(2024, 12, 20), 15)

    def handler(request):
        return json_response(fmp_stable_rows("AAPL", wider))

    result = fmp(handler).daily_prices(["AAPL"], START, END)
    assert list(result.prices["date"]) == DAYS


def test_fmp_429_retry_after_is_honoured():
    calls = []
    fake = FakeClock()

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            return json_response({"Error Message": "Limit Reach"}, status=429, headers={"Retry-After": "3"})
        return json_response(fmp_stable_rows("AAPL", DAYS))

    result = fmp(handler, fake).daily_prices(["AAPL"], START, END)
    assert result.failures == {} and len(result.prices) == 5
    assert len(calls) == 2
    assert fake.sleeps == [3.0]


def test_fmp_retry_after_is_capped():
    fake = FakeClock()
    calls = []

    def handler(request):
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(503, headers={"Retry-After": "3600"})
        return json_response(fmp_stable_rows("AAPL", DAYS))

    result = fmp(handler, fake, max_retry_after_seconds=7.0).daily_prices(["AAPL"], START, END)
    assert result.failures == {}
    assert fake.sleeps == [7.0]


def test_fmp_500_500_200_succeeds_with_exponential_backoff():
    fake = FakeClock()
    calls = []

    def handler(request):
        calls.append(1)
        if len(calls) <= 2:
            return httpx.Response(500, text="Internal Server Error")
        return json_response(fmp_stable_rows("AAPL", DAYS))

    result = fmp(handler, fake, requests_per_second=1000.0).daily_prices(["AAPL"], START, END)
    assert result.failures == {} and len(result.prices) == 5
    assert len(calls) == 3
    assert len(fake.sleeps) == 2
    assert 0.5 <= fake.sleeps[0] <= 0.5 * 1.25 and 1.0 <= fake.sleeps[1] <= 1.0 + 0.5 * 0.25


def test_fmp_persistent_500_is_a_failure_with_reason():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(500)

    result = fmp(handler, max_retries=3).daily_prices(["AAPL"], START, END)
    assert result.prices.empty and list(result.prices.columns) == PRICE_COLUMNS
    assert result.failures == {"AAPL": "HTTP 500 after 4 attempts"}
    assert len(calls) == 4


def test_fmp_timeout_then_success():
    calls = []
    fake = FakeClock()

    def handler(request):
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ReadTimeout("timed out", request=request)
        return json_response(fmp_stable_rows("AAPL", DAYS))

    result = fmp(handler, fake).daily_prices(["AAPL"], START, END)
    assert result.failures == {} and len(result.prices) == 5
    assert len(calls) == 2 and len(fake.sleeps) >= 1


def test_fmp_4xx_is_not_retried():
    calls = []

    def handler(request):
        calls.append(1)
        return json_response({"Error Message": "Invalid API KEY."}, status=401)

    result = fmp(handler).daily_prices(["AAPL"], START, END)
    assert len(calls) == 1
    assert result.failures["AAPL"].startswith("HTTP 401")
    assert "Invalid API KEY" in result.failures["AAPL"]


def test_fmp_bad_payloads_fail_only_their_symbol():
    bodies = {
        "MALF": httpx.Response(200, content=b'[{"date": "2025-01-02", "close": 1', headers={"content-type": "application/json"}),
        "HTML": httpx.Response(200, content=b"<!DOCTYPE html><html><body>Cloudflare</body></html>", headers={"content-type": "text/html"}),
        "ERRM": json_response({"Error Message": "Invalid symbol"}),
        "EMPTY": json_response([]),
        "SHAPE": json_response({"unexpected": True}),
        "NEG": json_response(
            [{"symbol": "NEG", "date": DAYS[0].isoformat(), "close": 10.0}, {"symbol": "NEG", "date": DAYS[1].isoformat(), "close": -3.0}]
        ),
        "NAN": httpx.Response(200, content=b'[{"symbol": "NAN", "date": "2025-01-02", "close": NaN}]'),
        "OTHER": json_response(fmp_stable_rows("ZZZ", DAYS)),
    }

    def handler(request):
        sym = request.url.params["symbol"]
        if sym in bodies:
            return bodies[sym]
        return json_response(fmp_stable_rows(sym, DAYS))

    result = fmp(handler).daily_prices(["AAPL", *bodies, "MSFT"], START, END)
    assert_contract(result)
    assert set(result.prices["symbol"]) == {"AAPL", "MSFT"}
    f = result.failures
    assert set(f) == set(bodies)
    assert f["MALF"] == "malformed JSON"
    assert "HTML" in f["HTML"]
    assert f["ERRM"] == "FMP error: Invalid symbol"
    assert "no data" in f["EMPTY"]
    assert "unexpected" in f["SHAPE"]
    assert f["NEG"] == f"non-positive close -3 on {DAYS[1]}"  # whole symbol fails, names the date
    assert "non-finite" in f["NAN"] and "2025-01-02" in f["NAN"]
    assert "ZZZ" in f["OTHER"]


def test_fmp_class_share_mapping_returns_requested_spelling():
    seen = []

    def handler(request):
        seen.append(request.url.params["symbol"])
        return json_response(fmp_stable_rows(request.url.params["symbol"], DAYS))

    result = fmp(handler).daily_prices(["BRK.B"], START, END)
    assert seen == ["BRK-B"]
    assert set(result.prices["symbol"]) == {"BRK.B"} and len(result.prices) == 5

    v3_paths = []

    def v3(request):
        v3_paths.append(request.url.path)
        return json_response({"symbol": "BRK-B", "historical": fmp_stable_rows("BRK-B", DAYS)})

    result = fmp(v3, api_version="v3").daily_prices(["BRK.B"], START, END)
    assert v3_paths == ["/api/v3/historical-price-full/BRK-B"]
    assert set(result.prices["symbol"]) == {"BRK.B"}


def test_api_keys_never_leak(caplog):
    caplog.set_level(logging.DEBUG)

    def handler(request):
        url = str(request.url)
        sym = request.url.params.get("symbol")
        if sym == "ECHO":  # a server echoing the request URL / key back in its error
            return json_response({"Error Message": f"Invalid API KEY {KEY} for {url}"}, status=403)
        if sym == "BOOM":
            raise httpx.ConnectError(f"cannot connect to {url}", request=request)
        if sym == "SLOW":
            return httpx.Response(500, text=url)
        return json_response(fmp_stable_rows(sym, DAYS))

    provider = fmp(handler, max_retries=1)
    result = provider.daily_prices(["ECHO", "BOOM", "SLOW", "AAPL"], START, END)
    assert set(result.failures) == {"ECHO", "BOOM", "SLOW"}
    text = json.dumps(result.failures)
    assert KEY not in text and "apikey=***" in text
    assert KEY not in repr(provider) and KEY not in str(provider)
    assert "api_key='***'" in repr(provider)
    poly = polygon(lambda r: json_response({}), fake=None)
    assert POLY_KEY not in repr(poly) and POLY_KEY not in str(poly)
    for record in caplog.records:
        assert KEY not in record.getMessage()
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)  # httpx did log the (redacted) URLs


def test_redact_query_parameters():
    url = f"https://x.test/a?symbol=AAPL&apikey={KEY}&from=1"
    assert redact(url) == "https://x.test/a?symbol=AAPL&apikey=***&from=1"
    assert redact(f"https://x.test/b?apiKey={POLY_KEY}") == "https://x.test/b?apiKey=***"
    assert redact(f"the key is {KEY}", [KEY]) == "the key is ***"


# --- Polygon -------------------------------------------------------------------------------------


def test_polygon_happy_path_converts_ny_dates():
    days = [date(2024, 1, 2), date(2024, 3, 8), date(2024, 3, 11), date(2024, 7, 1)]  # across DST
    seen = []

    def handler(request):
        seen.append(request)
        return json_response(
            {"ticker": "AAPL", "status": "OK", "resultsCount": 4, "adjusted": True, "results": polygon_results(days)}
        )

    result = polygon(handler).daily_prices(["AAPL"], days[0], days[-1])
    assert_contract(result)
    assert result.failures == {}
    assert polygon_results([date(2024, 1, 2)])[0]["t"] == 1704171600000
    assert list(result.prices["date"]) == days
    assert list(result.prices["adj_close"]) == [50.0, 51.0, 52.0, 53.0]
    assert list(result.prices["close"]) == list(result.prices["adj_close"])
    assert list(result.prices["volume"]) == [2_000_000.0, 2_000_001.0, 2_000_002.0, 2_000_003.0]
    assert set(result.prices["data_source"]) == {"polygon"}
    (req,) = seen
    assert req.url.path == "/v2/aggs/ticker/AAPL/range/1/day/2024-01-02/2024-07-01"
    assert dict(req.url.params) == {"adjusted": "true", "sort": "asc", "limit": "50000", "apiKey": POLY_KEY}


def test_polygon_follows_next_url():
    seen = []
    first, second = DAYS[:3], DAYS[3:]

    def handler(request):
        seen.append(request.url)
        if "cursor" not in request.url.params:
            return json_response(
                {
                    "ticker": "AAPL",
                    "status": "OK",
                    "resultsCount": 3,
                    "results": polygon_results(first),
                    "next_url": f"https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/day/{START}/{END}?cursor=abc123",
                }
            )
        return json_response({"ticker": "AAPL", "status": "OK", "resultsCount": 2, "results": polygon_results(second, base=53.0)})

    result = polygon(handler).daily_prices(["AAPL"], START, END)
    assert result.failures == {}
    assert list(result.prices["date"]) == DAYS
    assert len(seen) == 2
    assert seen[1].params["cursor"] == "abc123" and seen[1].params["apiKey"] == POLY_KEY


def test_polygon_next_url_to_another_host_is_refused():
    hosts = []

    def handler(request):
        hosts.append(request.url.host)
        return json_response(
            {"ticker": "AAPL", "status": "OK", "results": polygon_results(DAYS), "next_url": "https://evil.example/steal?cursor=1"}
        )

    result = polygon(handler).daily_prices(["AAPL"], START, END)
    assert hosts == ["api.polygon.io"]
    assert "another host" in result.failures["AAPL"]


def test_polygon_errors_and_empty_results_fail_their_symbol():
    def handler(request):
        ticker = request.url.path.split("/")[4]
        if ticker == "ERR":
            return json_response({"status": "ERROR", "error": "Unknown API Key"})
        if ticker == "NA":
            return json_response({"status": "NOT_AUTHORIZED", "message": "plan does not include this"})
        if ticker == "FORB":
            return json_response({"status": "NOT_AUTHORIZED", "message": "upgrade"}, status=403)
        if ticker == "NONE":
            return json_response({"ticker": "NONE", "status": "OK", "resultsCount": 0, "results": []})
        if ticker == "ZERO":
            rows = polygon_results(DAYS)
            rows[2]["c"] = 0
            return json_response({"ticker": "ZERO", "status": "OK", "results": rows})
        if ticker == "%5ETNX" or ticker == "^TNX":
            return json_response({"ticker": "^TNX", "status": "OK", "resultsCount": 0})
        return json_response({"ticker": ticker, "status": "DELAYED", "results": polygon_results(DAYS)})

    result = polygon(handler).daily_prices(["ERR", "NA", "FORB", "NONE", "ZERO", "^TNX", "MSFT"], START, END)
    assert_contract(result)
    assert set(result.prices["symbol"]) == {"MSFT"}
    f = result.failures
    assert f["ERR"] == "Polygon status ERROR: Unknown API Key"
    assert f["NA"].startswith("Polygon status NOT_AUTHORIZED")
    assert f["FORB"] == "HTTP 403: upgrade"
    assert f["NONE"] == "Polygon returned no results"
    assert f["ZERO"] == f"non-positive close 0 on {DAYS[2]}"
    assert "^TNX" in f


def test_polygon_retries_and_class_share_mapping():
    fake = FakeClock()
    paths = []

    def handler(request):
        paths.append(request.url.path)
        if len(paths) == 1:
            return httpx.Response(429, headers={"Retry-After": "2"})
        return json_response({"ticker": "BRK.B", "status": "OK", "results": polygon_results(DAYS)})

    result = polygon(handler, fake).daily_prices(["BRK-B"], START, END)
    assert fake.sleeps == [2.0]
    assert all(p.startswith("/v2/aggs/ticker/BRK.B/") for p in paths)
    assert set(result.prices["symbol"]) == {"BRK-B"} and len(result.prices) == 5


# --- rate limiting -------------------------------------------------------------------------------


def test_rate_limiter_spaces_requests_on_a_fake_clock():
    fake = FakeClock()
    limiter = RateLimiter(4.0, clock=fake.clock, sleep=fake.sleep)
    times = []
    for _ in range(10):
        limiter.acquire()
        times.append(fake.clock())
    assert times == pytest.approx([i * 0.25 for i in range(10)])


def test_rate_limiter_is_thread_safe():
    """Concurrent acquirers each get a distinct slot (clock frozen, so waits are the slot offsets)."""
    waits: list[float] = []
    lock = threading.Lock()
    limiter = RateLimiter(10.0, clock=lambda: 100.0, sleep=lambda s: None)

    def worker():
        w = limiter.acquire()
        with lock:
            waits.append(w)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == pytest.approx([i * 0.1 for i in range(20)])


@hyp_settings(max_examples=30, deadline=None)
@given(rate=st.floats(0.5, 50.0), burst=st.integers(1, 4), n=st.integers(2, 30))
def test_rate_limiter_never_exceeds_rate(rate, burst, n):
    fake = FakeClock()
    limiter = RateLimiter(rate, burst=burst, clock=fake.clock, sleep=fake.sleep)
    times = []
    for _ in range(n):
        limiter.acquire()
        times.append(fake.clock())
    # any window of `burst + k` requests spans at least k intervals
    for i in range(n):
        for j in range(i + burst, n):
            assert times[j] - times[i] >= (j - i - burst + 1) / rate - 1e-9


def test_provider_requests_respect_requests_per_second():
    fake = FakeClock()
    stamps = []

    def handler(request):
        stamps.append(fake.clock())
        return json_response(fmp_stable_rows(request.url.params["symbol"], DAYS))

    symbols = [f"S{i}" for i in range(6)]
    result = fmp(handler, fake, requests_per_second=2.0, max_concurrency=1).daily_prices(symbols, START, END)
    assert result.failures == {}
    assert stamps == pytest.approx([i * 0.5 for i in range(6)])


def test_parse_retry_after():
    assert parse_retry_after("5", 30) == 5.0
    assert parse_retry_after("120", 30) == 30.0
    assert parse_retry_after("-1", 30) == 0.0
    assert parse_retry_after(None, 30) is None and parse_retry_after("soon", 30) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 30) == 0.0  # in the past


# --- file ----------------------------------------------------------------------------------------


def test_file_provider_matches_independent_read():
    start, end = date(2024, 11, 1), date(2025, 2, 28)
    result = FileProvider(path=str(SHIPPED_MARKET_DATA)).daily_prices(["SPY", "AAPL"], start, end)
    assert_contract(result)
    assert result.failures == {}
    ref = file_reference(["SPY", "AAPL"], start, end)
    got = result.prices
    assert len(got) == len(ref) > 150
    assert list(got["symbol"]) == list(ref["symbol"])
    assert list(got["date"]) == list(ref["date"])
    np.testing.assert_array_equal(got["adj_close"].to_numpy(), ref["adj_close"].to_numpy())
    assert set(got["data_source"]) == {"file"}
    assert got[["open", "high", "low", "close", "volume"]].isna().all().all()


def test_file_provider_aliases_and_unknown_symbols():
    start, end = date(2025, 1, 2), date(2025, 1, 31)
    result = FileProvider(path=str(SHIPPED_MARKET_DATA)).daily_prices(["BRK.B", "UNH", "^TNX"], start, end)
    assert set(result.prices["symbol"]) == {"BRK.B", "^TNX"}
    ref = file_reference(["BRK-B"], start, end)
    brk = result.prices[result.prices["symbol"] == "BRK.B"]
    np.testing.assert_array_equal(brk["adj_close"].to_numpy(), ref["adj_close"].to_numpy())
    assert result.failures == {"UNH": "not in market data file daily_adj_close_extract.parquet (no rows 2025-01-02..2025-01-31)"}
    assert FileProvider(path="/nonexistent/prices.parquet").daily_prices(["SPY"], start, end).failures["SPY"].startswith(
        "market data file prices.parquet does not exist"
    )


def test_file_provider_csv_folder(tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    pd.DataFrame(
        {
            "date": [d.isoformat() for d in DAYS] * 2,
            "symbol": ["BRK.B"] * 5 + ["AAA"] * 5,
            "open": [1.0] * 10,
            "high": [2.0] * 10,
            "low": [0.5] * 10,
            "close": [1.5] * 10,
            "adj_close": [1.4 + i for i in range(10)],
            "volume": [100] * 10,
        }
    ).to_csv(folder / "part1.csv", index=False)
    pd.DataFrame(
        {"date": [d.isoformat() for d in DAYS], "symbol": ["BAD"] * 5, "adj_close": [3.0, 3.1, -1.0, 3.2, 3.3]}
    ).to_csv(folder / "part2.csv", index=False)
    pd.DataFrame({"date": ["2025-01-02"], "symbol": ["CCC"], "adj_close": [9.0]}).to_csv(folder / "part3.csv", index=False)
    (folder / "README.txt").write_text("not a csv")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no CSV or Parquet files"):
        FileProvider(path=str(empty)).daily_prices(["AAA"], DAYS[0], DAYS[-1])

    result = FileProvider(path=str(folder)).daily_prices(["BRK-B", "AAA", "BAD", "CCC", "ZZZ"], DAYS[1], DAYS[-1])
    assert_contract(result)
    assert set(result.prices["symbol"]) == {"BRK-B", "AAA"}
    brk = result.prices[result.prices["symbol"] == "BRK-B"]
    assert list(brk["date"]) == DAYS[1:]
    assert list(brk["adj_close"]) == [2.4, 3.4, 4.4, 5.4]
    assert set(brk["volume"]) == {100.0} and set(brk["close"]) == {1.5}
    assert result.failures["BAD"] == f"non-positive (-1) adj_close on {DAYS[2]} in csv"
    assert result.failures["CCC"].startswith("not in market data file csv")  # rows exist, but not in range
    assert result.failures["ZZZ"].startswith("not in market data file csv")


def test_file_provider_parquet_with_ohlcv_and_bad_rows(tmp_path):
    path = tmp_path / "prices.parquet"
    table = pa.table(
        {
            "date": pa.array(DAYS * 2, type=pa.date32()),
            "symbol": ["GOOD"] * 5 + ["INF"] * 5,
            "adj_close": [10.0, 11.0, 12.0, 13.0, 14.0, 1.0, float("inf"), 1.0, 1.0, 1.0],
            "close": [10.0] * 10,
            "volume": [7.0] * 10,
        }
    )
    pq.write_table(table, path, row_group_size=3)
    result = FileProvider(path=str(path)).daily_prices(["GOOD", "INF"], START, END)
    assert list(result.prices["adj_close"]) == [10.0, 11.0, 12.0, 13.0, 14.0]
    assert result.prices["open"].isna().all() and set(result.prices["volume"]) == {7.0}
    assert result.failures == {"INF": f"non-finite adj_close on {DAYS[1]} in prices.parquet"}


def test_file_provider_on_full_market_file():
    if not FULL_MARKET_FILE.exists():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI has ../shared beside the clone; {FULL_MARKET_FILE} is missing")
        pytest.skip(f"the full market file is not beside the repository ({FULL_MARKET_FILE})")
    start, end = date(2024, 1, 1), date(2024, 3, 1)
    result = FileProvider(path=str(FULL_MARKET_FILE)).daily_prices(["SPY", "BRK.B", "NOPE_XYZ"], start, end)
    assert set(result.prices["symbol"]) == {"SPY", "BRK.B"} and "NOPE_XYZ" in result.failures
    ref = file_reference(["SPY", "BRK-B"], start, end)  # the extract is a slice of the full file
    np.testing.assert_array_equal(result.prices["adj_close"].to_numpy(), ref["adj_close"].to_numpy())


# --- synthetic -----------------------------------------------------------------------------------


def test_synthetic_is_refused_unless_allowed():
    with pytest.raises(PermissionError, match="synthetic prices are disabled"):
        SyntheticProvider().daily_prices(["AAPL"], START, END)


def test_synthetic_is_deterministic_and_on_sessions():
    provider = SyntheticProvider(allowed=True)
    a = provider.daily_prices(["AAA", "BBB"], date(2024, 12, 20), date(2025, 1, 31)).prices
    b = SyntheticProvider(allowed=True).daily_prices(["BBB", "AAA"], date(2025, 1, 2), date(2025, 1, 31)).prices
    assert set(a["data_source"]) == {"synthetic"}
    a_aaa = a[(a["symbol"] == "AAA") & (a["date"] >= date(2025, 1, 2))].reset_index(drop=True)
    b_aaa = b[b["symbol"] == "AAA"].reset_index(drop=True)
    pd.testing.assert_frame_equal(a_aaa, b_aaa)
    assert list(b_aaa["date"]) == sessions_between(date(2025, 1, 2), date(2025, 1, 31))
    assert date(2025, 1, 9) not in set(b_aaa["date"])  # national day of mourning: NYSE closed
    other = SyntheticProvider(allowed=True, seed=8).daily_prices(["AAA"], date(2025, 1, 2), date(2025, 1, 31)).prices
    assert not np.allclose(other["adj_close"], b_aaa["adj_close"])
    assert (a["adj_close"] > 0).all()


# --- chain ---------------------------------------------------------------------------------------


def test_chain_falls_back_and_labels_truthfully():
    start, end = date(2025, 1, 2), date(2025, 1, 10)
    days = sessions_between(start, end)

    def handler(request):
        sym = request.url.params["symbol"]
        if sym == "AAPL":
            return json_response(fmp_stable_rows("AAPL", days, base=1000.0))
        return json_response({"Error Message": "not covered"}, status=404)

    chain = ProviderChain([fmp(handler), FileProvider(path=str(SHIPPED_MARKET_DATA))])
    result = chain.daily_prices(["AAPL", "SPY", "UNH"], start, end)
    assert_contract(result)
    p = result.prices
    assert set(p.loc[p["symbol"] == "AAPL", "data_source"]) == {"fmp"}
    assert set(p.loc[p["symbol"] == "AAPL", "adj_close"]) == {1000.0 + i for i in range(len(days))}
    spy = p[p["symbol"] == "SPY"]
    assert set(spy["data_source"]) == {"file"}
    np.testing.assert_array_equal(spy["adj_close"].to_numpy(), file_reference(["SPY"], start, end)["adj_close"].to_numpy())
    assert result.failures == {
        "UNH": "fmp: HTTP 404: not covered; file: not in market data file daily_adj_close_extract.parquet (no rows 2025-01-02..2025-01-10)"
    }
    assert chain.describe() == ["fmp", "file"]
    assert KEY not in repr(chain)


def test_chain_survives_a_provider_that_raises():
    class Broken:
        name = "broken"

        def daily_prices(self, symbols, start, end):
            raise RuntimeError("down")

    assert isinstance(Broken(), MarketDataProvider)
    chain = ProviderChain([Broken(), FileProvider(path=str(SHIPPED_MARKET_DATA))])
    result = chain.daily_prices(["SPY", "NOPE"], START, END)
    assert set(result.prices["symbol"]) == {"SPY"}
    assert result.failures["NOPE"].startswith("broken: provider error (RuntimeError: down); file: not in market data file")


def _clear_env(monkeypatch):
    for var in ALL_ENV:
        monkeypatch.delenv(var, raising=False)


def test_build_chain_from_env(monkeypatch):
    _clear_env(monkeypatch)
    assert build_provider_chain().describe() == ["file"]

    monkeypatch.setenv("SIGMASIGHT_PROVIDERS", "fmp,polygon,file")
    with pytest.raises(ValueError, match="FMP_API_KEY"):
        build_provider_chain()
    monkeypatch.setenv("FMP_API_KEY", KEY)
    with pytest.raises(ValueError, match="POLYGON_API_KEY"):
        build_provider_chain()
    monkeypatch.setenv("POLYGON_API_KEY", POLY_KEY)
    chain = build_provider_chain()
    assert chain.describe() == ["fmp", "polygon", "file"]
    text = repr(chain) + repr(chain.providers) + str(chain.providers[0]) + " ".join(chain.describe())
    assert KEY not in text and POLY_KEY not in text

    monkeypatch.setenv("SIGMASIGHT_PROVIDERS", "fmp,bloomberg")
    with pytest.raises(ValueError, match="unknown market-data provider"):
        build_provider_chain()


def test_build_chain_uses_env_key_and_transport(monkeypatch):
    _clear_env(monkeypatch)
    monkeypatch.setenv("SIGMASIGHT_PROVIDERS", "fmp,file")
    monkeypatch.setenv("FMP_API_KEY", KEY)
    keys = []

    def handler(request):
        keys.append(request.url.params["apikey"])
        return json_response(fmp_stable_rows(request.url.params["symbol"], DAYS))

    fake = FakeClock()
    chain = build_provider_chain(transport=httpx.MockTransport(handler), sleep=fake.sleep, clock=fake.clock)
    result = chain.daily_prices(["MSFT"], START, END)
    assert keys == [KEY] and set(result.prices["data_source"]) == {"fmp"}


def test_synthetic_in_chain_only_when_enabled_and_never_in_production(monkeypatch):
    _clear_env(monkeypatch)
    monkeypatch.setenv("SIGMASIGHT_PROVIDERS", "file,synthetic")
    with pytest.raises(ValueError, match="SIGMASIGHT_ALLOW_SYNTHETIC"):
        build_provider_chain()

    monkeypatch.setenv("SIGMASIGHT_PROVIDERS", "file")
    assert build_provider_chain().describe() == ["file"]
    result = build_provider_chain().daily_prices(["SPY", "UNH"], START, END)
    assert "UNH" in result.failures and set(result.prices["data_source"]) == {"file"}

    monkeypatch.setenv("SIGMASIGHT_ALLOW_SYNTHETIC", "1")
    chain = build_provider_chain()
    assert chain.describe() == ["file", "synthetic"]
    result = chain.daily_prices(["SPY", "UNH"], START, END)
    assert result.failures == {}
    p = result.prices
    assert set(p.loc[p["symbol"] == "SPY", "data_source"]) == {"file"}
    assert set(p.loc[p["symbol"] == "UNH", "data_source"]) == {"synthetic"}

    monkeypatch.setenv("SIGMASIGHT_ENV", "production")
    with pytest.raises(ValueError, match="synthetic prices are refused in production"):
        build_provider_chain()
    with pytest.raises(ValueError, match="synthetic prices are refused in production"):
        build_provider_chain(Settings.from_env())


# --- fault injection -----------------------------------------------------------------------------


def test_fault_injection_chain_returns_every_symbol_truthfully():
    """30 % of calls fail (429 / 500 / timeout / malformed JSON), decided per (symbol, attempt) from a
    seed so the outcome does not depend on thread scheduling. FMP (with retries) then the file."""
    in_file = sorted(pd.read_parquet(SHIPPED_MARKET_DATA, columns=["symbol"])["symbol"].unique())
    symbols = [s.replace("BRK-B", "BRK.B") for s in in_file if not s.startswith("^")]
    assert len(symbols) > 80
    start, end = date(2025, 3, 3), date(2025, 4, 30)
    reference = file_reference([s.replace(".", "-") for s in symbols], start, end)
    attempts: dict[str, int] = {}
    lock = threading.Lock()
    outcomes = []

    def handler(request):
        sym = request.url.params["symbol"]
        with lock:
            n = attempts[sym] = attempts.get(sym, 0) + 1
        roll = random.Random(f"faults-42-{sym}-{n}")
        if roll.random() < 0.30:
            kind = roll.choice(["429", "500", "timeout", "malformed"])
            outcomes.append(kind)
            if kind == "429":
                return httpx.Response(429, headers={"Retry-After": "1"})
            if kind == "500":
                return httpx.Response(500)
            if kind == "timeout":
                raise httpx.ReadTimeout("injected", request=request)
            return httpx.Response(200, content=b'{"symbol": "' + sym.encode() + b'", "historical": [', headers={"content-type": "application/json"})
        rows = reference[reference["symbol"] == sym]
        # the mock's prices differ from the file's (+1000) so each row's origin is visible
        payload = [{"symbol": sym, "date": d.isoformat(), "close": float(v) + 1000.0, "volume": 1} for d, v in zip(rows["date"], rows["adj_close"])]
        return json_response(payload)

    fake = FakeClock()
    chain = ProviderChain(
        [
            FmpProvider(api_key=KEY, max_retries=4, max_concurrency=4).with_hooks(
                transport=httpx.MockTransport(handler), sleep=fake.sleep, clock=fake.clock
            ),
            FileProvider(path=str(SHIPPED_MARKET_DATA)),
        ]
    )
    result = chain.daily_prices(symbols, start, end)
    assert_contract(result)
    assert result.failures == {}
    assert set(result.prices["symbol"]) == set(symbols)
    assert {"429", "500", "timeout", "malformed"} <= set(outcomes)
    merged = result.prices.assign(key=result.prices["symbol"].str.replace(".", "-", regex=False)).merge(
        reference, left_on=["key", "date"], right_on=["symbol", "date"], suffixes=("", "_file"), validate="one_to_one"
    )
    assert len(merged) == len(reference) == len(result.prices)
    by_source = merged.groupby("data_source")
    fmp_rows, file_rows = by_source.get_group("fmp"), by_source.get_group("file")
    np.testing.assert_allclose(fmp_rows["adj_close"], fmp_rows["adj_close_file"] + 1000.0)
    np.testing.assert_array_equal(file_rows["adj_close"].to_numpy(), file_rows["adj_close_file"].to_numpy())
    assert len(fmp_rows) > len(file_rows) > 0  # most served by FMP after retries, malformed ones by the file
    # a symbol comes from one provider only
    assert (result.prices.groupby("symbol")["data_source"].nunique() == 1).all()


# --- Dagster -------------------------------------------------------------------------------------


def test_providers_as_dagster_resources_take_keys_from_envvar(monkeypatch):
    import dagster as dg

    monkeypatch.setenv("FMP_API_KEY", KEY)
    seen = {}

    @dg.asset
    def probe(fmp: FmpProvider, file: FileProvider) -> None:
        seen["repr"] = repr(fmp)
        seen["key"] = fmp._resolved_key()
        seen["file"] = file.daily_prices(["SPY"], START, END).prices

    defs_resources = {"fmp": FmpProvider(api_key=dg.EnvVar("FMP_API_KEY")), "file": FileProvider(path=str(SHIPPED_MARKET_DATA))}
    assert dg.materialize([probe], resources=defs_resources).success
    assert seen["key"] == KEY and KEY not in seen["repr"]
    assert len(seen["file"]) == 5
    # the EnvVar form also works when used directly, outside Dagster's config resolution
    assert FmpProvider(api_key=dg.EnvVar("FMP_API_KEY"))._resolved_key() == KEY
