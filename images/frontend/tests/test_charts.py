"""The Plotly figures: which traces, which axes, which gaps are hidden."""

from __future__ import annotations

import pandas as pd
import pytest
from stockui_testing import synthetic_prices

from stockui import charts


def test_daily_stock_bars_hide_weekends_and_the_holidays_in_the_data():
    # 2024-12-25 (Wednesday) is missing, as it is from any US exchange's data
    index = pd.bdate_range("2024-12-20", "2024-12-31").drop(pd.Timestamp("2024-12-25"))
    assert charts.rangebreaks(index, "1d") == [{"bounds": ["sat", "mon"]}, {"values": ["2024-12-25"]}]


def test_symbols_trading_every_day_and_coarser_bars_get_no_breaks():
    every_day = pd.date_range("2024-01-01", "2024-01-31", freq="D")
    assert charts.rangebreaks(every_day, "1d") == []
    assert charts.rangebreaks(pd.bdate_range("2024-01-01", "2024-12-31"), "1wk") == []


def test_one_ticker_as_candles_with_moving_averages_over_volume():
    prices = synthetic_prices("NVDA", "2023-01-01", "2024-12-31")
    start = pd.Timestamp("2024-01-01")
    fig = charts.price_figure(prices, "NVDA", moving_averages=(20, 200), visible_from=start)
    assert [(trace.type, trace.name) for trace in fig.data] == [
        ("candlestick", "NVDA"),
        ("scatter", "SMA 20"),
        ("scatter", "SMA 200"),
        ("bar", "Volume"),
    ]
    candles, _, sma200, volume = fig.data
    assert pd.Timestamp(candles.x[0]) >= start
    # Warm-up bars make the 200-bar average defined from the first bar shown.
    assert pd.Timestamp(sma200.x[0]) == pd.Timestamp(candles.x[0])
    assert not pd.isna(sma200.y[0])
    assert volume.yaxis == "y2"
    # Colours, not numbers on a colour scale: Plotly.js warns about (and pays for) each number while drawing.
    shown = prices.loc[start:]
    rising = (shown["close"] >= shown["open"]).to_numpy()
    assert list(volume.marker.color) == [charts.UP_COLOUR if up else charts.DOWN_COLOUR for up in rising]
    assert fig.layout.yaxis.type == "linear"
    assert fig.layout.xaxis.rangebreaks[0].bounds == ("sat", "mon")


def test_line_chart_on_a_log_axis():
    prices = synthetic_prices("AAPL", "2024-01-01", "2024-06-30")
    fig = charts.price_figure(prices, "AAPL", kind="line", log_scale=True)
    assert [(trace.type, trace.name) for trace in fig.data] == [("scatter", "AAPL"), ("bar", "Volume")]
    assert list(fig.data[0].y) == pytest.approx(prices["close"].tolist())
    assert fig.layout.yaxis.type == "log"


def test_unknown_chart_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown chart kind"):
        charts.price_figure(synthetic_prices("A", "2024-01-01", "2024-02-01"), "A", kind="area")


@pytest.mark.parametrize(("mode", "first"), [("index", 100), ("percent", 0)])
def test_comparison_rebases_every_ticker(mode, first):
    closes = {t: synthetic_prices(t, "2024-01-01", "2024-06-30")["close"] for t in ("NVDA", "^GSPC")}
    fig = charts.comparison_figure(closes, mode=mode)
    assert [trace.name for trace in fig.data] == ["NVDA", "^GSPC"]
    assert [trace.y[0] for trace in fig.data] == pytest.approx([first, first])
    last = closes["NVDA"].iloc[-1] / closes["NVDA"].iloc[0]
    assert fig.data[0].y[-1] == pytest.approx(100 * last if mode == "index" else 100 * (last - 1))


def test_comparison_uses_a_log_axis_only_for_the_index():
    closes = {"A": synthetic_prices("A", "2024-01-01", "2024-03-01")["close"]}
    assert charts.comparison_figure(closes, mode="index", log_scale=True).layout.yaxis.type == "log"
    assert charts.comparison_figure(closes, mode="percent", log_scale=True).layout.yaxis.type == "linear"


def test_long_daily_ranges_are_drawn_as_coarser_bars():
    year = synthetic_prices("A", "2020-01-01", "2020-12-31")
    decades = synthetic_prices("A", "1950-01-01", "2020-12-31")
    assert charts.drawable_interval(year, "1d") == "1d"
    assert charts.drawable_interval(synthetic_prices("A", "2005-01-01", "2020-12-31"), "1d") == "1wk"
    assert charts.drawable_interval(decades, "1d") == "1mo"
    fig = charts.price_figure(decades, "A", moving_averages=(200,), draw_interval="1mo")
    candles, sma, volume = fig.data
    assert len(candles.x) == len(volume.x) == 71 * 12
    assert pd.Timestamp(candles.x[-1]) == pd.Timestamp("2020-12-01")
    assert candles.close[-1] == pytest.approx(decades["close"].iloc[-1])
    # The 200-day average at the end of December, not a 200-month one.
    assert sma.y[-1] == pytest.approx(decades["close"].iloc[-200:].mean())
    assert fig.layout.xaxis.rangebreaks == ()
