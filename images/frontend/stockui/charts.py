"""Plotly figures for the page. Pure: data in, `go.Figure` out; the page only hands them to Streamlit.

Traces are SVG (`go.Scatter`, not `Scattergl`) so the chart renders the same in a GPU-less headless browser.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from stockui import analytics

UP_COLOUR = "#26a69a"
DOWN_COLOUR = "#ef5350"
MA_COLOURS = {20: "#f9a825", 50: "#1e88e5", 200: "#8e24aa"}
# Plotly's default qualitative palette, readable on light and dark themes.
# Beyond this many bars a price chart is unreadable (several bars per pixel) and slow to draw as SVG (seconds
# per ten thousand bars), so long daily ranges are drawn as weekly or monthly bars.
MAX_DRAWN_BARS = 2000
COARSER = {"1d": ("1wk", "1mo"), "1wk": ("1mo",), "1mo": ()}
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
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.03, row_heights=[0.78, 0.22])
    if kind == "candlestick":
        fig.add_trace(
            go.Candlestick(
                x=prices.index,
                open=prices["open"],
                high=prices["high"],
                low=prices["low"],
                close=prices["close"],
                name=ticker,
                increasing_line_color=UP_COLOUR,
                decreasing_line_color=DOWN_COLOUR,
            ),
            row=1,
            col=1,
        )
    elif kind == "line":
        fig.add_trace(
            go.Scatter(x=prices.index, y=prices["close"], name=ticker, mode="lines", line={"width": 1.6}),
            row=1,
            col=1,
        )
    else:
        raise ValueError(f"unknown chart kind: {kind!r}")
    for window, average in averages.items():
        fig.add_trace(
            go.Scatter(
                x=average.index,
                y=average,
                name=f"SMA {window}",
                mode="lines",
                line={"width": 1.2, "color": MA_COLOURS.get(window)},
            ),
            row=1,
            col=1,
        )
    rising = (prices["close"] >= prices["open"]).to_numpy()
    fig.add_trace(
        go.Bar(
            x=prices.index,
            y=prices["volume"],
            name="Volume",
            marker={"color": [UP_COLOUR if up else DOWN_COLOUR for up in rising], "line": {"width": 0}},
            opacity=0.6,
            showlegend=False,
        ),
        row=2,
        col=1,
    )
    fig.update_xaxes(rangebreaks=rangebreaks(prices.index, interval), showspikes=True, spikemode="across")
    # The range slider duplicates the chart and steals height; box-zoom and the mouse wheel are enough.
    fig.update_xaxes(rangeslider_visible=False)
    fig.update_yaxes(title_text="Price", type="log" if log_scale else "linear", row=1, col=1)
    fig.update_yaxes(title_text="Volume", row=2, col=1)
    return _layout(fig, height=580)


def comparison_figure(
    closes: dict[str, pd.Series], *, mode: str = "index", log_scale: bool = False
) -> go.Figure:
    """All tickers rebased to their first close in the period, on one axis."""
    fig = go.Figure()
    for number, (ticker, close) in enumerate(closes.items()):
        rebased = analytics.normalise(close, mode)
        fig.add_trace(
            go.Scatter(
                x=rebased.index,
                y=rebased,
                name=ticker,
                mode="lines",
                line={"width": 1.8, "color": SERIES_COLOURS[number % len(SERIES_COLOURS)]},
                hovertemplate=f"{ticker}: %{{y:.2f}}{'%' if mode == 'percent' else ''}<extra></extra>",
            )
        )
    baseline = 100 if mode == "index" else 0
    fig.add_hline(y=baseline, line={"width": 1, "dash": "dot", "color": "grey"})
    # A log axis needs positive values: it only makes sense for the index (a % change crosses zero).
    use_log = log_scale and mode == "index"
    fig.update_yaxes(
        title_text="Index (start = 100)" if mode == "index" else "Change since start (%)",
        type="log" if use_log else "linear",
        ticksuffix="%" if mode == "percent" else "",
    )
    return _layout(fig, height=560)


def _layout(fig: go.Figure, *, height: int) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        hovermode="x unified",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.01, "xanchor": "left", "x": 0},
        dragmode="zoom",
    )
    return fig
