"""Provider faults at the backfill level: a flaky FMP in front of the file provider.

`backfill_prices(engine, chain, symbols, sessions)` runs against a real database (SQLite and
PostgreSQL) with the real chain `fmp -> file` built by `build_provider_chain` (SIGMASIGHT_PROVIDERS
=fmp,file, FMP_API_KEY=test-key). Only the network is replaced: an `httpx.MockTransport` that
answers like FMP's stable `historical-price-eod/full` endpoint, with rows built from the shipped
real prices (FMP rounds to cents and carries open/high/low/volume; the file has adj_close only,
unrounded — so every stored row's values show which provider really served it).

A deterministic share of the HTTP attempts fails: 429 with Retry-After, 500, a read timeout, or a
200 with malformed JSON. The provider retries 429/5xx/timeouts (up to 5 attempts); malformed
JSON is final for FMP, and the symbol falls back to the file.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from datetime import date

import httpx
import pandas as pd
import pytest
from sqlalchemy import func, select

from sigmasight_onboarding.price_backfill import backfill_prices
from sigmasight_onboarding.calendar import sessions_between
from sigmasight_onboarding.config import SHIPPED_MARKET_DATA, get_settings
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.models import MarketDataCache, MarketDataGap
from sigmasight_onboarding.resources.price_providers import build_provider_chain

AS_OF = date(2026, 8, 3)
SESSIONS = sessions_between(date(2026, 5, 1), AS_OF)
FAULTS = ("429", "500", "timeout", "malformed")


def real_prices() -> pd.DataFrame:
    df = pd.read_parquet(SHIPPED_MARKET_DATA)
    return df[(df["date"] >= date(2026, 4, 1)) & (df["date"] <= AS_OF)].sort_values(["symbol", "date"])


SYMBOLS = sorted(s for s in real_prices()["symbol"].unique() if not s.startswith("^"))[:45]


class FlakyFmp:
    """FMP stable endpoint from real prices; `rate` of all attempts fail (decided per symbol and
    attempt number by a hash, so the outcome does not depend on thread scheduling)."""

    def __init__(self, truth: pd.DataFrame, rate: float, seed: str = "faults"):
        self.truth = {sym: g for sym, g in truth.groupby("symbol")}
        self.rate = rate
        self.seed = seed
        self.lock = threading.Lock()
        self.attempts: Counter = Counter()
        self.outcomes: list[tuple[str, int, str]] = []  # (symbol, attempt, 'ok' | fault)
        self.served: dict[str, list[dict]] = {}

    def _u(self, *parts) -> float:
        digest = hashlib.sha256("|".join(map(str, (self.seed, *parts))).encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def rows(self, symbol: str, start: date, end: date) -> list[dict]:
        g = self.truth[symbol]
        prev = g["adj_close"].shift(1).fillna(g["adj_close"])
        out = []
        for (_, row), p in zip(g.iterrows(), prev):
            if not (start <= row["date"] <= end):
                continue
            close, open_ = round(float(row["adj_close"]), 2), round(float(p), 2)
            high, low = round(max(open_, close) * 1.006, 2), round(min(open_, close) * 0.994, 2)
            out.append({"symbol": symbol, "date": row["date"].isoformat(), "open": open_, "high": high, "low": low,
                        "close": close, "volume": 1_000_000 + int(self._u(symbol, row["date"]) * 9_000_000),
                        "change": round(close - open_, 2), "changePercent": round((close / open_ - 1) * 100, 4),
                        "vwap": round((high + low + close) / 3, 4)})
        return list(reversed(out))  # FMP: newest first

    def handler(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        assert request.url.path == "/stable/historical-price-eod/full"
        assert params["apikey"] == "test-key"
        symbol = params["symbol"]
        with self.lock:
            self.attempts[symbol] += 1
            attempt = self.attempts[symbol]
        fault = FAULTS[int(self._u(symbol, attempt, "kind") * len(FAULTS))] if self._u(symbol, attempt) < self.rate else None
        with self.lock:
            self.outcomes.append((symbol, attempt, fault or "ok"))
        if fault == "429":
            return httpx.Response(429, json={"message": "Limit Reach"}, headers={"Retry-After": "2"})
        if fault == "500":
            return httpx.Response(500, text="Internal Server Error")
        if fault == "timeout":
            raise httpx.ReadTimeout("read timed out", request=request)
        if fault == "malformed":
            body = json.dumps(self.rows(symbol, date.fromisoformat(params["from"]), date.fromisoformat(params["to"])))
            return httpx.Response(200, content=body[: len(body) // 2].encode(), headers={"content-type": "application/json"})
        if symbol not in self.truth:
            return httpx.Response(200, json=[])
        rows = self.rows(symbol, date.fromisoformat(params["from"]), date.fromisoformat(params["to"]))
        with self.lock:
            self.served[symbol] = rows
        return httpx.Response(200, json=rows)


@pytest.fixture
def fmp_env(env, monkeypatch):
    monkeypatch.setenv("SIGMASIGHT_PROVIDERS", "fmp,file")
    monkeypatch.setenv("FMP_API_KEY", "test-key")
    monkeypatch.delenv("SIGMASIGHT_MARKET_DATA_FILE", raising=False)
    monkeypatch.delenv("SIGMASIGHT_ALLOW_SYNTHETIC", raising=False)
    return env


def stored_prices(url: str) -> pd.DataFrame:
    with get_engine(url).connect() as conn:
        rows = conn.execute(select(MarketDataCache.symbol, MarketDataCache.date, MarketDataCache.open, MarketDataCache.high,
                                   MarketDataCache.low, MarketDataCache.close, MarketDataCache.adj_close,
                                   MarketDataCache.volume, MarketDataCache.data_source)).all()
    return pd.DataFrame(rows, columns=["symbol", "date", "open", "high", "low", "close", "adj_close", "volume", "data_source"])


@pytest.mark.parametrize("rate", [0.3, 0.6])
def test_backfill_survives_a_flaky_provider_with_truthful_labels(fmp_env, rate, capsys):
    url = fmp_env["db_url"]
    engine = get_engine(url)
    truth = real_prices()
    mock = FlakyFmp(truth, rate)
    sleeps: list[float] = []
    chain = build_provider_chain(get_settings(), transport=httpx.MockTransport(mock.handler), sleep=sleeps.append)
    assert chain.describe() == ["fmp", "file"]

    summary = backfill_prices(engine, chain, SYMBOLS, SESSIONS)
    assert summary["failures"] == {}
    assert summary["gaps_recorded"] == 0

    stored = stored_prices(url)
    # every symbol stored, complete, once per session, one provider per symbol (no partial symbols)
    assert not stored.duplicated(["symbol", "date"]).any()
    assert stored["adj_close"].notna().all()
    per_symbol = stored.groupby("symbol").agg(n=("date", "size"), sources=("data_source", "unique"))
    assert sorted(per_symbol.index) == SYMBOLS
    assert (per_symbol["n"] == len(SESSIONS)).all(), per_symbol[per_symbol["n"] != len(SESSIONS)]
    assert all(len(s) == 1 for s in per_symbol["sources"]), "a symbol mixes providers"
    # the label is the provider that really served it
    expected = {s: ("fmp" if s in mock.served else "file") for s in SYMBOLS}
    assert {s: srcs[0] for s, srcs in per_symbol["sources"].items()} == expected
    fmp_rows = stored[stored["data_source"] == "fmp"]
    served = pd.DataFrame([r for rows in mock.served.values() for r in rows])
    served["date"] = pd.to_datetime(served["date"]).dt.date
    m = fmp_rows.merge(served, on=["symbol", "date"], suffixes=("", "_served"), how="left", validate="one_to_one")
    for col in ("open", "high", "low", "close", "volume"):
        assert (m[col] == m[f"{col}_served"]).all(), col
    assert (m["adj_close"] == m["close_served"]).all()  # stable 'full' rows carry no adjClose
    file_rows = stored[stored["data_source"] == "file"]
    f = file_rows.merge(truth, on=["symbol", "date"], suffixes=("", "_truth"), how="left", validate="one_to_one")
    assert (f["adj_close"] == f["adj_close_truth"]).all()
    assert f[["open", "high", "low", "close", "volume"]].isna().all().all()  # the file has no OHLCV

    # the faults really happened, of every kind, at about the configured rate
    kinds = Counter(o for _s, _a, o in mock.outcomes)
    attempts = sum(kinds.values())
    observed = 1 - kinds["ok"] / attempts
    assert all(kinds[k] > 0 for k in FAULTS), kinds
    assert abs(observed - rate) < 0.12, (observed, kinds)
    # Retry-After: 2 is honoured after every 429 that was not the symbol's last attempt
    retried_429 = sum(1 for s, a, o in mock.outcomes if o == "429" and a < 5)
    assert sleeps.count(2.0) >= retried_429 > 0, (sleeps, retried_429)
    retried_ok = {s for s, a, o in mock.outcomes if o == "ok" and a > 1}
    assert retried_ok, "no symbol needed a retry"
    fell_back = [s for s, src in expected.items() if src == "file"]
    assert fell_back, "no symbol fell back to the file"
    # a symbol falls back exactly when FMP gave up on it: malformed JSON or 5 failed attempts
    last = {}
    for s, a, o in sorted(mock.outcomes, key=lambda x: (x[0], x[1])):
        last[s] = (a, o)
    for s in SYMBOLS:
        a, o = last[s]
        assert (expected[s] == "fmp") == (o == "ok"), (s, a, o)
        assert o in ("ok", "malformed") or a == 5, (s, a, o)

    # second run: nothing missing, so no provider call at all
    before = attempts
    again = backfill_prices(engine, chain, SYMBOLS, SESSIONS)
    assert again["provider_calls"] == 0 and again["rows_added"] == 0
    assert len(mock.outcomes) == before
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(MarketDataCache)).scalar_one() == len(SYMBOLS) * len(SESSIONS)
        assert conn.execute(select(func.count()).select_from(MarketDataGap)).scalar_one() == 0

    with capsys.disabled():
        print(f"\n[provider faults {url.split(':')[0]}] rate {rate:.0%}: {attempts} FMP attempts, {observed:.1%} failed "
              f"({', '.join(f'{k} {kinds[k]}' for k in FAULTS)}); {len(SYMBOLS)} symbols stored "
              f"({len(SYMBOLS) - len(fell_back)} fmp, {len(fell_back)} file), {len(stored)} rows, 0 partial; "
              f"re-run: 0 provider calls")


def test_sessions_missing_from_a_served_symbol_are_asked_of_the_next_provider(fmp_env):
    """FMP answers 200 with every other session missing (valid JSON): the symbol must still end up
    complete (the file has every session), and no session the file has may be called a gap."""
    url = fmp_env["db_url"]
    mock = FlakyFmp(real_prices(), 0.0)

    def holey(request: httpx.Request) -> httpx.Response:
        rows = json.loads(mock.handler(request).content)
        return httpx.Response(200, json=rows[::2])

    chain = build_provider_chain(get_settings(), transport=httpx.MockTransport(holey), sleep=lambda s: None)
    summary = backfill_prices(get_engine(url), chain, ["AAPL", "MSFT"], SESSIONS)
    stored = stored_prices(url)
    with get_engine(url).connect() as conn:
        gaps = conn.execute(select(func.count()).select_from(MarketDataGap)).scalar_one()
    assert (summary["gaps_recorded"], gaps) == (0, 0)
    assert stored.groupby("symbol").size().to_dict() == {"AAPL": len(SESSIONS), "MSFT": len(SESSIONS)}
