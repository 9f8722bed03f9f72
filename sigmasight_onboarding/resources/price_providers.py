"""Market-data providers and the fallback chain the pipeline uses.

Contract::

    PRICE_COLUMNS = ["symbol", "date", "open", "high", "low", "close", "adj_close", "volume", "data_source"]
    ProviderResult(prices: DataFrame, failures: dict[symbol, reason])
    MarketDataProvider: .name, .daily_prices(symbols, start, end) -> ProviderResult

Providers (Dagster ``ConfigurableResource``s): :class:`FmpProvider`, :class:`PolygonProvider`,
:class:`FileProvider`, :class:`SyntheticProvider`. :func:`build_provider_chain` builds the chain
named by SIGMASIGHT_PROVIDERS (``fmp,polygon,file``); api keys come from FMP_API_KEY /
POLYGON_API_KEY (as ``dagster.EnvVar``s, resolved at request time, never stored in reprs).

:class:`ProviderChain` asks the first provider for every symbol, hands the symbols it failed to the
next one, and so on. Each row's ``data_source`` is the provider that served it; the final
failures carry every provider's reason, e.g. ``"fmp: HTTP 404; file: not in market data file ..."``.
Synthetic prices join the chain (last) only when SIGMASIGHT_ALLOW_SYNTHETIC=1 outside production.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import date

import httpx
import numpy as np
import pandas as pd
from dagster import EnvVar

from ..config import Settings
from .providers.base import (
    PRICE_COLUMNS,
    MarketDataProvider,
    ProviderResult,
    check_range,
    concat_prices,
    empty_prices,
    normalize_symbols,
    redact,
    symbol_aliases,
)
from .providers.file import FileProvider
from .providers.fmp import FmpProvider
from .providers.http import ClockFn, HttpProviderBase, RateLimiter, SleepFn, parse_retry_after
from .providers.polygon import PolygonProvider
from .providers.synthetic import SyntheticPricesRefused, SyntheticProvider
from . import providers as _providers

logger = logging.getLogger(__name__)

KNOWN_PROVIDERS = ("fmp", "polygon", "file", "synthetic")
API_KEY_ENV = {"fmp": "FMP_API_KEY", "polygon": "POLYGON_API_KEY"}


class ProviderChain:
    """Providers tried in order; a symbol goes to the next provider only when the previous failed it."""

    def __init__(self, providers: Sequence[MarketDataProvider]):
        if not providers:
            raise ValueError("a provider chain needs at least one provider")
        names = [p.name for p in providers]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate providers in chain: {names}")
        self.providers: tuple[MarketDataProvider, ...] = tuple(providers)

    def describe(self) -> list[str]:
        """Provider names in order (never keys)."""
        return [p.name for p in self.providers]

    def __repr__(self) -> str:
        return f"ProviderChain({' -> '.join(self.describe())})"

    def dividends(self, symbols: Sequence[str], start: date, end: date) -> tuple[dict, dict[str, str]]:
        """Cash dividends per symbol from the first providers that have them (FMP, Polygon); the file and
        synthetic providers have none. Returns ({symbol: [Dividend]}, {symbol: reason})."""
        return self._first_serving("dividends", normalize_symbols(symbols), start, end)

    def option_quotes(self, contracts: Sequence[tuple[str, str]]) -> tuple[dict, dict[str, str]]:
        """Option quotes [(OCC, underlying)] from the first providers that have them (Polygon)."""
        return self._first_serving("option_quotes", list(contracts))

    def _first_serving(self, method: str, items: list, *args) -> tuple[dict, dict[str, str]]:
        served: dict = {}
        reasons: dict[str, list[str]] = {}
        remaining = list(items)
        for provider in self.providers:
            fn = getattr(provider, method, None)
            if fn is None or not remaining:
                continue
            try:
                got, failed = fn(remaining, *args)
            except Exception as exc:  # provider-wide problem: try the next one
                failed = {(i[0] if isinstance(i, tuple) else i): redact(f"provider error ({type(exc).__name__}: {exc})", _env_secrets())
                          for i in remaining}
                got = {}
            served.update(got)
            for k, why in failed.items():
                reasons.setdefault(k, []).append(f"{provider.name}: {why}")
            remaining = [i for i in remaining if (i[0] if isinstance(i, tuple) else i) not in served]
        keys = [(i[0] if isinstance(i, tuple) else i) for i in remaining]
        return served, {k: "; ".join(reasons.get(k, [])) or f"no provider offers {method}" for k in keys}

    def daily_prices(self, symbols: Sequence[str], start: date, end: date) -> ProviderResult:
        check_range(start, end)
        wanted = normalize_symbols(symbols)
        reasons: dict[str, dict[str, str]] = {s: {} for s in wanted}
        remaining = list(wanted)
        frames: list[pd.DataFrame] = []
        for provider in self.providers:
            if not remaining:
                break
            try:
                result = provider.daily_prices(remaining, start, end)
            except Exception as exc:  # a provider-wide problem: every remaining symbol moves on
                reason = redact(f"provider error ({type(exc).__name__}: {exc})", _env_secrets())
                logger.warning("market data provider %s failed: %s", provider.name, reason)
                for sym in remaining:
                    reasons[sym][provider.name] = reason
                continue
            served, prices, bad = _accept(provider.name, result, remaining)
            for sym in remaining:
                if sym not in served:
                    why = bad.get(sym) or result.failures.get(sym) or "no rows returned"
                    reasons[sym][provider.name] = redact(why, _env_secrets())
            frames.append(prices)
            remaining = [s for s in remaining if s not in served]
        failures = {sym: "; ".join(f"{name}: {why}" for name, why in reasons[sym].items()) for sym in remaining}
        return ProviderResult(concat_prices(frames), failures)


def _accept(name: str, result: ProviderResult, asked: list[str]) -> tuple[set[str], pd.DataFrame, dict[str, str]]:
    """Rows of the symbols this provider served, guarded: asked for, not also failed, labelled with
    the provider's name, adj_close finite > 0. A symbol breaking a guard is a failure (all its rows go)."""
    prices = result.prices
    if prices is None or len(prices) == 0:
        return set(), empty_prices(), {}
    missing = [c for c in PRICE_COLUMNS if c not in prices.columns]
    if missing:
        return set(), empty_prices(), {s: f"provider returned a frame without {missing}" for s in asked}
    if list(prices.columns) != PRICE_COLUMNS:
        prices = prices[PRICE_COLUMNS]
    asked_set = set(asked)
    keep = prices["symbol"].isin(asked_set).to_numpy()
    if result.failures:
        keep &= ~prices["symbol"].isin(set(result.failures)).to_numpy()
    if not keep.all():  # (no copy of a big frame that is entirely fine)
        prices = prices[keep]
    bad: dict[str, str] = {}
    mislabelled = prices.loc[prices["data_source"] != name, "symbol"].unique()
    for sym in mislabelled:
        bad[sym] = f"rows not labelled {name!r}"
    adj = pd.to_numeric(prices["adj_close"], errors="coerce").to_numpy(dtype="float64")
    for sym in prices.loc[~(np.isfinite(adj) & (adj > 0)), "symbol"].unique():
        bad.setdefault(sym, "non-finite or non-positive adj_close")
    if bad:
        prices = prices[~prices["symbol"].isin(set(bad))]
    return set(prices["symbol"].unique()), prices, bad


def _env_secrets() -> list[str]:
    return [os.environ.get(var, "") for var in API_KEY_ENV.values()]


def build_provider_chain(
    settings: Settings | None = None,
    transport: httpx.BaseTransport | None = None,
    *,
    sleep: SleepFn | None = None,
    clock: ClockFn | None = None,
) -> ProviderChain:
    """The chain named by SIGMASIGHT_PROVIDERS (``settings.providers``).

    Raises ValueError for an unknown provider name, fmp/polygon without FMP_API_KEY /
    POLYGON_API_KEY, synthetic named without SIGMASIGHT_ALLOW_SYNTHETIC=1, and
    SIGMASIGHT_ALLOW_SYNTHETIC=1 in production. ``transport``/``sleep``/``clock`` are handed to the
    HTTP providers (tests inject ``httpx.MockTransport``).
    """
    settings = settings or Settings.from_env()
    names: list[str] = []
    for raw in settings.providers or ("file",):
        name = raw.strip().lower()
        if name not in KNOWN_PROVIDERS:
            raise ValueError(
                f"unknown market-data provider {raw!r} in SIGMASIGHT_PROVIDERS (known: {', '.join(KNOWN_PROVIDERS)})"
            )
        if name not in names:
            names.append(name)
    if settings.allow_synthetic and settings.is_production:
        raise ValueError("synthetic prices are refused in production (unset SIGMASIGHT_ALLOW_SYNTHETIC)")
    if "synthetic" in names and not settings.allow_synthetic:
        raise ValueError("SIGMASIGHT_PROVIDERS names 'synthetic' but SIGMASIGHT_ALLOW_SYNTHETIC is not 1")
    if settings.allow_synthetic and "synthetic" not in names:
        names.append("synthetic")  # last resort only

    providers: list[MarketDataProvider] = []
    for name in names:
        if name in API_KEY_ENV:
            var = API_KEY_ENV[name]
            if not (os.environ.get(var) or "").strip():
                raise ValueError(f"SIGMASIGHT_PROVIDERS names {name!r} but {var} is not set")
            cls = FmpProvider if name == "fmp" else PolygonProvider
            providers.append(cls(api_key=EnvVar(var)).with_hooks(transport=transport, sleep=sleep, clock=clock))
        elif name == "file":
            providers.append(FileProvider(path=str(settings.market_data_file)))
        else:
            providers.append(SyntheticProvider(allowed=True))
    return ProviderChain(providers)


__all__ = [  # the chain, and the provider clients re-exported
    "API_KEY_ENV",
    "KNOWN_PROVIDERS",
    "ProviderChain",
    "build_provider_chain",
    *_providers.__all__,
]
