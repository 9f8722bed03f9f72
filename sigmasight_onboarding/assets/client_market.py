"""What the analytics assets of one client share in a run: positions, prices, as-of, rate.

Loaded once per (run, client) and reused by every asset of that run, so a run reads each price
matrix from the database once.
"""

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from sigmasight_onboarding.assets.market_data import reference_symbols
from sigmasight_onboarding.calendar import sessions_between
from sigmasight_onboarding.config import get_settings
from sigmasight_onboarding.db.market_data import price_matrix, window_start
from sigmasight_onboarding.domain import RISK_FREE_RATE_FALLBACK
from sigmasight_onboarding.db.portfolio_reads import (
    ClientPortfolio,
    active_positions_frame,
    client_portfolio,
    is_option_type,
    price_symbols,
)
from sigmasight_onboarding.price_cache import recall_prices

_CACHE: "OrderedDict[tuple, ClientMarket]" = OrderedDict()
_CACHE_SIZE = 4


@dataclass
class ClientMarket:
    client: ClientPortfolio
    as_of: date
    sessions: list[date]
    positions: pd.DataFrame  # active positions + is_option, price_symbol, spot ($ at as_of)
    prices: pd.DataFrame  # session × symbol adjusted closes ($; ^TNX/^IRX in percent)
    rate: float  # risk-free rate, decimal annualised (^IRX / 100 at the as-of date)
    notes: list[str] = field(default_factory=list)

    @property
    def equities(self) -> pd.DataFrame:
        return self.positions[~self.positions["is_option"]]

    @property
    def options(self) -> pd.DataFrame:
        return self.positions[self.positions["is_option"]]


def load_client_market(engine, client_key: str, as_of: date, run_id: str, rate_fallback: float = RISK_FREE_RATE_FALLBACK,
                       price_lookback_days: int | None = None) -> ClientMarket:
    key = (run_id, str(engine.url), client_key, as_of)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    client = client_portfolio(engine, client_key)
    positions = active_positions_frame(engine, client.portfolio_id)
    positions["is_option"] = is_option_type(positions["position_type"])
    positions["price_symbol"] = positions["underlying_symbol"].where(positions["is_option"], positions["symbol"])
    symbols = sorted(set(price_symbols(positions)) | set(reference_symbols()))
    sessions = sessions_between(window_start(as_of, get_settings().price_lookback_days if price_lookback_days is None else price_lookback_days), as_of)
    prices = recall_prices(run_id, engine, client_key, as_of, sessions, symbols)
    if prices is None:
        prices = price_matrix(engine, symbols, sessions)
    last = prices.ffill().iloc[-1] if len(prices) else pd.Series(dtype=float)
    positions["spot"] = positions["price_symbol"].map(last.to_dict()).astype(float)
    notes = []
    irx = prices["^IRX"].dropna() if "^IRX" in prices else pd.Series(dtype=float)
    if len(irx) and irx.index[-1] == as_of:
        rate = float(irx.iloc[-1]) / 100.0
    elif len(irx):
        rate = float(irx.iloc[-1]) / 100.0
        notes.append(f"^IRX missing on {as_of}; used {irx.index[-1]}")
    else:
        rate = rate_fallback
        notes.append(f"^IRX unavailable; risk-free rate fallback {rate_fallback:.2%}")
    market = ClientMarket(client, as_of, sessions, positions, prices, rate if np.isfinite(rate) else rate_fallback, notes)
    _CACHE[key] = market
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return market
