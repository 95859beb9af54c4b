"""Yahoo Finance through yfinance, with its failures mapped onto the API's errors.

yfinance keeps SQLite caches (time zones, cookies) under ~/.cache by default; the container's root
filesystem is read-only, so they go to a directory under the temp dir instead. yfinance also hides most
failures by default (logging them and returning an empty frame, which would read as "unknown ticker");
`hide_exceptions = False` makes it raise, so a network failure is told apart from a missing symbol.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import yfinance as yf
from curl_cffi import requests as curl_requests
from yfinance.exceptions import (
    YFException,
    YFPricesMissingError,
    YFRateLimitError,
    YFTickerMissingError,
)

from stockapi.domain import StockQuery
from stockapi.errors import NotFoundError, UpstreamUnavailableError
from stockapi.policy import UPSTREAM_BACKOFF_S, UPSTREAM_TIMEOUT_S
from stockapi.providers.base import Prices, iso_dates

log = logging.getLogger(__name__)

COLUMNS = ["Open", "High", "Low", "Close"]
RATE_LIMIT_BACKOFF_S = 60


def configure_yfinance(cache_dir: Path) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    yf.set_tz_cache_location(str(cache_dir))
    yf.config.debug.hide_exceptions = False


def http_session() -> curl_requests.Session:
    """yfinance's own session (Chrome impersonation), made cooperative when gevent runs the worker.

    libcurl blocks in C, out of gevent's reach: under gunicorn's gevent worker (gunicorn.conf.py) one fetch
    from Yahoo would stall every other request on that worker, /healthz included, for up to the upstream
    timeout. With thread="gevent", curl_cffi runs each transfer in gevent's thread pool and the greenlet
    waits for it cooperatively.
    """
    try:
        from gevent import monkey
    except ImportError:  # the image always has gevent; a bare install of the package may not
        cooperative = False
    else:
        cooperative = monkey.is_module_patched("socket")
    return curl_requests.Session(impersonate="chrome", thread="gevent" if cooperative else None)


class YahooProvider:
    name = "yahoo"

    def __init__(self, cache_dir: Path, timeout_s: float = UPSTREAM_TIMEOUT_S) -> None:
        configure_yfinance(cache_dir)
        self._timeout_s = timeout_s
        self._session = http_session()

    def fetch(self, query: StockQuery) -> Prices:
        try:
            frame = yf.Ticker(query.ticker, session=self._session).history(
                start=query.start.isoformat(),
                # yfinance's end is exclusive; the API's is inclusive.
                end=(query.end + dt.timedelta(days=1)).isoformat(),
                interval=query.interval,
                auto_adjust=True,
                timeout=self._timeout_s,
            )
        except YFRateLimitError:
            raise UpstreamUnavailableError(
                "Yahoo Finance is rate-limiting this server; try again later",
                retry_after=RATE_LIMIT_BACKOFF_S,
            ) from None
        except YFPricesMissingError:
            raise _no_data(query) from None
        except YFTickerMissingError:  # includes YFTzMissingError: Yahoo has no such symbol
            raise NotFoundError(f"ticker {query.ticker!r} is not known to Yahoo Finance") from None
        except (YFException, OSError, ValueError, KeyError) as error:
            # OSError covers curl_cffi's network errors (DNS, connect, timeout); ValueError and KeyError are
            # what yfinance raises on a malformed answer. None of them says anything about the symbol.
            log.warning(
                "Yahoo Finance fetch failed", extra={"fields": {"ticker": query.ticker, "error": repr(error)}}
            )
            raise UpstreamUnavailableError(
                f"Yahoo Finance is unavailable ({type(error).__name__})", retry_after=UPSTREAM_BACKOFF_S
            ) from None
        return prices_from_frame(frame, query)


def prices_from_frame(frame: pd.DataFrame, query: StockQuery) -> Prices:
    """Turn a `Ticker.history` frame (tz-aware index named Date, one row per bar) into Prices."""
    if frame.empty or not set(COLUMNS).issubset(frame.columns):
        raise _no_data(query)
    frame = frame.dropna(subset=COLUMNS)
    # The index is midnight in the exchange's time zone; its local date is the trading day (converting to
    # UTC first would move Asian sessions to the day before).
    # The dates are formatted as a whole (iso_dates): DatetimeIndex.strftime formats row by row in Python and
    # cost as much as the rest of a 25-year conversion.
    days = frame.index.tz_localize(None).to_numpy().astype("datetime64[D]")
    keep = days <= np.datetime64(query.end)
    if not keep.any():
        raise _no_data(query)
    volume = frame["Volume"].to_numpy() if "Volume" in frame.columns else np.zeros(len(frame))
    return Prices.from_arrays(
        YahooProvider.name,
        iso_dates(days[keep]),
        tuple(frame[column].to_numpy()[keep] for column in COLUMNS),
        volume[keep],
    )


def _no_data(query: StockQuery) -> NotFoundError:
    return NotFoundError(
        f"Yahoo Finance has no {query.interval} prices for {query.ticker} between {query.start} and "
        f"{query.end} (no trading days in the range, or the symbol is delisted)",
        code="no_data",
    )
