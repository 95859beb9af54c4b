"""Client for the stock backend's JSON API.

The contract is images/backend/stockapi/openapi.yaml: `GET /api/stock` answers 200 with equal-length price
arrays, or an error body `{"error": {"code", "message"}}` with 400 (bad input), 404 (unknown ticker) or 503
(upstream unavailable, with Retry-After). Every failure becomes a `BackendError` subclass whose message can be
shown to the person using the page as is: it is Markdown in which the backend's own words and the ticker are
escaped (`stockui.text`), so an answer cannot put markup on the page. Nothing here raises a requests exception
to the caller.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from stockui.text import escape

DEFAULT_BACKEND_URL = "http://127.0.0.1:5000"
# (connect, read): connecting is quick or the backend is down; a cold Yahoo fetch of decades of bars can take
# several seconds, and the backend's own upstream timeout is shorter than this read timeout.
TIMEOUT_S = (3.05, 30.0)
PRICE_COLUMNS = ("open", "high", "low", "close", "volume")


class BackendError(Exception):
    """A request for prices failed; str() is a message for the page."""


class BadRequestError(BackendError):
    """400: the backend rejected a parameter (its message names it)."""


class UnknownTickerError(BackendError):
    """404: no such symbol upstream."""

    def __init__(self, message: str, ticker: str) -> None:
        super().__init__(message)
        self.ticker = ticker


class NoDataError(BackendError):
    """404 `no_data`: the symbol exists but has no bars in the range (a holiday, before its listing)."""


class UpstreamUnavailableError(BackendError):
    """503: Yahoo is rate-limiting or unreachable and the backend had nothing cached."""

    def __init__(self, message: str, retry_after_s: int | None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class BackendUnreachableError(BackendError):
    """No HTTP answer at all: refused, timed out, DNS failure."""

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


class UnexpectedResponseError(BackendError):
    """An answer outside the contract (another status, HTML, malformed JSON)."""


@dataclass(frozen=True)
class PriceHistory:
    ticker: str
    interval: str
    # "yahoo" or "sample" (offline synthetic data, never to be mistaken for market data)
    source: str
    # indexed by date (DatetimeIndex named "date"), columns PRICE_COLUMNS
    prices: pd.DataFrame

    @property
    def is_sample(self) -> bool:
        return self.source == "sample"


class BackendClient:
    def __init__(self, base_url: str = DEFAULT_BACKEND_URL, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        # One retry when the connection fails or drops (a restarting pod, a keep-alive connection the server
        # just closed); GET is idempotent. HTTP error statuses are answers, never retried here.
        retry = Retry(
            total=1,
            connect=1,
            read=1,
            status=0,
            other=0,
            redirect=0,
            backoff_factor=0.2,
            respect_retry_after_header=False,
            raise_on_status=False,
        )
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> BackendClient:
        return cls(environ.get("BACKEND_URL") or DEFAULT_BACKEND_URL)

    def history(self, ticker: str, start: dt.date, end: dt.date, interval: str = "1d") -> PriceHistory:
        """Daily/weekly/monthly bars of `ticker` from `start` to `end`, both inclusive."""
        params = {"ticker": ticker, "start": start.isoformat(), "end": end.isoformat(), "interval": interval}
        try:
            response = self.session.get(f"{self.base_url}/api/stock", params=params, timeout=TIMEOUT_S)
        except requests.RequestException as error:
            raise BackendUnreachableError(
                f"Cannot reach the stock backend at {self.base_url} ({_reason(error)}). "
                "Check that it is running (locally: `make backend`) and that BACKEND_URL points at it.",
                url=self.base_url,
            ) from error
        if response.status_code == 200:
            return _parse_history(response)
        code, reply = _error(response)
        # What the backend says may echo our input; it goes onto the page as text, never as Markdown.
        message, symbol = escape(reply), escape(ticker)
        if response.status_code == 400:
            raise BadRequestError(f"The backend rejected the request: {message}")
        if response.status_code == 404 and code == "no_data":
            raise NoDataError(f"{symbol} has no prices from {start} to {end}. ({message})")
        if response.status_code == 404:
            raise UnknownTickerError(
                f"Yahoo Finance does not know the ticker {symbol}. Check the symbol: shares traded outside "
                f"the US carry an exchange suffix (0700.HK), indices a caret (^GSPC). ({message})",
                ticker=ticker,
            )
        if response.status_code in {429, 503}:
            retry_after = _retry_after(response)
            when = f"in about {retry_after} s" if retry_after else "in a minute"
            raise UpstreamUnavailableError(
                f"Yahoo Finance is rate-limiting or unreachable and there is no cached copy of {symbol} "
                f"for this range yet. Try again {when}. The backend said: {escape(reply.rstrip('.'))}.",
                retry_after_s=retry_after,
            )
        raise UnexpectedResponseError(f"The backend answered HTTP {response.status_code}: {message}")


def _reason(error: requests.RequestException) -> str:
    if isinstance(error, requests.Timeout):
        return "timed out"
    if isinstance(error, requests.ConnectionError):
        return "connection failed"
    return type(error).__name__


def _error(response: requests.Response) -> tuple[str, str]:
    """The error body's code and message, or what HTTP itself says when the body is not ours."""
    try:
        error = response.json()["error"]
        return str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return "", response.reason or f"HTTP {response.status_code}"


def _retry_after(response: requests.Response) -> int | None:
    value = response.headers.get("Retry-After", "")
    return int(value) if value.isdigit() else None


def _parse_history(response: requests.Response) -> PriceHistory:
    try:
        body = response.json()
        prices = body["prices"]
        frame = pd.DataFrame({column: prices[column] for column in ("date", *PRICE_COLUMNS)})
        frame["date"] = pd.to_datetime(frame["date"], format="%Y-%m-%d")
        frame = frame.set_index("date").astype(float)
        return PriceHistory(
            ticker=str(body["ticker"]),
            interval=str(body["interval"]),
            source=str(body["source"]),
            prices=frame,
        )
    except (ValueError, KeyError, TypeError) as error:
        raise UnexpectedResponseError(
            f"The backend's answer does not match the API contract ({type(error).__name__}: {escape(error)})."
        ) from error
