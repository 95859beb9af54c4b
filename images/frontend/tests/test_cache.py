"""The shared history cache: bounded in bytes, expires, and keeps no failure."""

from __future__ import annotations

import datetime as dt

import pytest
from stockui_testing import synthetic_prices

from stockui.cache import SharedCache, history_bytes
from stockui.client import PriceHistory, UpstreamUnavailableError

START, END = dt.date(1990, 1, 1), dt.date(2025, 1, 1)


class Fetches:
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.fail: set[str] = set()

    def __call__(self, ticker, start, end, interval) -> PriceHistory:
        self.calls.append((ticker, start, end, interval))
        if ticker in self.fail:
            raise UpstreamUnavailableError("try later", retry_after_s=None)
        return PriceHistory(ticker, interval, "sample", synthetic_prices(ticker, start, end, interval))


def test_an_entry_costs_its_frames_bytes():
    history = Fetches()("NVDA", START, END, "1d")
    assert history_bytes(history) >= history.prices.memory_usage(index=True, deep=True).sum()
    assert history_bytes(history) > 9_000 * 6 * 8  # ~9,000 business days of 5 columns and an index


def test_the_total_stays_under_the_byte_bound_whatever_comes_in():
    fetch = Fetches()
    one = history_bytes(fetch("A", START, END, "1d"))
    cache = SharedCache(history_bytes, max_bytes=int(3.5 * one))
    for ticker in [f"T{n}" for n in range(20)]:
        cache.get(fetch, ticker, START, END, "1d")
        assert cache.current_bytes <= 3.5 * one
    assert len(cache.entries) == 3
    # Least recently used goes first: T17 was read last before T19 came in, so it stays.
    cache.get(fetch, "T17", START, END, "1d")
    cache.get(fetch, "T20", START, END, "1d")
    calls = len(fetch.calls)
    cache.get(fetch, "T17", START, END, "1d")
    assert len(fetch.calls) == calls


def test_a_hit_is_the_same_object_and_costs_no_request():
    fetch, cache = Fetches(), SharedCache(history_bytes)
    first = cache.get(fetch, "NVDA", START, END, "1d")
    assert cache.get(fetch, "NVDA", START, END, "1d") is first
    assert cache.get(fetch, "NVDA", START, END, "1wk") is not first
    assert len(fetch.calls) == 2


def test_entries_expire_after_the_ttl():
    now = [0.0]
    fetch = Fetches()
    cache = SharedCache(history_bytes, ttl=dt.timedelta(minutes=10), timer=lambda: now[0])
    cache.get(fetch, "NVDA", START, END, "1d")
    now[0] = 599
    cache.get(fetch, "NVDA", START, END, "1d")
    assert len(fetch.calls) == 1
    now[0] = 601
    cache.get(fetch, "NVDA", START, END, "1d")
    assert len(fetch.calls) == 2


def test_a_failure_is_not_cached():
    fetch, cache = Fetches(), SharedCache(history_bytes)
    fetch.fail.add("NVDA")
    with pytest.raises(UpstreamUnavailableError):
        cache.get(fetch, "NVDA", START, END, "1d")
    fetch.fail.clear()
    assert cache.get(fetch, "NVDA", START, END, "1d").ticker == "NVDA"
    assert len(fetch.calls) == 2
