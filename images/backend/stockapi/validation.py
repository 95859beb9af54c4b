"""Turn the query string of /api/stock into a StockQuery, or an InvalidParameterError naming the problem."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from werkzeug.datastructures import MultiDict

from stockapi.domain import StockQuery
from stockapi.errors import InvalidParameterError

INTERVALS = ("1d", "1wk", "1mo")
PARAMETERS = ("ticker", "start", "end", "interval")
# What a value that is not UTF-8 text is reported as, per parameter.
NOT_TEXT_CODES = {
    "ticker": "invalid_ticker",
    "start": "invalid_date",
    "end": "invalid_date",
    "interval": "invalid_interval",
}
# Yahoo symbols: NVDA, BRK-B, ^GSPC, EURUSD=X, GC=F, BTC-USD, 0700.HK; nothing else. TICKER_CHARS is checked
# on the value as given, before upper-casing: str.upper() maps some non-ASCII letters onto ASCII ones
# ("\u0131" -> "I", "\u00df" -> "SS"), which would turn a non-symbol into some other company's symbol.
TICKER_CHARS = re.compile(r"[A-Za-z0-9.^=-]+")
TICKER_RE = re.compile(r"\^?[A-Z0-9]+(?:[.-][A-Z0-9]+)*(?:=[XF])?")
TICKER_MAX_LEN = 20
# [0-9], not \d: \d also matches full-width and Arabic-Indic digits, which are not YYYY-MM-DD.
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ASCII_WHITESPACE = " \t\n\r\f\v"
MIN_DATE = dt.date(1900, 1, 1)
DEFAULT_SPAN = dt.timedelta(days=365)


def parse_query_string(raw: bytes, today: Callable[[], dt.date]) -> StockQuery:
    """A StockQuery from the raw query string (WSGI's QUERY_STRING, encoded back to latin-1 bytes)."""
    return parse_query(decode_query_string(raw), today)


def decode_query_string(raw: bytes) -> MultiDict[str, str]:
    """Names and values of a query string, as parse_qsl splits them, each required to be UTF-8 text.

    Servers hand the query string over as raw bytes (gunicorn: any byte, as a latin-1 str); a name or value
    that is not UTF-8, sent raw or percent-encoded, is bad input and gets a 400 naming the parameter, not the
    UnicodeDecodeError (a 500) that werkzeug's request.args raises on raw bytes.
    """
    pairs: list[tuple[str, str]] = []
    for field in raw.split(b"&"):
        if not field:
            continue
        raw_name, _, raw_value = field.partition(b"=")
        try:
            name = _text(raw_name)
        except UnicodeDecodeError as error:
            raise InvalidParameterError(
                f"a parameter name is not UTF-8 text ({_bad_byte(error)}); expected {', '.join(PARAMETERS)}",
                code="unknown_parameter",
            ) from None
        _check_known(name)
        try:
            value = _text(raw_value)
        except UnicodeDecodeError as error:
            raise InvalidParameterError(
                f"parameter {name!r} is not UTF-8 text ({_bad_byte(error)}); send UTF-8, percent-encoded",
                code=NOT_TEXT_CODES[name],
            ) from None
        pairs.append((name, value))
    return MultiDict(pairs)


def _text(component: bytes) -> str:
    """A name or value as parse_qsl decodes it ('+' is a space), but strict: raises UnicodeDecodeError."""
    return unquote_to_bytes(component.replace(b"+", b" ")).decode()


def _bad_byte(error: UnicodeDecodeError) -> str:
    return f"byte 0x{error.object[error.start]:02X}"


def _check_known(name: str) -> None:
    if name not in PARAMETERS:
        raise InvalidParameterError(
            f"unknown parameter {name!r}; expected {', '.join(PARAMETERS)}", code="unknown_parameter"
        )


def parse_query(args: MultiDict[str, str], today: Callable[[], dt.date]) -> StockQuery:
    for name in args:
        _check_known(name)
        if len(args.getlist(name)) > 1:
            raise InvalidParameterError(
                f"parameter {name!r} is given more than once", code="repeated_parameter"
            )

    given = args.get("ticker", "").strip(ASCII_WHITESPACE)
    if not given:
        raise InvalidParameterError(
            "parameter 'ticker' is required, e.g. ticker=NVDA", code="missing_parameter"
        )
    ticker = given.upper()
    if len(given) > TICKER_MAX_LEN or not TICKER_CHARS.fullmatch(given) or not TICKER_RE.fullmatch(ticker):
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
