"""Stock dashboard: one ticker as candles with volume and moving averages, several as a normalised comparison.

A Streamlit script. Everything it computes lives in `stockui` (tested without Streamlit); this page reads the
view from the widgets' state, draws the content (or only a clear message when there is nothing to draw), then
the widgets, and keeps the view in the URL's query parameters so a link reopens it. Run it with `streamlit run
app.py` (or `make frontend`).
"""

from __future__ import annotations

import datetime as dt
import functools

import pandas as pd
import streamlit as st

from stockui import analytics, charts
from stockui.cache import FIGURES, HISTORIES
from stockui.cache import TTL as CACHE_TTL
from stockui.client import (
    BackendClient,
    BackendError,
    BackendUnreachableError,
    BadRequestError,
    NoDataError,
    PriceHistory,
    UnknownTickerError,
    UpstreamUnavailableError,
)
from stockui.heap import freeze_startup_heap
from stockui.state import (
    CHART_KINDS,
    COMPARE_MODES,
    EARLIEST,
    INTERVALS,
    MOVING_AVERAGES,
    PERIODS,
    TICKER_EXAMPLES,
    TickerError,
    ViewState,
    parse_tickers,
)
from stockui.text import escape

# Once per process: the imports' objects out of the full collection Streamlit runs after every script run.
freeze_startup_heap()

TABS = (":material/show_chart: Chart", ":material/table: Data")

st.set_page_config(page_title="Stock dashboard", page_icon=":material/candlestick_chart:", layout="wide")


@st.cache_resource
def backend() -> BackendClient:
    return BackendClient.from_env()


def load_history(ticker: str, start: dt.date, end: dt.date, interval: str) -> PriceHistory:
    # Shared by all sessions and bounded in bytes (stockui/cache.py says why this is not st.cache_data).
    return HISTORIES.get(backend().history, ticker, start, end, interval)


def data_version(histories: dict[str, PriceHistory]) -> tuple:
    """Which bars a figure is drawn from: per ticker its interval, first and last bar and last close."""
    return tuple(
        (
            ticker,
            h.interval,
            len(h.prices),
            h.prices.index[0],
            h.prices.index[-1],
            float(h.prices["close"].iat[-1]),
        )
        for ticker, h in histories.items()
    )


def prices_csv(
    client: BackendClient,
    tickers: tuple[str, ...],
    fetch_start: dt.date,
    start: dt.date,
    end: dt.date,
    interval: str,
) -> str:
    """The Data tab's table as CSV, made when someone clicks Download.

    Streamlit keeps a download's callable as long as its session lives (and two minutes after the tab
    closes), so it holds only these few values, never a frame: the bars come from the shared cache again.
    """
    shown = {
        ticker: HISTORIES.get(client.history, ticker, fetch_start, end, interval).prices.loc[
            pd.Timestamp(start) :
        ]
        for ticker in tickers
    }
    return analytics.prices_table(shown).to_csv(index=False, date_format="%Y-%m-%d")


today = dt.date.today()

# --- State: the URL seeds the widgets once per session; afterwards the widgets own it.
if "seeded" not in st.session_state:
    seed, link_problems = ViewState.from_query(st.query_params.to_dict(), today)
    for key, value in seed.widget_values(today).items():
        st.session_state[key] = value
    st.session_state.seeded = True
    for problem in link_problems:
        # Long enough to read; the message shows the link's value as a literal (stockui.text).
        st.toast(problem, icon=":material/link_off:", duration="long")

# --- The view, from the widgets' state (seeded from the URL above, then sent by the browser on each change).
# The widgets are drawn after the page's content (at the end): a browser that gets the chart first draws it
# first, instead of after the sidebar's controls, which the first chart does not need.
period = st.session_state.period
if period != "Custom":
    # Show the preset's range; switching to Custom then starts from it.
    st.session_state.dates = ViewState(period=period).date_range(today)
dates = st.session_state.dates
interval = st.session_state.interval
try:
    tickers, ticker_error = parse_tickers(st.session_state.tickers), None
except TickerError as error:
    tickers, ticker_error = (), error

custom_range = period == "Custom" and len(dates) == 2
view = ViewState(
    tickers=",".join(tickers) or st.session_state.tickers,
    period=period,
    start=dates[0] if custom_range else None,
    end=dates[1] if custom_range else None,
    interval=interval,
    chart=st.session_state.chart,
    moving_averages=tuple(sorted(st.session_state.moving_averages)),
    log_scale=st.session_state.log_scale,
    compare=st.session_state.compare,
)
if st.query_params.to_dict() != view.to_query():
    st.query_params.from_dict(view.to_query())


def draw_page() -> None:
    """Everything in the main area; returns early, with a message, whenever there is nothing to draw."""
    # --- Guards: a message, and nothing more, whenever there is nothing sensible to draw.
    if ticker_error:
        st.error(str(ticker_error), icon=":material/edit:")
        return
    if period == "Custom" and len(dates) != 2:
        st.info("Pick the end date of the range.", icon=":material/date_range:")
        return
    start, end = view.date_range(today)
    # One ticker with moving averages: fetch earlier bars too, so each average is defined from the first bar.
    fetch_start = start
    if len(tickers) == 1 and view.moving_averages:
        fetch_start = max(EARLIEST, analytics.warmup_start(start, max(view.moving_averages), interval))

    histories: dict[str, PriceHistory] = {}
    # Tickers passed parse_tickers' pattern, but every outside value goes through escape() all the same.
    with st.spinner(f"Loading {escape(', '.join(tickers))} ..."):
        for ticker in tickers:
            try:
                histories[ticker] = load_history(ticker, fetch_start, end, interval)
            except BackendUnreachableError as error:
                st.error(str(error), icon=":material/cloud_off:")
                return
            except UnknownTickerError as error:
                st.warning(str(error), icon=":material/search_off:")
            except NoDataError as error:
                st.warning(str(error), icon=":material/event_busy:")
            except UpstreamUnavailableError as error:
                st.warning(str(error), icon=":material/hourglass_top:")
            except BadRequestError as error:
                st.error(str(error), icon=":material/edit:")
            except BackendError as error:
                st.error(str(error), icon=":material/error:")
    shown = {ticker: history.prices.loc[pd.Timestamp(start) :] for ticker, history in histories.items()}
    for ticker, prices in list(shown.items()):
        if prices.empty:
            st.warning(
                f"{escape(ticker)} has no prices between {start} and {end}.", icon=":material/event_busy:"
            )
            del shown[ticker]
    if not shown:
        return

    if any(histories[ticker].is_sample for ticker in shown):
        st.info(
            "**Sample data, not market data.** The backend could not reach Yahoo Finance (or runs with "
            "`STOCK_DATA_SOURCE=sample`) and serves deterministic synthetic prices so the app works offline.",
            icon=":material/science:",
        )

    # --- Figures and chart
    stats = [analytics.ticker_figures(ticker, prices["close"], interval) for ticker, prices in shown.items()]
    # The Data tab is built only when someone opens it (a rerun): the whole table and its download are most of
    # what a page sends and draws beyond the chart, and most visitors never look at them.
    chart_tab, data_tab = st.tabs(TABS, key="tab", on_change="rerun")
    with chart_tab:
        if len(shown) == 1:
            ticker, (one,) = next(iter(shown)), stats
            st.subheader(
                f"{escape(ticker)}  ·  {one.first_date:%d %b %Y} to {one.last_date:%d %b %Y}", anchor=False
            )
            columns = st.columns(5)
            columns[0].metric("Last close", f"{one.last_close:,.2f}", f"{one.change:+.2%}", border=True)
            columns[1].metric("CAGR", f"{one.cagr:+.2%}", border=True, help="Compound annual growth rate")
            columns[2].metric(
                "Volatility", f"{one.volatility:.1%}", border=True, help="Annualised std. dev. of log returns"
            )
            columns[3].metric(
                "Max drawdown",
                f"{one.max_drawdown:.1%}",
                border=True,
                help="Deepest fall from a running peak",
            )
            columns[4].metric("Bars", f"{len(shown[ticker]):,}", border=True, help=INTERVALS[interval])
            draw_interval = charts.drawable_interval(shown[ticker], interval)
            if draw_interval != interval:
                st.caption(
                    f":material/info: {len(shown[ticker]):,} {INTERVALS[interval].lower()} bars are more "
                    f"than a chart can show one by one, so it draws {INTERVALS[draw_interval].lower()} bars; "
                    "the figures above use every bar."
                )
            figure = FIGURES.get(
                lambda *_: charts.price_figure(
                    histories[ticker].prices,
                    ticker,
                    interval=interval,
                    draw_interval=draw_interval,
                    kind=view.chart,
                    moving_averages=view.moving_averages,
                    log_scale=view.log_scale,
                    visible_from=pd.Timestamp(start),
                ),
                # Everything the figure is drawn from: the view, and which bars (new bars make a new figure).
                "price",
                data_version({ticker: histories[ticker]}),
                interval,
                draw_interval,
                view.chart,
                view.moving_averages,
                view.log_scale,
                start,
            )
        else:
            st.subheader(f"{escape(' vs '.join(shown))}  ·  {start:%d %b %Y} to {end:%d %b %Y}", anchor=False)
            figure = FIGURES.get(
                lambda *_: charts.comparison_figure(
                    {ticker: prices["close"] for ticker, prices in shown.items()},
                    mode=view.compare,
                    log_scale=view.log_scale,
                ),
                "comparison",
                data_version({ticker: histories[ticker] for ticker in shown}),
                view.compare,
                view.log_scale,
                start,
            )
        st.plotly_chart(figure, config={"displaylogo": False})
        if len(shown) > 1:
            st.dataframe(
                analytics.figures_table(stats),
                column_config={
                    "last_close": st.column_config.NumberColumn("Last close", format="%.2f"),
                    # Percent, with the single-ticker metrics' precision.
                    "change": st.column_config.NumberColumn("Change", format="%+.2f%%"),
                    "cagr": st.column_config.NumberColumn("CAGR", format="%+.2f%%"),
                    "volatility": st.column_config.NumberColumn("Volatility (ann.)", format="%.1f%%"),
                    "max_drawdown": st.column_config.NumberColumn("Max drawdown", format="%.1f%%"),
                    "first_date": st.column_config.DateColumn("From"),
                    "last_date": st.column_config.DateColumn("To"),
                    "_index": st.column_config.TextColumn("Ticker"),
                },
            )

    with data_tab:
        if data_tab.open:
            table = analytics.prices_table(shown)
            price_format = f"%.{analytics.price_decimals(table)}f"
            st.dataframe(
                table,
                hide_index=True,
                height=420,
                # Sent whole, never kept: a lazy table would keep each session's copy on the server.
                lazy=False,
                column_config={
                    "ticker": st.column_config.TextColumn("Ticker"),
                    "date": st.column_config.DateColumn("Date", format="YYYY-MM-DD"),
                    **{
                        column: st.column_config.NumberColumn(column.title(), format=price_format)
                        for column in ("open", "high", "low", "close")
                    },
                    "volume": st.column_config.NumberColumn("Volume", format="localized"),
                },
            )
            st.download_button(
                "Download CSV",
                # Made when clicked, not on every run: a session keeps no CSV and no table for it in memory.
                functools.partial(prices_csv, backend(), tuple(shown), fetch_start, start, end, interval),
                file_name=f"{'_'.join(shown)}_{start}_{end}_{interval}.csv".replace("^", ""),
                mime="text/csv",
                icon=":material/download:",
                on_click="ignore",
            )

    sources = sorted({histories[ticker].source for ticker in shown})
    st.caption(
        f"Source: {', '.join(sources)}, via the backend at {backend().base_url}. Prices are adjusted for "
        f"splits and dividends. Answers are cached for {CACHE_TTL.seconds // 60} minutes."
    )


def draw_controls() -> None:
    """The sidebar's widgets, after the content (see above)."""
    with st.sidebar:
        st.title(":material/candlestick_chart: Stocks")
        st.text_input(
            "Tickers",
            key="tickers",
            placeholder="NVDA, AAPL, ^GSPC",
            help=f"One symbol, or up to 8 separated by commas to compare them. Yahoo symbols: "
            f"{', '.join(TICKER_EXAMPLES)}.",
        )
        st.segmented_control("Period", PERIODS, key="period", required=True)
        st.date_input(
            "Dates",
            key="dates",
            min_value=EARLIEST,
            max_value=today,
            format="YYYY-MM-DD",
            disabled=period != "Custom",
        )
        st.segmented_control(
            "Interval", list(INTERVALS), format_func=INTERVALS.get, key="interval", required=True
        )

        st.subheader("Chart", divider="gray")
        if len(tickers) > 1:
            st.segmented_control(
                "Compare as",
                list(COMPARE_MODES),
                format_func=COMPARE_MODES.get,
                key="compare",
                required=True,
                persist_state="page",
            )
        else:
            st.segmented_control(
                "Style",
                list(CHART_KINDS),
                format_func=CHART_KINDS.get,
                key="chart",
                required=True,
                persist_state="page",
            )
            st.pills(
                "Moving averages",
                MOVING_AVERAGES,
                selection_mode="multi",
                format_func=lambda window: f"SMA {window}",
                key="moving_averages",
                persist_state="page",
            )
        st.toggle(
            "Log scale",
            key="log_scale",
            disabled=len(tickers) > 1 and st.session_state.compare == "percent",
            help="Equal percentage moves look equal. Not for a % change, which crosses zero.",
        )


try:
    draw_page()
finally:
    # On every run, also when the page has nothing to draw or failed: a run that does not draw a widget drops
    # its state, and the next run would find no view to read.
    draw_controls()
