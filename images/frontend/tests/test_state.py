"""Ticker parsing, period presets and the query-parameter round trip of the view."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockui.state import (
    CHART_KINDS,
    COMPARE_MODES,
    EARLIEST,
    INTERVALS,
    MAX_TICKERS,
    MOVING_AVERAGES,
    PERIODS,
    TICKER_EXAMPLES,
    TickerError,
    ViewState,
    parse_tickers,
    period_range,
)

TODAY = dt.date(2025, 3, 31)


@pytest.mark.parametrize("symbol", [*TICKER_EXAMPLES, "0700.HK", "ES=F", "BRK.B"])
def test_the_documented_examples_are_valid_tickers(symbol):
    assert parse_tickers(symbol) == (symbol,)


def test_tickers_are_upper_cased_split_and_deduplicated_in_order():
    assert parse_tickers(" nvda, AAPL ;^gspc  nvda\n") == ("NVDA", "AAPL", "^GSPC")


@pytest.mark.parametrize("text", ["NV DA$", "<script>", "A..B", "-A", "EURUSD=Y", "A" * 21, "^"])
def test_invalid_symbols_are_named_in_the_error(text):
    with pytest.raises(TickerError, match="Not a valid ticker symbol") as error:
        parse_tickers(f"NVDA, {text}")
    assert "NVDA" not in str(error.value).split(":")[1].split(".")[0]


def test_no_ticker_and_too_many_tickers_are_errors():
    with pytest.raises(TickerError, match="at least one ticker"):
        parse_tickers(" , ")
    with pytest.raises(TickerError, match=f"at most {MAX_TICKERS}"):
        parse_tickers(",".join(f"T{number}" for number in range(MAX_TICKERS + 1)))


@pytest.mark.parametrize(
    ("period", "start"),
    [
        ("1M", dt.date(2025, 2, 28)),  # one month before 31 March is the end of February
        ("6M", dt.date(2024, 9, 30)),
        ("YTD", dt.date(2025, 1, 1)),
        ("1Y", dt.date(2024, 3, 31)),
        ("5Y", dt.date(2020, 3, 31)),
        ("10Y", dt.date(2015, 3, 31)),
        ("Max", EARLIEST),
    ],
)
def test_preset_periods_end_today(period, start):
    assert period_range(period, TODAY) == (start, TODAY)


def test_custom_is_not_a_preset():
    with pytest.raises(ValueError, match="not a preset"):
        period_range("Custom", dt.date(2025, 1, 1))


def test_the_default_view_has_an_empty_query():
    assert ViewState().to_query() == {}
    assert ViewState.from_query({}, TODAY) == (ViewState(), [])


def test_custom_dates_are_only_written_for_a_custom_period():
    state = ViewState(period="5Y", start=dt.date(2020, 1, 1), end=dt.date(2021, 1, 1))
    assert state.to_query() == {"period": "5Y"}
    custom = ViewState(period="Custom", start=dt.date(2020, 1, 1), end=dt.date(2021, 1, 1))
    assert custom.to_query() == {"period": "Custom", "start": "2020-01-01", "end": "2021-01-01"}
    assert custom.date_range(dt.date(2025, 1, 1)) == (dt.date(2020, 1, 1), dt.date(2021, 1, 1))


def test_nonsense_in_a_link_falls_back_to_defaults_and_is_reported():
    state, problems = ViewState.from_query(
        {"period": "2W", "interval": "1h", "log_scale": "yes", "moving_averages": "20,33", "tickers": "aapl"},
        TODAY,
    )
    assert state == ViewState(tickers="AAPL")
    assert len(problems) == 4
    assert problems[0] == "Ignored the link's period: ` 2W ` is not a valid value."


@pytest.mark.parametrize(
    ("start", "end"),
    [("2021-01-01", "2020-01-01"), ("1900-01-01", "2020-01-01"), ("2024-01-01", "2025-04-01"), ("", "")],
)
def test_a_custom_period_without_valid_dates_is_reported(start, end):
    query = {"period": "Custom", "start": start, "end": end}
    state, problems = ViewState.from_query({k: v for k, v in query.items() if v}, TODAY)
    assert (state.period, state.start, state.end) == (ViewState.period, None, None)
    assert problems[-1].startswith("Ignored the link's custom dates: they must satisfy 1927-01-01 <= start")


dates = st.dates(min_value=EARLIEST, max_value=TODAY)
views = st.builds(
    ViewState,
    tickers=st.lists(st.sampled_from(TICKER_EXAMPLES), min_size=1, max_size=4, unique=True).map(",".join),
    period=st.sampled_from(PERIODS),
    start=dates,
    end=dates,
    interval=st.sampled_from(list(INTERVALS)),
    chart=st.sampled_from(list(CHART_KINDS)),
    moving_averages=st.lists(st.sampled_from(MOVING_AVERAGES), unique=True).map(lambda w: tuple(sorted(w))),
    log_scale=st.booleans(),
    compare=st.sampled_from(list(COMPARE_MODES)),
).filter(lambda view: view.start <= view.end)


@given(views)
def test_every_view_survives_the_round_trip_through_the_url(view):
    parsed, problems = ViewState.from_query(view.to_query(), TODAY)
    assert problems == []
    if view.period != "Custom":
        # A preset's range is recomputed from today, so its dates are not part of the link.
        view = ViewState(**{**view.__dict__, "start": None, "end": None})
    assert parsed == view


def test_widget_values_hold_the_range_as_dates_and_lists_for_multi_selections():
    custom = ViewState(period="Custom", start=dt.date(2020, 1, 1), end=dt.date(2021, 1, 1))
    values = custom.widget_values(TODAY)
    assert values["dates"] == (dt.date(2020, 1, 1), dt.date(2021, 1, 1))
    assert values["moving_averages"] == [50, 200]
    assert "start" not in values
    assert values.keys() == {
        "tickers",
        "period",
        "dates",
        "interval",
        "chart",
        "moving_averages",
        "log_scale",
        "compare",
    }
    assert ViewState(period="YTD").widget_values(TODAY)["dates"] == (dt.date(2025, 1, 1), TODAY)
