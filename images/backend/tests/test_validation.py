"""Every parameter of /api/stock: what is accepted, and a 400 naming the problem for everything else."""

from __future__ import annotations

import io
import json
import logging
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stockapi_testing import ControlledProvider, build_app
from werkzeug.test import EnvironBuilder


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
        # Non-ASCII letters that str.upper() would turn into another, real symbol ("IBM", "SS").
        ("ticker=%C4%B1BM", "invalid_ticker", "ticker"),
        ("ticker=%C3%9F", "invalid_ticker", "ticker"),
        ("ticker=%EF%BD%8EVDA", "invalid_ticker", "ticker"),  # full-width n
        # Percent-encoded bytes that are not UTF-8.
        ("ticker=%E9", "invalid_ticker", "ticker"),
        ("ticker=NVDA&end=%FF", "invalid_date", "end"),
        ("%E9=NVDA", "unknown_parameter", "parameter name"),
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
    "digits",
    [
        "\uff12\uff10\uff12\uff14-\uff10\uff11-\uff10\uff12",  # full-width
        "\u0662\u0660\u0662\u0664-\u0660\u0661-\u0660\u0662",  # Arabic-Indic
        "2024-01-\u0660\u0662",  # mixed
    ],
)
def test_dates_with_non_ascii_digits_are_not_in_the_date_format(client, digits):
    response = client.get("/api/stock?" + urllib.parse.urlencode({"ticker": "NVDA", "start": digits}))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_date"
    assert "YYYY-MM-DD" in error["message"]


def call_wsgi(app, path: str, raw_query: bytes) -> tuple[int, dict[str, str], bytes]:
    """Drive the app as gunicorn does: the query string's bytes, as they arrived, decoded as latin-1."""
    environ = EnvironBuilder(path=path).get_environ()
    environ["QUERY_STRING"] = raw_query.decode("latin-1")
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, dict(headers)

    body = b"".join(app(environ, start_response))
    return int(answer["status"].split()[0]), answer["headers"], body


class ErrorRecords(logging.Handler):
    """Collects the log records at error level or above that the app writes while it is attached."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> ErrorRecords:
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *_exc: object) -> None:
        logging.getLogger().removeHandler(self)


@pytest.mark.parametrize(
    ("raw", "code", "named"),
    [
        (b"ticker=\xe9", "invalid_ticker", "'ticker'"),
        (b"ticker=NV\xc3DA", "invalid_ticker", "'ticker'"),
        (b"ticker=NVDA&start=2024-01-0\xff", "invalid_date", "'start'"),
        (b"ticker=NVDA&interval=1\xe9", "invalid_interval", "'interval'"),
        (b"\xe9=NVDA", "unknown_parameter", "parameter name"),
        (b"ticker=NVDA&\xe9", "unknown_parameter", "parameter name"),
        (b"tick\xe9r=NVDA", "unknown_parameter", "parameter name"),
    ],
)
def test_raw_bytes_that_are_not_utf8_are_a_400_naming_the_parameter(app, provider, raw, code, named):
    with ErrorRecords() as errors:
        status, headers, body = call_wsgi(app, "/api/stock", raw)
    assert status == 400, body
    assert headers["Content-Type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == code
    assert named in error["message"]
    assert "not UTF-8" in error["message"]
    assert errors.records == []
    assert provider.fetches == []


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


_PATHS = ["/api/stock", "/api/openapi.json", "/healthz", "/readyz", "/metrics", "/api/other"]
_raw_app = build_app(ControlledProvider())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_PATHS),
    st.lists(
        st.binary(max_size=24) | st.sampled_from([b"ticker=NVDA", b"start=2024-01-02", b"ticker=", b"\xe9"]),
        max_size=4,
    ).map(b"&".join),
)
def test_raw_query_bytes_never_give_a_5xx_or_a_logged_error_anywhere(path, raw):
    """Any bytes at all in the query string, unescaped, as a server passes them to the WSGI app."""
    with ErrorRecords() as errors:
        status, headers, body = call_wsgi(_raw_app, path, raw)
    assert status < 500, body
    assert errors.records == [], [record.getMessage() for record in errors.records]
    if path == "/metrics":
        return  # Prometheus text, not JSON
    assert headers["Content-Type"] == "application/json"
    document = json.load(io.BytesIO(body))
    if status != 200:
        assert set(document) == {"error"}
        assert set(document["error"]) == {"code", "message"}


def _assert_clean(response):
    assert response.status_code < 500, response.get_data()
    assert response.mimetype == "application/json"
    body = json.loads(response.get_data())
    if response.status_code != 200:
        assert set(body) == {"error"}
        assert set(body["error"]) == {"code", "message"}
