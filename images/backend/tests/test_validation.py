"""Every parameter of /api/stock: what is accepted, and a 400 naming the problem for everything else."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stockapi_testing import ControlledProvider, build_app


@pytest.mark.parametrize(
    ("query", "code", "named"),
    [
        ("", "missing_parameter", "ticker"),
        ("ticker=", "missing_parameter", "ticker"),
        ("ticker=NV DA", "invalid_ticker", "ticker"),
        ("ticker=NVDA;rm", "invalid_ticker", "ticker"),
        ("ticker=" + "A" * 21, "invalid_ticker", "ticker"),
        ("ticker=..", "invalid_ticker", "ticker"),
        ("ticker=BRK--B", "invalid_ticker", "ticker"),
        ("ticker=EURUSD=Y", "invalid_ticker", "ticker"),
        ("ticker=%3Cscript%3E", "invalid_ticker", "ticker"),
        ("ticker=NVDA&start=2024-1-1", "invalid_date", "start"),
        ("ticker=NVDA&start=20240101", "invalid_date", "start"),
        ("ticker=NVDA&end=yesterday", "invalid_date", "end"),
        ("ticker=NVDA&start=2023-02-29", "invalid_date", "start"),
        ("ticker=NVDA&end=2024-13-01", "invalid_date", "end"),
        ("ticker=NVDA&start=1899-12-31", "invalid_range", "start"),
        ("ticker=NVDA&end=9999-12-31", "invalid_range", "end"),
        ("ticker=NVDA&start=2024-05-02&end=2024-05-01", "invalid_range", "start"),
        ("ticker=NVDA&interval=1h", "invalid_interval", "interval"),
        ("ticker=NVDA&interval=1D", "invalid_interval", "interval"),
        ("ticker=NVDA&period=1y", "unknown_parameter", "period"),
        ("ticker=NVDA&ticker=AMD", "repeated_parameter", "ticker"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(client, provider, query, code, named):
    response = client.get(f"/api/stock?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == code
    assert named in error["message"]
    assert provider.fetches == []  # bad input never reaches the data source


@pytest.mark.parametrize(
    ("given_ticker", "answered"),
    [
        ("NVDA", "NVDA"),
        ("brk-b", "BRK-B"),
        ("^GSPC", "^GSPC"),
        ("EURUSD=X", "EURUSD=X"),
        ("BTC-USD", "BTC-USD"),
        ("0700.HK", "0700.HK"),
        ("GC=F", "GC=F"),
        (" msft ", "MSFT"),
    ],
)
def test_yahoo_symbols_are_accepted_and_normalised(client, given_ticker, answered):
    query = urllib.parse.urlencode({"ticker": given_ticker, "start": "2025-01-02", "end": "2025-01-10"})
    response = client.get(f"/api/stock?{query}")
    assert response.status_code == 200
    assert response.get_json()["ticker"] == answered


def test_dates_default_to_the_year_up_to_today(client):
    body = client.get("/api/stock?ticker=NVDA").get_json()
    assert (body["start"], body["end"], body["interval"]) == ("2024-09-03", "2025-09-03", "1d")


def test_end_may_be_tomorrow_for_clients_east_of_utc(client):
    assert client.get("/api/stock?ticker=NVDA&start=2025-09-01&end=2025-09-04").status_code == 200


def test_end_is_inclusive(client):
    body = client.get("/api/stock?ticker=NVDA&start=2025-08-01&end=2025-08-01").get_json()
    assert body["prices"]["date"] == ["2025-08-01"]
    assert body["rows"] == 1


# One app for every generated example: hypothesis runs the test body many times per fixture.
_fuzz_client = build_app(ControlledProvider()).test_client()
_names = st.sampled_from(["ticker", "start", "end", "interval", "x", ""]) | st.text(max_size=8)
_values = st.sampled_from(["NVDA", "^GSPC", "2024-01-01", "2025-09-03", "1wk", ""]) | st.text(max_size=24)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_names, _values), max_size=5))
def test_random_parameters_never_give_a_5xx_or_non_json(pairs):
    response = _fuzz_client.get("/api/stock?" + urllib.parse.urlencode(pairs))
    _assert_clean(response)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=64))
def test_random_raw_query_strings_never_give_a_5xx_or_non_json(raw):
    # Raw bytes, percent-escaped so they reach the app as they are: bad UTF-8, stray '&' and '=', NULs.
    response = _fuzz_client.get("/api/stock?" + urllib.parse.quote_from_bytes(raw, safe="&=%"))
    _assert_clean(response)


def _assert_clean(response):
    assert response.status_code < 500, response.get_data()
    assert response.mimetype == "application/json"
    body = json.loads(response.get_data())
    if response.status_code != 200:
        assert set(body) == {"error"}
        assert set(body["error"]) == {"code", "message"}
