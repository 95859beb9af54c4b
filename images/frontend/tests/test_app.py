"""The page under Streamlit's AppTest, with the backend client replaced (see conftest.FakeBackend)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from streamlit.testing.v1 import AppTest

from stockui.client import (
    BackendUnreachableError,
    BadRequestError,
    NoDataError,
    UnknownTickerError,
    UpstreamUnavailableError,
)
from stockui.state import ViewState

TABS = (":material/show_chart: Chart", ":material/table: Data")


def figure(at: AppTest) -> go.Figure:
    (chart,) = at.get("plotly_chart")
    return pio.from_json(chart.proto.spec, skip_invalid=True)


def first_values(at: AppTest) -> list[float]:
    """The first y of every trace; Plotly sends arrays base64-encoded as {"dtype", "bdata"}."""
    firsts = []
    for trace in figure(at).data:
        y = trace.y
        if isinstance(y, dict):
            y = np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"])
        firsts.append(float(y[0]))
    return firsts


def open_data_tab(at: AppTest) -> None:
    """What clicking the Data tab does: the tabs' state changes and the page runs again."""
    at.session_state["tab"] = TABS[1]
    at.run()


def traces(at: AppTest) -> list[tuple[str, str]]:
    return [(trace.type, trace.name) for trace in figure(at).data]


def texts(elements) -> list[str]:
    return [element.value for element in elements]


def assert_clean(at: AppTest) -> None:
    assert not at.exception, at.exception[0].message if at.exception else ""


def test_one_ticker_draws_candles_moving_averages_and_volume(app, fake_backend):
    app.run()
    assert_clean(app)
    assert traces(app) == [
        ("candlestick", "NVDA"),
        ("scatter", "SMA 50"),
        ("scatter", "SMA 200"),
        ("bar", "Volume"),
    ]
    assert [metric.label for metric in app.metric] == [
        "Last close",
        "CAGR",
        "Volatility",
        "Max drawdown",
        "Bars",
    ]
    assert any(heading.value.startswith("NVDA  ·") for heading in app.main.subheader)
    assert not app.info, "no sample banner for Yahoo data"
    # The moving averages need earlier bars: one request, starting well before the year shown.
    ((ticker, start, end, interval),) = fake_backend.calls
    assert (ticker, end, interval) == ("NVDA", dt.date.today(), "1d")
    assert start < ViewState().date_range(dt.date.today())[0] - dt.timedelta(days=280)


def test_chart_options_change_the_traces_and_the_axis(app, fake_backend):
    app.run()
    app.segmented_control(key="chart").set_value("line")
    app.pills(key="moving_averages").set_value([20])
    app.toggle(key="log_scale").set_value(True)
    app.run()
    assert_clean(app)
    assert traces(app) == [("scatter", "NVDA"), ("scatter", "SMA 20"), ("bar", "Volume")]
    assert figure(app).layout.yaxis.type == "log"


def test_several_tickers_are_compared_normalised_with_a_table_of_figures(app, fake_backend):
    app.run()
    app.text_input(key="tickers").set_value("nvda, ^gspc BTC-USD").run()
    assert_clean(app)
    assert traces(app) == [("scatter", "NVDA"), ("scatter", "^GSPC"), ("scatter", "BTC-USD")]
    assert first_values(app) == pytest.approx([100, 100, 100])
    (figures_table,) = (table.value for table in app.dataframe)
    assert figures_table.index.tolist() == ["NVDA", "^GSPC", "BTC-USD"]
    assert {"change", "cagr", "volatility", "max_drawdown"} <= set(figures_table.columns)
    open_data_tab(app)
    data_table = app.dataframe[1].value
    assert data_table["ticker"].unique().tolist() == ["NVDA", "^GSPC", "BTC-USD"]
    assert isinstance(data_table["date"].iloc[0], dt.date)  # a date, not a midnight timestamp
    # Every number is shown with a fixed format: no column mixes 19.1% with 139.65%, or 65.859 with 64.5513.
    for table in app.dataframe:
        columns = json.loads(table.proto.columns)
        numeric = [name for name in table.value.select_dtypes("number").columns if name != "_index"]
        assert numeric
        assert all(columns[name]["type_config"].get("format") for name in numeric), columns
    assert json.loads(app.dataframe[0].proto.columns)["change"]["type_config"]["format"] == "%+.2f%%"
    assert figures_table.loc["NVDA", "change"] == pytest.approx(
        100 * (data_table[data_table["ticker"] == "NVDA"]["close"].iloc[-1] / data_table["close"].iloc[0] - 1)
    )
    assert app.query_params["tickers"] == "NVDA,^GSPC,BTC-USD"


def test_the_sample_data_banner(app, fake_backend):
    fake_backend.source = "sample"
    app.run()
    assert_clean(app)
    assert any("Sample data, not market data" in text for text in texts(app.info))


def test_an_invalid_ticker_is_refused_before_any_request(app, fake_backend):
    app.query_params["tickers"] = "NVDA,$$$"
    app.run()
    assert_clean(app)
    assert "Not a valid ticker symbol: ` $$$ `" in app.error[0].value
    assert fake_backend.calls == []
    assert not app.get("plotly_chart")


def test_an_unknown_ticker_is_named_and_the_others_still_drawn(app, fake_backend):
    fake_backend.errors["NOPE"] = UnknownTickerError("Yahoo Finance does not know the ticker NOPE.", "NOPE")
    app.query_params["tickers"] = "NVDA,NOPE,AAPL"
    app.run()
    assert_clean(app)
    assert texts(app.warning) == ["Yahoo Finance does not know the ticker NOPE."]
    assert [name for _, name in traces(app)] == ["NVDA", "AAPL"]


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (BadRequestError("The backend rejected the request: start: before 1900-01-01"), "error"),
        (UpstreamUnavailableError("Yahoo Finance is rate-limiting ... in about 30 s.", 30), "warning"),
        (NoDataError("NVDA has no prices from 2024-12-25 to 2024-12-25."), "warning"),
    ],
)
def test_each_backend_error_shows_its_message_and_no_chart(app, fake_backend, error, kind):
    fake_backend.errors["NVDA"] = error
    app.run()
    assert_clean(app)
    assert texts(getattr(app, kind)) == [str(error)]
    assert not app.get("plotly_chart")


def test_an_unreachable_backend_stops_the_page_with_the_url(app, fake_backend):
    fake_backend.errors["NVDA"] = BackendUnreachableError(
        "Cannot reach the stock backend at http://x:1.", "x"
    )
    app.query_params["tickers"] = "NVDA,AAPL"
    app.run()
    assert_clean(app)
    assert texts(app.error) == ["Cannot reach the stock backend at http://x:1."]
    assert [call[0] for call in fake_backend.calls] == ["NVDA"], "stops at the first unreachable answer"


@pytest.mark.parametrize(
    "error",
    [
        BackendUnreachableError("Cannot reach the stock backend at http://x:1.", "x"),
        RuntimeError("a bug in the page"),
    ],
)
def test_the_controls_stay_when_the_page_stops_early_or_fails(app, fake_backend, error):
    # The controls are drawn after the content; a run without them would drop the view's state.
    fake_backend.errors["NVDA"] = error
    app.run()
    assert app.text_input(key="tickers").value == "NVDA"
    app.text_input(key="tickers").set_value("AAPL").run()
    assert_clean(app)
    assert traces(app)[0] == ("candlestick", "AAPL")


def test_the_real_client_names_the_backend_url_it_could_not_reach(app, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("BACKEND_URL", url)
    app.run()
    assert_clean(app)
    assert f"Cannot reach the stock backend at {url}" in app.error[0].value


def test_errors_are_not_cached_so_the_next_run_retries(app, fake_backend):
    fake_backend.errors["NVDA"] = UpstreamUnavailableError("rate limited", 5)
    app.run()
    assert not app.get("plotly_chart")
    del fake_backend.errors["NVDA"]
    app.run()
    assert_clean(app)
    assert traces(app)[0] == ("candlestick", "NVDA")
    assert len(fake_backend.calls) == 2
    app.run()
    assert len(fake_backend.calls) == 2, "a successful answer is cached"


def test_a_link_reopens_its_view(app, fake_backend):
    app.query_params.update(
        {
            "tickers": "AAPL,MSFT",
            "period": "Custom",
            "start": "2020-01-01",
            "end": "2020-12-31",
            "interval": "1wk",
            "compare": "percent",
            "log_scale": "1",
        }
    )
    app.run()
    assert_clean(app)
    assert app.text_input(key="tickers").value == "AAPL,MSFT"
    assert app.segmented_control(key="compare").value == "percent"
    assert app.toggle(key="log_scale").value is True
    assert app.date_input(key="dates").value == (dt.date(2020, 1, 1), dt.date(2020, 12, 31))
    assert {call[1:] for call in fake_backend.calls} == {(dt.date(2020, 1, 1), dt.date(2020, 12, 31), "1wk")}
    assert first_values(app) == pytest.approx([0, 0])


def test_changing_the_view_writes_it_back_to_the_url(app, fake_backend):
    app.run()
    assert app.query_params == {}
    app.text_input(key="tickers").set_value("brk-b")
    app.segmented_control(key="period").set_value("5Y")
    app.segmented_control(key="interval").set_value("1mo")
    app.pills(key="moving_averages").set_value([20])
    app.run()
    assert_clean(app)
    written = dict(app.query_params)
    assert written == {"tickers": "BRK-B", "period": "5Y", "interval": "1mo", "moving_averages": "20"}
    # ... and that URL opens the same view in a new session.
    fresh = AppTest.from_file(app._script_path, default_timeout=30)
    fresh.query_params.update(written)
    fresh.run()
    assert_clean(fresh)
    assert traces(fresh) == traces(app)
    assert dict(fresh.query_params) == written


def test_a_broken_link_value_is_reported_and_ignored(app, fake_backend):
    app.query_params.update({"period": "2W", "interval": "1d"})
    app.run()
    assert_clean(app)
    assert any("period: ` 2W `" in toast.value for toast in app.toast)
    assert app.segmented_control(key="period").value == ViewState.period


def test_the_data_tab_is_built_only_when_opened(app, fake_backend):
    app.run()
    assert not app.dataframe
    assert not app.get("download_button")
    open_data_tab(app)
    assert_clean(app)
    (table,) = app.dataframe
    bars = next(metric for metric in app.metric if metric.label == "Bars")
    assert len(table.value) == int(bars.value.replace(",", "")), "every bar shown, one row each"
    (button,) = app.get("download_button")
    assert button.proto.label == "Download CSV"
    assert app.get("plotly_chart"), "the chart tab is still drawn"


def test_a_link_with_dates_outside_the_allowed_range_opens_the_default_period(app, fake_backend):
    app.query_params.update({"period": "Custom", "start": "2020-01-01", "end": "2999-01-01"})
    app.run()
    assert_clean(app)
    assert any("custom dates" in toast.value for toast in app.toast)
    assert app.segmented_control(key="period").value == ViewState.period
    assert traces(app)[0] == ("candlestick", "NVDA")


def test_a_long_daily_range_is_drawn_as_monthly_candles_and_the_page_says_so(app, fake_backend):
    app.query_params["period"] = "Max"
    app.run()
    assert_clean(app)
    assert traces(app)[0] == ("candlestick", "NVDA")
    assert any("so it draws monthly bars" in caption.value for caption in app.caption)
    assert len(figure(app).data[0].x) < 1300  # one candle a month since 1927
    bars = next(metric for metric in app.metric if metric.label == "Bars")
    assert int(bars.value.replace(",", "")) > 25_000, "the figures use every daily bar"
