"""What the page shows, as one value: parsed from and written back to the URL's query parameters.

The page reads a `ViewState` from the URL once per session, lets the widgets change it, and writes it back,
so a copied link reopens the same view. Everything here is pure (no Streamlit), so it is tested directly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from stockui.text import literal

# Yahoo symbols: letters and digits, an optional leading '^' (indices), '.'/'-' separated parts and an
# optional '=X' / '=F' suffix (currencies, futures). The same rule as the `ticker` parameter's pattern in the
# backend's OpenAPI document, applied after upper-casing (tests/test_contract.py keeps the two equal).
TICKER_RE = re.compile(r"^\^?[A-Z0-9]+([.-][A-Z0-9]+)*(=[XF])?$")
TICKER_MAX_LENGTH = 20
TICKER_EXAMPLES = ("NVDA", "BRK-B", "^GSPC", "BTC-USD", "EURUSD=X")
MAX_TICKERS = 8

PERIODS = ("1M", "6M", "YTD", "1Y", "5Y", "10Y", "Max", "Custom")
# "Max" asks for everything since this date; Yahoo's oldest daily bars (^GSPC) start in 1927.
EARLIEST = dt.date(1927, 1, 1)
INTERVALS = {"1d": "Daily", "1wk": "Weekly", "1mo": "Monthly"}
CHART_KINDS = {"candlestick": "Candles", "line": "Line"}
MOVING_AVERAGES = (20, 50, 200)
COMPARE_MODES = {"index": "Index (start = 100)", "percent": "Change (%)"}


class TickerError(ValueError):
    """The ticker field cannot be asked for; the message says why, for the person typing."""


def parse_tickers(text: str) -> tuple[str, ...]:
    """Split a comma- or space-separated list into upper-case symbols, in order, without duplicates."""
    symbols = [part.upper() for part in re.split(r"[\s,;]+", text.strip()) if part]
    unique = tuple(dict.fromkeys(symbols))
    if not unique:
        raise TickerError(f"Enter at least one ticker, for example {', '.join(TICKER_EXAMPLES[:3])}.")
    bad = [s for s in unique if len(s) > TICKER_MAX_LENGTH or not TICKER_RE.fullmatch(s)]
    if bad:
        # Code spans: the page renders Markdown, and what was typed must show as typed, not as markup.
        shown = ", ".join(literal(symbol) for symbol in bad)
        raise TickerError(
            f"Not a valid ticker symbol: {shown}. Symbols look like {', '.join(TICKER_EXAMPLES)}."
        )
    if len(unique) > MAX_TICKERS:
        raise TickerError(f"Compare at most {MAX_TICKERS} tickers at once ({len(unique)} given).")
    return unique


def period_range(period: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """The inclusive date range of a preset period ending today."""
    months = {"1M": 1, "6M": 6, "1Y": 12, "5Y": 60, "10Y": 120}
    if period in months:
        start = (pd.Timestamp(today) - pd.DateOffset(months=months[period])).date()
    elif period == "YTD":
        start = dt.date(today.year, 1, 1)
    elif period == "Max":
        start = EARLIEST
    else:
        raise ValueError(f"not a preset period: {period!r}")
    return start, today


@dataclass(frozen=True)
class ViewState:
    """Everything a link must carry to reopen a view. Field names are the widgets' session-state keys."""

    tickers: str = "NVDA"
    period: str = "1Y"
    # Only meaningful with period == "Custom"; presets recompute their range every day.
    start: dt.date | None = None
    end: dt.date | None = None
    interval: str = "1d"
    chart: str = "candlestick"
    moving_averages: tuple[int, ...] = (50, 200)
    log_scale: bool = False
    compare: str = "index"

    def date_range(self, today: dt.date) -> tuple[dt.date, dt.date]:
        if self.period == "Custom" and self.start and self.end:
            return self.start, self.end
        return period_range("1Y" if self.period == "Custom" else self.period, today)

    def widget_values(self, today: dt.date) -> dict[str, object]:
        """Session-state values for the page's widgets (keyed like the fields; the range as "dates")."""
        values: dict[str, object] = {
            field.name: list(value) if isinstance(value, tuple) else value
            for field in dataclasses.fields(self)
            if field.name not in {"start", "end"} and (value := getattr(self, field.name)) is not None
        }
        values["dates"] = self.date_range(today)
        return values

    def to_query(self) -> dict[str, str]:
        """Query parameters for this view; values equal to the defaults are left out to keep links short."""
        default = ViewState()
        query: dict[str, str] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value == getattr(default, field.name) or value is None:
                continue
            if field.name in {"start", "end"} and self.period != "Custom":
                continue
            query[field.name] = _format(value)
        return query

    @classmethod
    def from_query(cls, query: Mapping[str, str], today: dt.date) -> tuple[ViewState, list[str]]:
        """Parse query parameters; a value that makes no sense falls back to the default and is reported."""
        values: dict[str, object] = {}
        problems: list[str] = []
        for name, parse in _PARSERS.items():
            if name not in query:
                continue
            try:
                values[name] = parse(query[name])
            except ValueError:
                # The value is a stranger's text on our page: shown as a literal, never as Markdown.
                problems.append(f"Ignored the link's {name}: {literal(query[name])} is not a valid value.")
        state = cls(**values)  # type: ignore[arg-type]
        if state.period == "Custom" and not (
            state.start and state.end and EARLIEST <= state.start <= state.end <= today
        ):
            problems.append(
                f"Ignored the link's custom dates: they must satisfy {EARLIEST} <= start <= end <= today."
            )
            state = dataclasses.replace(state, period=ViewState.period, start=None, end=None)
        return state, problems


def _format(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def _choice(options: Mapping[str, str] | tuple[str, ...]):
    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(text)
        return text

    return parse


def _flag(text: str) -> bool:
    if text not in {"0", "1"}:
        raise ValueError(text)
    return text == "1"


def _moving_averages(text: str) -> tuple[int, ...]:
    windows = tuple(int(part) for part in text.split(",") if part)
    if not set(windows) <= set(MOVING_AVERAGES):
        raise ValueError(text)
    return tuple(sorted(set(windows)))


_PARSERS = {
    "tickers": lambda text: ",".join(part.strip().upper() for part in text.split(",") if part.strip()),
    "period": _choice(PERIODS),
    "start": dt.date.fromisoformat,
    "end": dt.date.fromisoformat,
    "interval": _choice(INTERVALS),
    "chart": _choice(CHART_KINDS),
    "moving_averages": _moving_averages,
    "log_scale": _flag,
    "compare": _choice(COMPARE_MODES),
}
