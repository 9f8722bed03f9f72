"""What the analytics assets of one client work on: positions, prices, as-of, rate.

The price matrix comes from the `price_history` asset through Dagster (resources/price_matrix_io.py);
only when it does not cover the window (e.g. the asset was materialised for another as-of date) is it
read from the database.
"""

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from sigmasight_onboarding.price_backfill import reference_symbols
from sigmasight_onboarding.calendar import sessions_between
from sigmasight_onboarding.config import get_settings
from sigmasight_onboarding.db.price_cache import price_matrix, window_start
from sigmasight_onboarding.domain import RISK_FREE_RATE_FALLBACK
from sigmasight_onboarding.db.portfolio_reads import (
    ClientPortfolio,
    active_positions_frame,
    client_portfolio,
    is_option_type,
    price_symbols,
)
from sigmasight_onboarding.resources.price_matrix_io import covers


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


def load_client_market(engine, client_key: str, as_of: date, prices: pd.DataFrame | None = None,
                       rate_fallback: float = RISK_FREE_RATE_FALLBACK, price_lookback_days: int | None = None) -> ClientMarket:
    """Positions (with spot at the as-of date) and the window's price matrix: `prices` (the
    `price_history` output) when it covers the window's sessions and every symbol, else the database."""
    client = client_portfolio(engine, client_key)
    positions = active_positions_frame(engine, client.portfolio_id)
    positions["is_option"] = is_option_type(positions["position_type"])
    positions["price_symbol"] = positions["underlying_symbol"].where(positions["is_option"], positions["symbol"])
    symbols = sorted(set(price_symbols(positions)) | set(reference_symbols()))
    lookback = get_settings().price_lookback_days if price_lookback_days is None else price_lookback_days
    sessions = sessions_between(window_start(as_of, lookback), as_of)
    if prices is not None and covers(prices, sessions, symbols):
        prices = prices[symbols]
    else:
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
    return ClientMarket(client, as_of, sessions, positions, prices, rate if np.isfinite(rate) else rate_fallback, notes)
