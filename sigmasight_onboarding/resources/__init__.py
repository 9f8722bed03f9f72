"""Outside-world resources: market-data provider clients."""

from .market_data import (
    PRICE_COLUMNS,
    FileProvider,
    FmpProvider,
    MarketDataProvider,
    PolygonProvider,
    ProviderChain,
    ProviderResult,
    SyntheticProvider,
    build_provider_chain,
)

__all__ = [
    "PRICE_COLUMNS",
    "FileProvider",
    "FmpProvider",
    "MarketDataProvider",
    "PolygonProvider",
    "ProviderChain",
    "ProviderResult",
    "SyntheticProvider",
    "build_provider_chain",
]
