"""What the API answers about: a price query. Providers, the cache and the renderer share it; the
query-string parser (validation.py) is only one way to build one."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StockQuery:
    ticker: str
    start: dt.date
    end: dt.date  # inclusive
    interval: str = "1d"
