"""The per-ticker key figures (stockui/analytics.py) against values worked out by hand."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from stockui import analytics


def series(values, start="2024-01-01", freq="D") -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq=freq), dtype=float)


# 100 -> 110 (+10 %) -> 99 (-10 % from the peak) -> 121 (new peak)
PRICES = series([100, 110, 99, 121])


def test_last_close_and_change_over_the_period():
    assert analytics.last_close(PRICES) == 121
    assert analytics.period_change(PRICES) == pytest.approx(0.21)


def test_max_drawdown_is_the_deepest_fall_from_a_running_peak():
    assert analytics.drawdown(PRICES).tolist() == pytest.approx([0, 0, -0.1, 0])
    assert analytics.max_drawdown(PRICES) == pytest.approx(-0.1)
    assert analytics.max_drawdown(series([1, 2, 3])) == 0


def test_max_drawdown_over_two_dips_takes_the_deeper_one():
    # peak 200, trough 120: -40 %; later peak 300, trough 240: -20 %
    assert analytics.max_drawdown(series([100, 200, 120, 300, 240, 310])) == pytest.approx(-0.4)


def test_cagr_over_exactly_four_years():
    # 2020-01-01 .. 2024-01-01 is 1461 days = 4 * 365.25; 1.1 ** 4 = 1.4641
    close = pd.Series([100.0, 146.41], index=pd.to_datetime(["2020-01-01", "2024-01-01"]))
    assert analytics.cagr(close) == pytest.approx(0.10)


def test_cagr_of_a_halving_over_one_year_and_a_quarter():
    close = pd.Series([100.0, 50.0], index=pd.to_datetime(["2020-01-01", "2021-04-01"]))
    years = 456 / 365.25
    assert analytics.cagr(close) == pytest.approx(0.5 ** (1 / years) - 1)


def test_volatility_of_alternating_log_returns():
    # log returns +0.01, -0.01, +0.01, -0.01: mean 0, sample variance 4 * 0.0001 / 3
    up = 100 * math.exp(0.01)
    close = series([100, up, 100, up, 100])
    daily = 0.01 * math.sqrt(4 / 3)
    assert analytics.annualised_volatility(close, "1d") == pytest.approx(daily * math.sqrt(252))
    assert analytics.annualised_volatility(close, "1wk") == pytest.approx(daily * math.sqrt(52))
    assert analytics.annualised_volatility(close, "1mo") == pytest.approx(daily * math.sqrt(12))


def test_a_constant_price_has_no_volatility():
    assert analytics.annualised_volatility(series([50] * 10)) == 0


def test_normalise_to_an_index_or_a_percent_change():
    assert analytics.normalise(PRICES, "index").tolist() == pytest.approx([100, 110, 99, 121])
    assert analytics.normalise(series([50, 75, 25]), "index").tolist() == pytest.approx([100, 150, 50])
    assert analytics.normalise(series([50, 75, 25]), "percent").tolist() == pytest.approx([0, 50, -50])
    with pytest.raises(ValueError, match="unknown normalisation"):
        analytics.normalise(PRICES, "log")


def test_normalise_starts_at_the_first_known_price():
    assert analytics.normalise(series([math.nan, 20, 30]), "index").tolist() == pytest.approx([100, 150])


def test_sma_is_undefined_until_the_window_is_full():
    result = analytics.sma(series([1, 2, 3, 4, 5]), 3)
    assert result.isna().tolist() == [True, True, False, False, False]
    assert result.dropna().tolist() == pytest.approx([2, 3, 4])


def test_figures_of_too_short_series_are_nan_not_errors():
    one = series([100])
    assert analytics.last_close(one) == 100
    assert math.isnan(analytics.period_change(one))
    assert math.isnan(analytics.cagr(one))
    assert math.isnan(analytics.annualised_volatility(series([100, 101])))
    assert math.isnan(analytics.last_close(series([])))


def test_warmup_start_leaves_room_for_the_moving_average():
    start = dt.date(2024, 6, 3)
    warm = analytics.warmup_start(start, 200, "1d")
    trading_days = len(pd.bdate_range(warm, start)) - 1
    assert trading_days >= 200 + 10  # a full window plus a generous allowance for holidays
    assert analytics.warmup_start(start, 20, "1wk") <= start - dt.timedelta(weeks=20)
    assert analytics.warmup_start(start, 12, "1mo") <= dt.date(2023, 6, 1)


def test_figures_table_has_one_row_per_ticker():
    rows = [analytics.ticker_figures("AAA", PRICES), analytics.ticker_figures("BBB", series([10, 5]))]
    table = analytics.figures_table(rows)
    assert table.index.tolist() == ["AAA", "BBB"]
    assert table.loc["AAA", "max_drawdown"] == pytest.approx(-10)  # percent, for the table's format
    assert table.loc["BBB", "change"] == pytest.approx(-50)
    assert table.loc["AAA", "first_date"] == pd.Timestamp("2024-01-01")


def test_resample_aggregates_ohlcv_into_weeks_from_monday_and_months_from_the_first():
    days = pd.bdate_range("2024-01-01", "2024-02-09")  # Monday 1 January to Friday 9 February
    prices = pd.DataFrame(
        {
            "open": range(1, len(days) + 1),
            "high": [x + 10 for x in range(len(days))],
            "low": [x - 10 for x in range(len(days))],
            "close": [x + 0.5 for x in range(len(days))],
            "volume": [100] * len(days),
        },
        index=days,
        dtype=float,
    )
    weeks = analytics.resample(prices, "1wk")
    assert weeks.index[:2].tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-08")]
    assert weeks.iloc[0].tolist() == [1, 14, -10, 4.5, 500]  # Mon..Fri: first open, max high, ...
    months = analytics.resample(prices, "1mo")
    assert months.index.tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01")]
    assert months["volume"].tolist() == [2300, 700]  # 23 business days in January, 7 in February


def test_resample_drops_periods_without_bars():
    prices = pd.DataFrame(
        {
            "open": [1.0, 2.0],
            "high": [1.0, 2.0],
            "low": [1.0, 2.0],
            "close": [1.0, 2.0],
            "volume": [1.0, 1.0],
        },
        index=pd.to_datetime(["2024-01-02", "2024-03-04"]),
    )
    assert analytics.resample(prices, "1mo").index.tolist() == [
        pd.Timestamp("2024-01-01"),
        pd.Timestamp("2024-03-01"),
    ]


def test_prices_table_stacks_tickers_with_plain_dates():
    days = pd.DatetimeIndex(["2024-01-01", "2024-01-02"], name="date")
    bars = pd.DataFrame({"close": [1.0832, 1.0841], "volume": [0, 0]}, index=days)
    table = analytics.prices_table({"EURUSD=X": bars, "NVDA": bars * 100})
    assert table.columns.tolist() == ["ticker", "date", "close", "volume"]
    assert table["ticker"].tolist() == ["EURUSD=X", "EURUSD=X", "NVDA", "NVDA"]
    assert table["date"].tolist() == [dt.date(2024, 1, 1), dt.date(2024, 1, 2)] * 2  # no 00:00:00
    assert analytics.price_decimals(table) == 4
    assert analytics.price_decimals(table[table["ticker"] == "NVDA"]) == 2
