"""Plotly figures for the page. Pure: data in, `go.Figure` out; the page only hands them to Streamlit.

Traces are SVG (`go.Scatter`, not `Scattergl`) so the chart renders the same in a GPU-less headless browser.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from stockui import analytics

UP_COLOUR = "#26a69a"
DOWN_COLOUR = "#ef5350"
MA_COLOURS = {20: "#f9a825", 50: "#1e88e5", 200: "#8e24aa"}
# A chart cannot show more candles than it has pixels: on a 1,440 px wide screen the plot area is about
# 1,000 px, and a candle needs a pixel or more to read as one. More bars only cost the server (building and
# sending them) and the browser (one SVG path each), so long daily ranges are drawn as weekly or monthly bars.
MAX_DRAWN_BARS = 1000
COARSER = {"1d": ("1wk", "1mo"), "1wk": ("1mo",), "1mo": ()}
# Plotly's default qualitative palette, readable on light and dark themes.
SERIES_COLOURS = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880")


def rangebreaks(index: pd.DatetimeIndex, interval: str) -> list[dict]:
    """Hide the days without bars so weekends and holidays do not show as gaps in daily charts.

    A symbol that trades every day (crypto) gets no breaks. Weekly and monthly bars need none.
    """
    if interval != "1d" or len(index) < 2:
        return []
    if (index.day_of_week >= 5).any():
        return []
    business_days = pd.bdate_range(index[0], index[-1])
    holidays = business_days.difference(index)
    breaks: list[dict] = [{"bounds": ["sat", "mon"]}]
    if len(holidays):
        breaks.append({"values": [day.strftime("%Y-%m-%d") for day in holidays]})
    return breaks


def drawable_interval(prices: pd.DataFrame, interval: str) -> str:
    """The finest interval, starting at `interval`, in which `prices` fit in MAX_DRAWN_BARS bars."""
    if len(prices) <= MAX_DRAWN_BARS:
        return interval
    for coarser in COARSER[interval]:
        if len(analytics.resample(prices, coarser)) <= MAX_DRAWN_BARS:
            return coarser
    return COARSER[interval][-1] if COARSER[interval] else interval


def price_figure(
    prices: pd.DataFrame,
    ticker: str,
    *,
    interval: str = "1d",
    kind: str = "candlestick",
    moving_averages: tuple[int, ...] = (),
    log_scale: bool = False,
    visible_from: pd.Timestamp | None = None,
    draw_interval: str | None = None,
) -> go.Figure:
    """Price (candlesticks or a close line) with optional SMAs, over a volume subplot sharing the x axis.

    Bars before `visible_from` only warm up the moving averages and are not drawn. With a coarser
    `draw_interval` the bars are aggregated for drawing; the averages stay those of `interval` bars (a
    200-day average remains one), sampled at the end of each drawn bar.
    """
    averages = {window: analytics.sma(prices["close"], window) for window in moving_averages}
    if visible_from is not None:
        prices = prices.loc[visible_from:]
        averages = {window: series.loc[visible_from:] for window, series in averages.items()}
    if draw_interval and draw_interval != interval:
        prices = analytics.resample(prices, draw_interval)
        rule = analytics.RESAMPLE_RULES[draw_interval]
        averages = {
            window: series.resample(rule, closed="left", label="left").last().reindex(prices.index)
            for window, series in averages.items()
        }
        interval = draw_interval
    if kind == "candlestick":
        price_trace = {
            "type": "candlestick",
            "x": prices.index,
            "open": prices["open"].to_numpy(),
            "high": prices["high"].to_numpy(),
            "low": prices["low"].to_numpy(),
            "close": prices["close"].to_numpy(),
            "name": ticker,
            "increasing": {"line": {"color": UP_COLOUR}},
            "decreasing": {"line": {"color": DOWN_COLOUR}},
        }
    elif kind == "line":
        price_trace = {
            "type": "scatter",
            "x": prices.index,
            "y": prices["close"].to_numpy(),
            "name": ticker,
            "mode": "lines",
            "line": {"width": 1.6},
        }
    else:
        raise ValueError(f"unknown chart kind: {kind!r}")
    traces = [price_trace]
    for window, average in averages.items():
        traces.append(
            {
                "type": "scatter",
                "x": average.index,
                "y": average.to_numpy(),
                "name": f"SMA {window}",
                "mode": "lines",
                "line": {"width": 1.2, "color": MA_COLOURS.get(window)},
            }
        )
    traces.append(
        {
            "type": "bar",
            "x": prices.index,
            "y": prices["volume"].to_numpy(),
            "yaxis": "y2",
            "xaxis": "x2",
            "name": "Volume",
            # A colour string per bar. Not 0/1 on a two-colour scale, which Plotly.py validates in one step:
            # Plotly.js then hands each bar's number to its colour parser while drawing, which logs "Invalid
            # color specifier" with a stack trace per bar, 0.4 s of every visitor's main thread before the
            # first chart. The strings cost the server 3-4 ms (a year of bars) to 14 ms (1,000) of
            # validation, once per figure (cached).
            "marker": {
                "color": np.where(prices["close"] >= prices["open"], UP_COLOUR, DOWN_COLOUR).tolist(),
                "line": {"width": 0},
            },
            "opacity": 0.6,
            "showlegend": False,
        }
    )
    # Two rows sharing the x axis: what make_subplots(rows=2, shared_xaxes=True, vertical_spacing=0.03,
    # row_heights=[0.78, 0.22]) lays out, written once. Building the figure in one constructor call validates
    # each property once; make_subplots plus update_* calls validated the layout again on every call.
    x_axis = {
        "rangebreaks": rangebreaks(prices.index, interval),
        "showspikes": True,
        "spikemode": "across",
        # The range slider duplicates the chart and steals height; box-zoom and the mouse wheel are enough.
        "rangeslider": {"visible": False},
    }
    layout = {
        "xaxis": {**x_axis, "anchor": "y", "domain": [0.0, 1.0], "matches": "x2", "showticklabels": False},
        "xaxis2": {**x_axis, "anchor": "y2", "domain": [0.0, 1.0]},
        "yaxis": {
            "anchor": "x",
            "domain": [0.2434, 1.0],
            "title": {"text": "Price"},
            "type": "log" if log_scale else "linear",
        },
        "yaxis2": {"anchor": "x2", "domain": [0.0, 0.2134], "title": {"text": "Volume"}},
        **_LAYOUT,
        "height": 580,
    }
    return go.Figure(data=traces, layout=layout)


def comparison_figure(
    closes: dict[str, pd.Series], *, mode: str = "index", log_scale: bool = False
) -> go.Figure:
    """All tickers rebased to their first close in the period, on one axis."""
    traces = []
    for number, (ticker, close) in enumerate(closes.items()):
        rebased = analytics.normalise(close, mode)
        traces.append(
            {
                "type": "scatter",
                "x": rebased.index,
                "y": rebased.to_numpy(),
                "name": ticker,
                "mode": "lines",
                "line": {"width": 1.8, "color": SERIES_COLOURS[number % len(SERIES_COLOURS)]},
                "hovertemplate": f"{ticker}: %{{y:.2f}}{'%' if mode == 'percent' else ''}<extra></extra>",
            }
        )
    baseline = 100 if mode == "index" else 0
    # A log axis needs positive values: it only makes sense for the index (a % change crosses zero).
    use_log = log_scale and mode == "index"
    layout = {
        # The baseline across the whole width, as add_hline draws it (one constructor call, as above).
        "shapes": [
            {
                "type": "line",
                "xref": "x domain",
                "x0": 0,
                "x1": 1,
                "yref": "y",
                "y0": baseline,
                "y1": baseline,
                "line": {"width": 1, "dash": "dot", "color": "grey"},
            }
        ],
        "yaxis": {
            "title": {"text": "Index (start = 100)" if mode == "index" else "Change since start (%)"},
            "type": "log" if use_log else "linear",
            "ticksuffix": "%" if mode == "percent" else "",
        },
        **_LAYOUT,
        "height": 560,
    }
    return go.Figure(data=traces, layout=layout)


_LAYOUT = {
    "margin": {"l": 10, "r": 10, "t": 30, "b": 10},
    "hovermode": "x unified",
    "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.01, "xanchor": "left", "x": 0},
    "dragmode": "zoom",
}
