"""Offline, deterministic synthetic prices, clearly labelled `source: sample`.

Each symbol gets one fixed daily series over business days from 1970 to 2099, generated from a hash of the
symbol, so the same symbol and date always give the same bar whatever range is asked. Bars after today
(UTC) are never shown. The price follows a slow exponential trend (prices in 2025 are of the order of
tens to hundreds of dollars) around which a mean-reverting walk moves, so decades of history stay plausible.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from stockapi.domain import StockQuery
from stockapi.errors import NotFoundError
from stockapi.providers.base import Prices, iso_dates, normalised_columns

FIRST_DAY = dt.date(1970, 1, 1)
LAST_DAY = dt.date(2099, 12, 31)
ANCHOR = np.datetime64("2025-01-01")
# A well-formed symbol that the sample provider answers 404 for, so clients can test that path offline.
UNKNOWN_TICKER = "UNKNOWN"

_DAYS = pd.bdate_range(FIRST_DAY, LAST_DAY).values.astype("datetime64[D]")
_PERIOD_START = {
    "1d": lambda days: days,
    "1wk": lambda days: days - ((days.astype(np.int64) + 3) % 7),  # 1970-01-01 was a Thursday
    "1mo": lambda days: days.astype("datetime64[M]").astype("datetime64[D]"),
}
_PERIODS = {interval: start(_DAYS) for interval, start in _PERIOD_START.items()}


class SampleProvider:
    name = "sample"

    def __init__(self, today: Callable[[], dt.date], latency_s: float = 0.0) -> None:
        self._today = today
        self._latency_s = latency_s

    def fetch(self, query: StockQuery) -> Prices:
        if self._latency_s:
            # Models the upstream's round trip (SAMPLE_LATENCY_MS), so benchmarks exercise the cache.
            time.sleep(self._latency_s)
        if query.ticker == UNKNOWN_TICKER:
            raise NotFoundError(f"ticker {query.ticker!r} is not known to the sample data source")
        period_start = _PERIODS[query.interval]
        first_period = _PERIOD_START[query.interval](np.array([np.datetime64(query.start)]))[0]
        # Whole periods that overlap the range, each aggregated over all its days up to today, so a bar does
        # not change with the range either. The days and their period starts are sorted, so the chosen days
        # are one run: two binary searches instead of masks over all 34,000 days.
        today = np.datetime64(self._today())
        lo = int(np.searchsorted(period_start, first_period, side="left"))
        hi = min(
            int(np.searchsorted(period_start, np.datetime64(min(query.end, self._today())), side="right")),
            int(np.searchsorted(_DAYS, today, side="right")),
        )
        if lo >= hi:
            raise NotFoundError(
                f"no {query.interval} bars for {query.ticker} between {query.start} and {query.end}",
                code="no_data",
            )
        bars = _bars(query.ticker)
        if query.interval == "1d":
            # A day is its own period: slices of the rounded series, no copies and nothing to aggregate.
            return Prices(
                self.name, iso_dates(period_start[lo:hi]), *(bars[column][lo:hi] for column in COLUMNS)
            )
        chosen = slice(lo, hi)
        # Each period's days are adjacent: numpy's reduceat aggregates them where a pandas groupby cost most
        # of a miss (20 ms for 25 years of daily bars, 2 ms this way).
        periods = period_start[chosen]
        first = np.flatnonzero(np.concatenate(([True], periods[1:] != periods[:-1])))
        last_day = np.concatenate((first[1:], [len(periods)])) - 1
        # Rounding is monotonic, so the extremes of rounded prices are the rounded extremes: the bars stay
        # what Prices.from_arrays would make of the raw aggregates (test_sample.py checks against that).
        return Prices(
            self.name,
            iso_dates(periods[first]),
            bars["open"][chosen][first],
            np.maximum.reduceat(bars["high"][chosen], first),
            np.minimum.reduceat(bars["low"][chosen], first),
            bars["close"][chosen][last_day],
            np.add.reduceat(bars["volume"][chosen], first),
        )


COLUMNS = ("open", "high", "low", "close", "volume")


@functools.lru_cache(maxsize=32)
def _bars(ticker: str) -> dict[str, np.ndarray]:
    """A symbol's whole series as Prices holds it (rounded prices, integer volumes), made once per worker:
    rounding on every miss cost about an eighth of its CPU."""
    series = _series(ticker)
    columns = normalised_columns("sample", tuple(series[column] for column in COLUMNS[:4]), series["volume"])
    for column in columns:
        column.flags.writeable = False  # every answer's arrays are views of these
    return dict(zip(COLUMNS, columns, strict=True))


def _series(ticker: str) -> dict[str, np.ndarray]:
    seed = int.from_bytes(hashlib.blake2b(ticker.encode(), digest_size=8).digest(), "big")
    rng = np.random.default_rng(seed)
    n = len(_DAYS)
    price_2025 = rng.uniform(20, 400)
    growth = rng.uniform(0.03, 0.12)  # per year
    sigma = rng.uniform(0.012, 0.028)  # daily
    reversion = 0.004
    shocks = rng.standard_normal(n) * sigma
    walk = np.empty(n)
    level = 0.0
    for i, shock in enumerate(shocks.tolist()):
        level = level * (1 - reversion) + shock
        walk[i] = level
    years = (_DAYS - ANCHOR).astype(np.int64) / 365.25
    close = price_2025 * np.exp(growth * years + walk)
    gap = np.exp(rng.standard_normal(n) * sigma / 3)
    open_ = np.concatenate(([close[0]], close[:-1])) * gap
    wick = np.abs(rng.standard_normal((2, n))) * sigma / 2
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) * (1 - wick[1])
    volume = np.round(np.exp(rng.normal(math.log(rng.uniform(1e6, 5e7)), 0.35, n)))
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
