"""Shared fixtures: the page under AppTest with its backend client replaced by an in-memory fake."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

FRONTEND = Path(__file__).resolve().parents[1]
# The page imports `stockui` as a top-level package (Streamlit puts the script's folder on sys.path);
# the tests must import the very same module objects to patch them.
if str(FRONTEND) not in sys.path:
    sys.path.insert(0, str(FRONTEND))

from stockui.cache import FIGURES, HISTORIES  # noqa: E402
from stockui.client import BackendClient, PriceHistory  # noqa: E402


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


@dataclass
class FakeBackend:
    """Answers like the real backend; `errors[ticker]` makes that ticker's next requests raise instead."""

    source: str = "yahoo"
    errors: dict[str, Exception] = field(default_factory=dict)
    calls: list[tuple] = field(default_factory=list)

    def history(self, ticker, start, end, interval="1d") -> PriceHistory:
        self.calls.append((ticker, start, end, interval))
        if ticker in self.errors:
            raise self.errors[ticker]
        return PriceHistory(ticker, interval, self.source, synthetic_prices(ticker, start, end, interval))


@pytest.fixture
def fake_backend(monkeypatch: pytest.MonkeyPatch) -> FakeBackend:
    fake = FakeBackend()
    monkeypatch.setattr(BackendClient, "history", lambda _self, *args: fake.history(*args))
    return fake


@pytest.fixture
def app() -> AppTest:
    """A fresh page with empty caches (they live in the process, across AppTest instances)."""
    HISTORIES.clear()
    FIGURES.clear()
    st.cache_resource.clear()
    return AppTest.from_file(FRONTEND / "app.py", default_timeout=30)
