"""The backend client against a real HTTP server on loopback that answers as the contract says."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from stockui.client import (
    BackendClient,
    BackendUnreachableError,
    BadRequestError,
    NoDataError,
    UnexpectedResponseError,
    UnknownTickerError,
    UpstreamUnavailableError,
)

START, END = dt.date(2024, 1, 2), dt.date(2024, 1, 4)
PRICES = {
    "date": ["2024-01-02", "2024-01-03", "2024-01-04"],
    "open": [10.0, 11.0, 12.0],
    "high": [11.0, 12.0, 13.0],
    "low": [9.5, 10.5, 11.5],
    "close": [10.5, 11.5, 12.5],
    "volume": [100, 200, 300],
}
OK = {"ticker": "NVDA", "start": "2024-01-02", "end": "2024-01-04", "interval": "1d", "source": "yahoo",
      "rows": 3, "prices": PRICES}  # fmt: skip


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


class FakeServer(ThreadingHTTPServer):
    """Answers every request with the next (status, headers, body) in `answers`; records the queries."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.answers: list[tuple[int, dict, object]] = []
        self.queries: list[dict] = []
        # How many of the next connections to close without answering (a backend that is restarting).
        self.drop = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakeServer

    def do_GET(self) -> None:
        if self.server.drop:
            self.server.drop -= 1
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.server.queries.append({k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()})
        status, headers, body = self.server.answers.pop(0)
        payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:  # keep test output quiet
        pass


@pytest.fixture
def server() -> Iterator[FakeServer]:
    server = FakeServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_200_becomes_a_price_frame_indexed_by_date(server):
    server.answers.append((200, {}, OK))
    history = BackendClient(server.url + "/").history("NVDA", START, END, "1d")
    assert server.queries == [
        {"ticker": "NVDA", "start": "2024-01-02", "end": "2024-01-04", "interval": "1d"}
    ]
    assert history.ticker == "NVDA"
    assert history.source == "yahoo"
    assert not history.is_sample
    assert history.prices.index.tolist() == [dt.datetime(2024, 1, d) for d in (2, 3, 4)]
    assert history.prices["close"].tolist() == [10.5, 11.5, 12.5]
    assert history.prices["volume"].tolist() == [100, 200, 300]


def test_sample_data_is_flagged(server):
    server.answers.append((200, {}, {**OK, "source": "sample"}))
    assert BackendClient(server.url).history("NVDA", START, END).is_sample


def test_400_carries_the_backends_message(server):
    server.answers.append((400, {}, error_body("invalid_range", "start must not be after end")))
    with pytest.raises(BadRequestError, match="start must not be after end"):
        BackendClient(server.url).history("NVDA", END, START)


def test_404_unknown_ticker_and_404_no_data_are_told_apart(server):
    server.answers.append((404, {}, error_body("unknown_ticker", "ticker: no such symbol")))
    with pytest.raises(UnknownTickerError, match="does not know the ticker NOPE") as error:
        BackendClient(server.url).history("NOPE", START, END)
    assert error.value.ticker == "NOPE"
    server.answers.append((404, {}, error_body("no_data", "no bars in range")))
    with pytest.raises(NoDataError, match="NVDA has no prices from 2024-01-02 to 2024-01-04"):
        BackendClient(server.url).history("NVDA", START, END)


def test_503_says_when_to_try_again(server):
    server.answers.append((503, {"Retry-After": "30"}, error_body("upstream_unavailable", "rate limited")))
    with pytest.raises(
        UpstreamUnavailableError, match=r"rate-limiting.*in about 30 s\. The backend said: rate limited\.$"
    ) as error:
        BackendClient(server.url).history("NVDA", START, END)
    assert error.value.retry_after_s == 30
    assert len(server.queries) == 1, "an HTTP error status is an answer, not retried"


@pytest.mark.parametrize(
    ("status", "body", "match"),
    [
        (500, "<html>Internal Server Error</html>", "HTTP 500: Internal Server Error"),
        (200, "<html>a proxy's login page</html>", "does not match the API contract"),
        (200, {**OK, "prices": {**PRICES, "close": [1.0]}}, "does not match the API contract"),
        (200, {"ticker": "NVDA"}, "does not match the API contract"),
    ],
)
def test_answers_outside_the_contract_are_reported_not_raised_raw(server, status, body, match):
    server.answers.append((status, {"Content-Type": "text/html"}, body))
    with pytest.raises(UnexpectedResponseError, match=match):
        BackendClient(server.url).history("NVDA", START, END)


def test_a_dropped_connection_is_retried_once(server):
    server.drop = 1
    server.answers.append((200, {}, OK))
    assert BackendClient(server.url).history("NVDA", START, END).prices["close"].iloc[-1] == 12.5


def test_a_backend_that_keeps_dropping_connections_is_unreachable(server):
    server.drop = 2
    server.answers.append((200, {}, OK))
    with pytest.raises(BackendUnreachableError, match=f"Cannot reach the stock backend at {server.url}"):
        BackendClient(server.url).history("NVDA", START, END)


def test_nothing_listening_names_the_url_it_tried():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(BackendUnreachableError, match=f"at {url} \\(connection failed\\)") as error:
        BackendClient(url).history("NVDA", START, END)
    assert error.value.url == url


def test_backend_url_comes_from_the_environment():
    assert BackendClient.from_env({"BACKEND_URL": "http://stock-backend/"}).base_url == "http://stock-backend"
    assert BackendClient.from_env({}).base_url == "http://127.0.0.1:5000"
