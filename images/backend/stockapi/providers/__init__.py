"""Where prices come from: Yahoo Finance (yfinance) or the offline sample generator.

A provider answers `fetch(query) -> Prices` or raises NotFoundError (unknown ticker, no bars) or
UpstreamUnavailableError (rate-limited, unreachable). `make_providers` picks them from STOCK_DATA_SOURCE.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from stockapi.providers.base import Prices, Provider
from stockapi.providers.sample import SampleProvider
from stockapi.settings import Settings

__all__ = ["Prices", "Provider", "make_providers"]


def make_providers(settings: Settings, today: Callable[[], dt.date]) -> tuple[Provider, Provider | None]:
    """Return (primary, fallback): the fallback answers only when the primary is unavailable."""
    sample = SampleProvider(today=today, latency_s=settings.sample_latency_ms / 1000)
    if settings.data_source == "sample":
        return sample, None
    # Imported here so that the sample-only configuration never loads yfinance.
    from stockapi.providers.yahoo import YahooProvider

    yahoo = YahooProvider(cache_dir=settings.yfinance_cache_dir)
    return yahoo, (sample if settings.data_source == "auto" else None)
