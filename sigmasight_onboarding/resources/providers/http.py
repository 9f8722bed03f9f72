"""HTTP plumbing shared by the FMP and Polygon providers.

* one ``httpx.Client`` per ``daily_prices`` call, with timeouts and no redirects;
* bounded concurrency over symbols (``ThreadPoolExecutor(max_concurrency)``);
* a thread-safe token bucket per provider instance (``requests_per_second``), acquired before
  every HTTP attempt, retries and pagination included;
* retries with exponential backoff plus a small jitter on 429, 5xx and transport errors
  (timeouts, connection resets); ``Retry-After`` (seconds or HTTP date) is honoured on 429/503,
  capped at ``max_retry_after_seconds``; other 4xx are not retried;
* api keys never appear in ``repr()``, log lines or failure reasons.

Tests inject an ``httpx.MockTransport``, a fake ``sleep`` and a fake ``clock`` with
:meth:`HttpProviderBase.with_hooks` (private attributes, not resource config).
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timezone
from typing import Any, ClassVar

import httpx
import pandas as pd
from dagster import ConfigurableResource, EnvVar
from pydantic import PrivateAttr

from .base import (
    PayloadError,
    ProviderResult,
    check_range,
    concat_prices,
    normalize_symbols,
    redact,
)

logger = logging.getLogger(__name__)

SleepFn = Callable[[float], None]
ClockFn = Callable[[], float]


class _RedactUrlFilter(logging.Filter):
    """httpx logs every request URL at INFO; FMP/Polygon carry the api key in the query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(redact(str(a)) if isinstance(a, httpx.URL) else a for a in record.args)
        elif isinstance(record.msg, str) and "apikey" in record.msg.lower():
            record.msg = redact(record.msg)
        return True


_httpx_logger = logging.getLogger("httpx")
if not any(isinstance(f, _RedactUrlFilter) for f in _httpx_logger.filters):
    _httpx_logger.addFilter(_RedactUrlFilter())


class RateLimiter:
    """Thread-safe token bucket (GCRA form): at most ``rate`` acquisitions per second on average,
    bursts of up to ``burst``. ``acquire`` sleeps outside the lock and returns the wait it took."""

    def __init__(self, rate: float, burst: int = 1, clock: ClockFn = time.monotonic, sleep: SleepFn = time.sleep):
        self.rate = float(rate)
        self.burst = max(1, int(burst))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tat: float | None = None  # theoretical arrival time of the next request

    def acquire(self) -> float:
        if not self.rate or self.rate <= 0 or math.isinf(self.rate):
            return 0.0
        interval = 1.0 / self.rate
        with self._lock:
            now = self._clock()
            tat = now if self._tat is None else max(self._tat, now)
            allowed_at = tat - (self.burst - 1) * interval
            wait = max(0.0, allowed_at - now)
            self._tat = tat + interval
        if wait > 0:
            self._sleep(wait)
        return wait


def parse_retry_after(value: str | None, cap: float) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or HTTP date), clamped to [0, cap]."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), cap)


class HttpProviderBase(ConfigurableResource):
    """Common config of the HTTP providers. Use ``EnvVar("FMP_API_KEY")`` for ``api_key``."""

    name: ClassVar[str] = "http"
    api_key_env: ClassVar[str] = ""

    api_key: str
    base_url: str
    max_concurrency: int = 4
    requests_per_second: float = 5.0
    timeout_seconds: float = 10.0
    max_retries: int = 4
    backoff_seconds: float = 0.5
    max_retry_after_seconds: float = 30.0

    _transport: httpx.BaseTransport | None = PrivateAttr(default=None)
    _sleep: SleepFn = PrivateAttr(default=time.sleep)
    _clock: ClockFn = PrivateAttr(default=time.monotonic)
    _rng: random.Random = PrivateAttr(default_factory=random.Random)
    _limiter: RateLimiter | None = PrivateAttr(default=None)
    _limiter_lock: Any = PrivateAttr(default_factory=threading.Lock)

    # --- secrets -------------------------------------------------------------------------------

    def __repr_args__(self):
        for key, value in super().__repr_args__():
            yield key, ("***" if key == "api_key" else value)

    def _resolved_key(self) -> str:
        key: Any = self.api_key
        if isinstance(key, EnvVar):  # used outside Dagster's config resolution
            key = key.get_value()
        return (key or "").strip()

    def _redact(self, text: str) -> str:
        try:
            secret = self._resolved_key()
        except Exception:  # pragma: no cover - defensive
            secret = ""
        return redact(text, [secret])

    # --- test hooks ----------------------------------------------------------------------------

    def with_hooks(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: SleepFn | None = None,
        clock: ClockFn | None = None,
        rng: random.Random | None = None,
    ):
        """Inject an ``httpx`` transport (e.g. ``MockTransport``), a ``sleep`` and a ``clock``.
        Mutates private attributes only (not resource config) and returns ``self``."""
        if transport is not None:
            self._transport = transport
        if sleep is not None:
            self._sleep = sleep
        if clock is not None:
            self._clock = clock
        if rng is not None:
            self._rng = rng
        self._limiter = None
        return self

    def _rate_limiter(self) -> RateLimiter:
        with self._limiter_lock:
            if self._limiter is None:
                self._limiter = RateLimiter(self.requests_per_second, clock=self._clock, sleep=self._sleep)
            return self._limiter

    # --- the provider interface ------------------------------------------------------------------

    def daily_prices(self, symbols: Sequence[str], start: date, end: date) -> ProviderResult:
        check_range(start, end)
        wanted = normalize_symbols(symbols)
        if not wanted:
            return ProviderResult(concat_prices([]), {})
        key = self._resolved_key()
        if not key:
            raise ValueError(f"{self.name}: api_key is empty (set {self.api_key_env or 'the api key'})")
        self._validate_config()
        frames: list[pd.DataFrame] = []
        failures: dict[str, str] = {}
        workers = max(1, min(int(self.max_concurrency), len(wanted)))
        with self._client(workers) as client, ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=f"{self.name}-prices"
        ) as pool:
            futures = {sym: pool.submit(self._fetch_safely, client, key, sym, start, end) for sym in wanted}
            for sym, future in futures.items():
                frame, reason = future.result()
                if reason is not None:
                    failures[sym] = reason
                else:
                    frames.append(frame)
        return ProviderResult(concat_prices(frames), failures)

    def _validate_config(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError(f"{self.name}: max_concurrency must be >= 1")
        if self.max_retries < 0:
            raise ValueError(f"{self.name}: max_retries must be >= 0")
        if self.timeout_seconds <= 0:
            raise ValueError(f"{self.name}: timeout_seconds must be > 0")

    def _client(self, workers: int) -> httpx.Client:
        return httpx.Client(
            transport=self._transport,
            timeout=httpx.Timeout(self.timeout_seconds),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=workers, max_keepalive_connections=workers),
            headers={"Accept": "application/json", "User-Agent": "sigmasight-onboarding"},
        )

    def _fetch_safely(self, client: httpx.Client, key: str, symbol: str, start: date, end: date):
        try:
            return self._fetch_symbol(client, key, symbol, start, end), None
        except PayloadError as exc:
            return None, self._redact(str(exc))
        except Exception as exc:  # a bug or an unexpected payload must not sink the other symbols
            logger.exception("%s: unexpected error for %s", self.name, symbol)
            return None, self._redact(f"unexpected {type(exc).__name__}: {exc}")

    def _fetch_symbol(self, client: httpx.Client, key: str, symbol: str, start: date, end: date) -> pd.DataFrame:
        raise NotImplementedError

    # --- one GET with retries --------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        base = max(0.0, self.backoff_seconds) * (2**attempt)
        jitter = self._rng.uniform(0.0, max(0.0, self.backoff_seconds) * 0.25)
        return min(base + jitter, max(self.max_retry_after_seconds, self.backoff_seconds))

    def _get_json(self, client: httpx.Client, url: str, params: dict[str, str] | None = None) -> Any:
        attempts = int(self.max_retries) + 1
        last = "no attempt"
        limiter = self._rate_limiter()
        for attempt in range(attempts):
            limiter.acquire()
            try:
                response = client.get(url, params=params)
            except httpx.TimeoutException as exc:
                last = f"timeout ({type(exc).__name__})"
                delay = self._backoff(attempt)
            except httpx.TransportError as exc:
                last = f"transport error ({type(exc).__name__})"
                delay = self._backoff(attempt)
            except httpx.RequestError as exc:
                raise PayloadError(f"request failed ({type(exc).__name__})") from None
            else:
                status = response.status_code
                if status == 429 or status >= 500:
                    last = f"HTTP {status}"
                    retry_after = None
                    if status in (429, 503):
                        retry_after = parse_retry_after(
                            response.headers.get("Retry-After"), self.max_retry_after_seconds
                        )
                    delay = retry_after if retry_after is not None else self._backoff(attempt)
                elif 200 <= status < 300:
                    return _decode_json(response)
                else:
                    raise PayloadError(f"HTTP {status}{_error_detail(response)}")
            if attempt + 1 < attempts:
                logger.warning(
                    "%s: %s for %s (attempt %d/%d), retrying in %.2fs",
                    self.name,
                    last,
                    self._redact(url),
                    attempt + 1,
                    attempts,
                    delay,
                )
                self._sleep(delay)
        raise PayloadError(f"{last} after {attempts} attempts")


def _decode_json(response: httpx.Response) -> Any:
    body = response.content
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        ctype = response.headers.get("content-type", "")
        head = body[:200].lstrip().lower()
        if "html" in ctype or head.startswith((b"<!doctype", b"<html", b"<")):
            raise PayloadError("response is HTML, not JSON") from None
        raise PayloadError("malformed JSON") from None


def _error_detail(response: httpx.Response) -> str:
    try:
        payload = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return f" {response.reason_phrase}" if response.reason_phrase else ""
    if isinstance(payload, dict):
        for field in ("Error Message", "error", "message"):
            msg = payload.get(field)
            if isinstance(msg, str) and msg.strip():
                return f": {msg.strip()[:200]}"
    return f" {response.reason_phrase}" if response.reason_phrase else ""
