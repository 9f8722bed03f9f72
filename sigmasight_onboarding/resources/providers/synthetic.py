"""Deterministic synthetic prices, for demos and tests only (never production).

Per symbol: a geometric Brownian motion on NYSE sessions (``calendar.sessions_between``), seeded
from ``sha256(seed, symbol)`` so a symbol's path is stable across runs and processes and does not
depend on which other symbols were requested or in what order. The path starts at a fixed anchor
session (2000-01-03) so a date's price does not depend on the requested window either. Only
``close``/``adj_close`` are filled; rows are labelled 'synthetic'.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date
from typing import ClassVar

import numpy as np
import pandas as pd
from dagster import ConfigurableResource

from ...calendar import sessions_between
from .base import PRICE_COLUMNS, ProviderResult, check_range, concat_prices, normalize_symbols

ANCHOR = date(2000, 1, 3)
TRADING_DAYS = 252.0


class SyntheticPricesRefused(PermissionError):
    pass


def symbol_seed(symbol: str, seed: int) -> int:
    digest = hashlib.sha256(f"sigmasight-synthetic|{int(seed)}|{symbol}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class SyntheticProvider(ConfigurableResource):
    """Seeded GBM prices; raises unless ``allowed=True``."""

    name: ClassVar[str] = "synthetic"

    seed: int = 7
    allowed: bool = False

    def daily_prices(self, symbols: Sequence[str], start: date, end: date) -> ProviderResult:
        if not self.allowed:
            raise SyntheticPricesRefused(
                "synthetic prices are disabled (SIGMASIGHT_ALLOW_SYNTHETIC=1 enables them outside production)"
            )
        check_range(start, end)
        wanted = normalize_symbols(symbols)
        if not wanted:
            return ProviderResult(concat_prices([]), {})
        sessions = sessions_between(ANCHOR, end)
        first = next((i for i, d in enumerate(sessions) if d >= start), len(sessions))
        window = sessions[first:]
        if not window:
            reason = f"no NYSE sessions between {start} and {end}"
            return ProviderResult(concat_prices([]), {s: reason for s in wanted})
        frames = []
        for sym in wanted:
            path = self.price_path(sym, len(sessions))[first:]
            frame = pd.DataFrame(
                {
                    "symbol": sym,
                    "date": window,
                    "open": np.nan,
                    "high": np.nan,
                    "low": np.nan,
                    "close": path,
                    "adj_close": path,
                    "volume": np.nan,
                    "data_source": self.name,
                }
            )
            frames.append(frame[PRICE_COLUMNS])
        return ProviderResult(concat_prices(frames), {})

    def price_path(self, symbol: str, n_sessions: int) -> np.ndarray:
        """Prices on the first ``n_sessions`` sessions from ANCHOR (a prefix of a longer path)."""
        rng = np.random.default_rng(symbol_seed(symbol, self.seed))
        s0 = rng.uniform(20.0, 400.0)
        mu = rng.uniform(0.02, 0.12)
        sigma = rng.uniform(0.12, 0.45)
        dt = 1.0 / TRADING_DAYS
        shocks = rng.standard_normal(n_sessions)
        log_returns = (mu - 0.5 * sigma**2) * dt + sigma * np.sqrt(dt) * shocks
        log_returns[0] = 0.0
        return s0 * np.exp(np.cumsum(log_returns))
