"""The offline sample provider: deterministic, range-independent, plausible, never in the future."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from stockapi_testing import TODAY

from stockapi.errors import NotFoundError
from stockapi.providers import sample
from stockapi.providers.base import Prices
from stockapi.providers.sample import SampleProvider
from stockapi.validation import StockQuery

provider = SampleProvider(today=lambda: TODAY)


def bars(ticker: str, start: str, end: str, interval: str = "1d") -> dict[str, tuple]:
    prices = provider.fetch(
        StockQuery(ticker, dt.date.fromisoformat(start), dt.date.fromisoformat(end), interval)
    )
    columns = zip(prices.open, prices.high, prices.low, prices.close, prices.volume, strict=True)
    return dict(zip(prices.date, columns, strict=True))


def test_a_date_has_the_same_bar_whatever_range_is_asked():
    long = bars("NVDA", "2010-01-01", "2025-08-01")
    short = bars("NVDA", "2020-03-02", "2020-03-06")
    assert len(short) == 5
    assert all(long[day] == bar for day, bar in short.items())
    assert bars("NVDA", "2020-03-02", "2020-03-06") == short


def test_different_tickers_differ():
    assert bars("NVDA", "2024-01-02", "2024-01-05") != bars("AMD", "2024-01-02", "2024-01-05")


def test_bars_are_business_days_with_consistent_plausible_prices():
    series = bars("NVDA", "1990-01-01", "2025-08-01")
    for day, (open_, high, low, close, volume) in series.items():
        assert dt.date.fromisoformat(day).weekday() < 5
        assert low <= min(open_, close) <= max(open_, close) <= high
        assert low > 0.01
        assert high < 100_000
        assert volume > 0


def test_no_bars_after_today():
    assert max(bars("NVDA", "2025-08-01", "2025-09-04")) == TODAY.isoformat()


def test_weekly_and_monthly_bars_are_dated_by_the_start_of_their_period():
    # 2024-01-10 is a Wednesday: its week (from Monday 8 January) and month (from the 1st) are included.
    weeks = [dt.date.fromisoformat(day) for day in bars("NVDA", "2024-01-10", "2024-06-30", "1wk")]
    months = [dt.date.fromisoformat(day) for day in bars("NVDA", "2024-01-10", "2024-06-30", "1mo")]
    assert (weeks[0], weeks[-1], len(weeks)) == (dt.date(2024, 1, 8), dt.date(2024, 6, 24), 25)
    assert {day.weekday() for day in weeks} == {0}
    assert months == [dt.date(2024, month, 1) for month in range(1, 7)]


def test_a_weekly_bar_aggregates_its_days():
    daily = bars("NVDA", "2024-01-08", "2024-01-12")
    ((open_, high, low, close, volume),) = bars("NVDA", "2024-01-08", "2024-01-12", "1wk").values()
    days = list(daily.values())
    assert (open_, close) == (days[0][0], days[-1][3])
    assert high == max(day[1] for day in days)
    assert low == min(day[2] for day in days)
    assert volume == sum(day[4] for day in days)


def test_the_reserved_symbol_is_unknown_and_weekends_have_no_data():
    with pytest.raises(NotFoundError) as unknown:
        provider.fetch(StockQuery("UNKNOWN", dt.date(2024, 1, 2), dt.date(2024, 1, 5)))
    assert unknown.value.code == "unknown_ticker"
    with pytest.raises(NotFoundError) as weekend:
        provider.fetch(StockQuery("NVDA", dt.date(2024, 1, 6), dt.date(2024, 1, 7)))
    assert weekend.value.code == "no_data"


@pytest.mark.parametrize("interval", ["1d", "1wk", "1mo"])
@pytest.mark.parametrize(
    ("ticker", "start", "end"),
    [
        ("NVDA", "1970-01-01", "2025-09-03"),
        ("BRK-B", "2024-02-29", "2025-09-04"),
        ("X", "2023-12-31", "2024-01-01"),
    ],
)
def test_bars_equal_a_pandas_groupby_of_the_days(ticker, start, end, interval):
    """The numpy aggregation must give exactly what the pandas groupby it replaced gave."""
    query = StockQuery(ticker, dt.date.fromisoformat(start), dt.date.fromisoformat(end), interval)
    days = sample._DAYS
    periods = sample._PERIOD_START[interval](days)
    first_period = sample._PERIOD_START[interval](np.array([np.datetime64(query.start)]))[0]
    chosen = (periods >= first_period) & (periods <= np.datetime64(TODAY)) & (days <= np.datetime64(TODAY))
    chosen &= periods <= np.datetime64(min(query.end, TODAY))
    frame = pd.DataFrame({key: column[chosen] for key, column in sample._series(ticker).items()})
    frame["period"] = periods[chosen]
    grouped = frame.groupby("period", sort=True).agg(
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
        volume=("volume", "sum"),
    )
    expected = Prices.from_arrays(
        "sample",
        np.datetime_as_string(grouped.index.values.astype("datetime64[D]")).tolist(),
        (grouped["open"], grouped["high"], grouped["low"], grouped["close"]),
        grouped["volume"],
    )
    assert provider.fetch(query) == expected
