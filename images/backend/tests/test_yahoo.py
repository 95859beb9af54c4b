"""The Yahoo provider against frames and exceptions shaped exactly like yfinance 1.7's."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import yfinance as yf
import yfinance.cache
from curl_cffi.requests.exceptions import DNSError
from stockapi_testing import BACKEND
from yfinance.exceptions import YFPricesMissingError, YFRateLimitError, YFTzMissingError

from stockapi.errors import NotFoundError, UpstreamUnavailableError
from stockapi.providers import yahoo
from stockapi.providers.base import round_significant
from stockapi.validation import StockQuery

QUERY = StockQuery("NVDA", dt.date(2024, 1, 2), dt.date(2024, 1, 5))


def history_frame(days: list[str], tz: str = "America/New_York") -> pd.DataFrame:
    """What `Ticker.history(auto_adjust=True)` returns: bars at local midnight, index named Date."""
    index = pd.DatetimeIndex(pd.to_datetime(days), name="Date").tz_localize(tz)
    n = len(days)
    close = np.linspace(48.1234567, 49.7654321, n)
    return pd.DataFrame(
        {
            "Open": close - 0.5,
            "High": close + 1.0,
            "Low": close - 1.0,
            "Close": close,
            "Volume": np.arange(1, n + 1, dtype=np.int64) * 1_000_000,
            "Dividends": 0.0,
            "Stock Splits": 0.0,
        },
        index=index,
    )


class FakeTicker:
    calls: ClassVar[list[tuple[str, dict]]] = []
    answer: pd.DataFrame | BaseException = pd.DataFrame()

    # Required: the provider must hand yfinance its own session (see test_a_fetch_under_gevent_...).
    def __init__(self, ticker: str, *, session) -> None:
        self.ticker = ticker

    def history(self, **kwargs):
        FakeTicker.calls.append((self.ticker, kwargs))
        if isinstance(FakeTicker.answer, BaseException):
            raise FakeTicker.answer
        return FakeTicker.answer


@pytest.fixture
def provider(monkeypatch, tmp_path):
    FakeTicker.calls = []
    monkeypatch.setattr(yf, "Ticker", FakeTicker)
    return yahoo.YahooProvider(cache_dir=tmp_path / "yf")


def test_frames_become_prices_with_inclusive_end(provider):
    FakeTicker.answer = history_frame(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"])
    prices = provider.fetch(QUERY)
    assert prices.source == "yahoo"
    assert prices.date == ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]
    assert prices.close[0] == 48.1235  # six significant digits
    assert prices.volume.tolist() == [1_000_000, 2_000_000, 3_000_000, 4_000_000]
    ((ticker, kwargs),) = FakeTicker.calls
    assert ticker == "NVDA"
    # yfinance's end is exclusive, so the day after the API's inclusive end is asked for.
    assert (kwargs["start"], kwargs["end"]) == ("2024-01-02", "2024-01-06")
    assert kwargs["auto_adjust"] is True
    assert kwargs["interval"] == "1d"


def test_dates_are_the_exchange_local_trading_days(provider):
    # Tokyo's midnight is the previous day in UTC; the bar still belongs to its local date.
    FakeTicker.answer = history_frame(["2024-01-04", "2024-01-05"], tz="Asia/Tokyo")
    assert provider.fetch(QUERY).date == ["2024-01-04", "2024-01-05"]


def test_rows_without_prices_and_rows_after_end_are_dropped(provider):
    frame = history_frame(["2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"])
    frame.iloc[1, frame.columns.get_loc("Close")] = np.nan
    frame.iloc[2, frame.columns.get_loc("Volume")] = 0
    FakeTicker.answer = frame
    prices = provider.fetch(QUERY)
    assert prices.date == ["2024-01-03", "2024-01-05"]
    assert prices.volume.tolist() == [1_000_000, 0]


@pytest.mark.parametrize(
    ("raised", "expected", "code"),
    [
        (YFTzMissingError("NOPE"), NotFoundError, "unknown_ticker"),
        (YFPricesMissingError("NVDA", "(1d 2024-01-02 -> 2024-01-06)"), NotFoundError, "no_data"),
        (YFRateLimitError(), UpstreamUnavailableError, "upstream_unavailable"),
        (
            DNSError("Could not resolve host: query2.finance.yahoo.com"),
            UpstreamUnavailableError,
            "upstream_unavailable",
        ),
        (TimeoutError("timed out"), UpstreamUnavailableError, "upstream_unavailable"),
        (KeyError("chart"), UpstreamUnavailableError, "upstream_unavailable"),
    ],
)
def test_yfinance_exceptions_map_onto_api_errors(provider, raised, expected, code):
    FakeTicker.answer = raised
    with pytest.raises(expected) as caught:
        provider.fetch(QUERY)
    assert caught.value.code == code


def test_rate_limit_asks_clients_to_wait_a_minute(provider):
    FakeTicker.answer = YFRateLimitError()
    with pytest.raises(UpstreamUnavailableError) as caught:
        provider.fetch(QUERY)
    assert caught.value.retry_after == yahoo.RATE_LIMIT_BACKOFF_S
    assert "rate-limiting" in caught.value.message


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame(),  # what yfinance returns when it hides an error
        history_frame([]),
        history_frame(["2024-01-08"]),  # only a bar after the range
    ],
)
def test_empty_frames_are_no_data(provider, frame):
    FakeTicker.answer = frame
    with pytest.raises(NotFoundError) as caught:
        provider.fetch(QUERY)
    assert caught.value.code == "no_data"
    assert "NVDA" in caught.value.message


def test_yfinance_caches_go_to_the_given_directory_and_errors_are_raised(provider, tmp_path):
    assert yfinance.cache._TzDBManager.get_location() == str(tmp_path / "yf")
    assert (tmp_path / "yf").is_dir()
    assert yf.config.debug.hide_exceptions is False


@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Tokyo", "Europe/London"])
def test_a_long_frame_gives_what_formatting_each_row_gave(tz):
    """25 years of daily bars: the vectorised conversion against the row-by-row strftime it replaced."""
    days = pd.bdate_range("2000-01-03", "2025-08-04").strftime("%Y-%m-%d").tolist()
    frame = history_frame(days, tz=tz)
    frame.iloc[::97, frame.columns.get_loc("Close")] = np.nan
    query = StockQuery("NVDA", dt.date(2000, 1, 3), dt.date(2025, 8, 1))
    prices = yahoo.prices_from_frame(frame, query)
    complete = frame.dropna(subset=yahoo.COLUMNS)
    expected = complete[complete.index.strftime("%Y-%m-%d") <= "2025-08-01"]
    assert prices.date == expected.index.strftime("%Y-%m-%d").tolist()
    assert prices.close.tolist() == round_significant(expected["Close"].to_numpy()).tolist()
    assert prices.volume.tolist() == expected["Volume"].tolist()


# Run in a child process, because gevent's monkey-patching cannot be undone in the test process.
COOPERATIVE_FETCH = """
from gevent import monkey

monkey.patch_all()

import sys
import urllib.request

import gevent

from stockapi.providers.yahoo import http_session

base = sys.argv[1]
fetch = gevent.spawn(http_session().get, base + "/held", timeout=5)
release = gevent.spawn(urllib.request.urlopen, base + "/release", timeout=5)
print(fetch.get().status_code, release.get().status)
"""


def test_a_fetch_under_gevent_lets_the_workers_other_requests_run(tmp_path):
    """The server answers /held only after /release has arrived. Under gunicorn's gevent worker a Yahoo fetch
    must yield to the worker's other greenlets; a blocking libcurl call would keep /release from ever being
    sent, and the fetch would time out."""
    released = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/release":
                released.set()
            else:
                released.wait(timeout=10)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        result = subprocess.run(
            [sys.executable, "-c", COOPERATIVE_FETCH, f"http://127.0.0.1:{server.server_port}"],
            cwd=BACKEND,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(BACKEND)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["200", "200"]
