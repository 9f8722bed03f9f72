"""Market-data provider clients; see :mod:`sigmasight_onboarding.resources.price_providers`."""

from .base import PRICE_COLUMNS, MarketDataProvider, ProviderResult, empty_prices, redact, symbol_aliases
from .file import FileProvider
from .fmp import FmpProvider
from .http import HttpProviderBase, RateLimiter, parse_retry_after
from .polygon import PolygonProvider
from .synthetic import SyntheticPricesRefused, SyntheticProvider

__all__ = [
    "PRICE_COLUMNS",
    "FileProvider",
    "FmpProvider",
    "HttpProviderBase",
    "MarketDataProvider",
    "PolygonProvider",
    "ProviderResult",
    "RateLimiter",
    "SyntheticPricesRefused",
    "SyntheticProvider",
    "empty_prices",
    "parse_retry_after",
    "redact",
    "symbol_aliases",
]
