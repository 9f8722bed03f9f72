"""Outside-world resources: market-data provider clients."""

from .price_providers import (
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
