"""Shared fixtures: the page under AppTest with its backend client replaced by an in-memory fake."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import streamlit as st
from stockui_testing import FRONTEND, synthetic_prices
from streamlit.testing.v1 import AppTest

# The page imports `stockui` as a top-level package (Streamlit puts the script's folder on sys.path); pytest's
# `pythonpath` setting puts the same folder first, so the tests patch the very module objects the page uses.
from stockui.cache import FIGURES, HISTORIES
from stockui.client import BackendClient, PriceHistory


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
