"""Turn the query string of /api/stock into a StockQuery, or an InvalidParameterError naming the problem."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from werkzeug.datastructures import MultiDict

from stockapi.errors import InvalidParameterError

INTERVALS = ("1d", "1wk", "1mo")
PARAMETERS = ("ticker", "start", "end", "interval")
# Yahoo symbols: NVDA, BRK-B, ^GSPC, EURUSD=X, GC=F, BTC-USD, 0700.HK; nothing else.
TICKER_RE = re.compile(r"\^?[A-Z0-9]+(?:[.-][A-Z0-9]+)*(?:=[XF])?")
TICKER_MAX_LEN = 20
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
MIN_DATE = dt.date(1900, 1, 1)
DEFAULT_SPAN = dt.timedelta(days=365)


@dataclass(frozen=True, slots=True)
class StockQuery:
    ticker: str
    start: dt.date
    end: dt.date  # inclusive
    interval: str = "1d"


def parse_query(args: MultiDict[str, str], today: Callable[[], dt.date]) -> StockQuery:
    for name in args:
        if name not in PARAMETERS:
            raise InvalidParameterError(
                f"unknown parameter {name!r}; expected {', '.join(PARAMETERS)}", code="unknown_parameter"
            )
        if len(args.getlist(name)) > 1:
            raise InvalidParameterError(
                f"parameter {name!r} is given more than once", code="repeated_parameter"
            )

    ticker = args.get("ticker", "").strip().upper()
    if not ticker:
        raise InvalidParameterError(
            "parameter 'ticker' is required, e.g. ticker=NVDA", code="missing_parameter"
        )
    if len(ticker) > TICKER_MAX_LEN or not TICKER_RE.fullmatch(ticker):
        raise InvalidParameterError(
            f"parameter 'ticker' is not a Yahoo Finance symbol ({TICKER_MAX_LEN} characters at most, "
            "like NVDA, BRK-B, ^GSPC, EURUSD=X or BTC-USD)",
            code="invalid_ticker",
        )

    interval = args.get("interval", "1d")
    if interval not in INTERVALS:
        raise InvalidParameterError(
            f"parameter 'interval' must be one of {', '.join(INTERVALS)}", code="invalid_interval"
        )

    # Today in UTC plus one day: "today" somewhere east of UTC is still a sensible end.
    latest = today() + dt.timedelta(days=1)
    end = _date(args, "end", latest) or today()
    start = _date(args, "start", latest) or end - DEFAULT_SPAN
    if start > end:
        raise InvalidParameterError(
            f"parameter 'start' ({start}) is after 'end' ({end}); the range is start..end inclusive",
            code="invalid_range",
        )
    return StockQuery(ticker, max(start, MIN_DATE), end, interval)


def _date(args: MultiDict[str, str], name: str, latest: dt.date) -> dt.date | None:
    raw = args.get(name)
    if raw is None:
        return None
    if not DATE_RE.fullmatch(raw):
        raise InvalidParameterError(
            f"parameter {name!r} must be a date as YYYY-MM-DD, not {raw!r}", code="invalid_date"
        )
    try:
        value = dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidParameterError(
            f"parameter {name!r} is not a real date: {raw}", code="invalid_date"
        ) from None
    if not MIN_DATE <= value <= latest:
        raise InvalidParameterError(
            f"parameter {name!r} must be between {MIN_DATE} and {latest}, not {raw}", code="invalid_range"
        )
    return value
