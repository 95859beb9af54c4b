"""Helpers the frontend's tests import (conftest.py holds only fixtures); found through pytest's
`pythonpath` setting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FRONTEND = Path(__file__).resolve().parents[1]


def synthetic_prices(ticker: str, start, end, interval: str = "1d") -> pd.DataFrame:
    """Deterministic OHLCV bars on business days, different per ticker."""
    freq = {"1d": "B", "1wk": "W-FRI", "1mo": "BME"}[interval]
    index = pd.date_range(start, end, freq=freq, name="date")
    rng = np.random.default_rng(sum(map(ord, ticker)))
    close = 100 * np.exp(np.cumsum(rng.normal(0.0004, 0.02, len(index))))
    open_ = close * (1 + rng.normal(0, 0.005, len(index)))
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.01,
            "low": np.minimum(open_, close) * 0.99,
            "close": close,
            "volume": rng.integers(1_000_000, 5_000_000, len(index)).astype(float),
        },
        index=index,
    )
