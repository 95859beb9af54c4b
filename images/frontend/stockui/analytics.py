"""Per-ticker statistics from a close-price series (indexed by date). Pure functions, no Streamlit.

Conventions: returns are simple returns between consecutive bars; volatility is the sample standard
deviation (ddof=1) of log returns scaled by the square root of bars per year; CAGR uses calendar time
(365.25-day years) between the first and last bar. A figure that cannot be computed is NaN, never an error.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

# Calendar days per bar, generously rounded up (holidays), to fetch enough history before a period's start.
DAYS_PER_BAR = {"1d": 1.5, "1wk": 7, "1mo": 31}
# Bars per year by interval: trading days, weeks, months. Crypto trades 365 days a year, so its daily
# volatility is understated by sqrt(252/365); the comparison across tickers stays like for like.
PERIODS_PER_YEAR = {"1d": 252, "1wk": 52, "1mo": 12}
DAYS_PER_YEAR = 365.25


def last_close(close: pd.Series) -> float:
    close = close.dropna()
    return float(close.iloc[-1]) if len(close) else math.nan


def period_change(close: pd.Series) -> float:
    """Change from the first to the last close, as a fraction (0.25 = +25 %)."""
    close = close.dropna()
    if len(close) < 2 or close.iloc[0] == 0:
        return math.nan
    return float(close.iloc[-1] / close.iloc[0] - 1)


def cagr(close: pd.Series) -> float:
    """Compound annual growth rate between the first and last close."""
    close = close.dropna()
    if len(close) < 2 or close.iloc[0] <= 0 or close.iloc[-1] <= 0:
        return math.nan
    years = (close.index[-1] - close.index[0]).days / DAYS_PER_YEAR
    if years <= 0:
        return math.nan
    return float((close.iloc[-1] / close.iloc[0]) ** (1 / years) - 1)


def annualised_volatility(close: pd.Series, interval: str = "1d") -> float:
    log_returns = np.log(close.dropna()).diff().dropna()
    if len(log_returns) < 2:
        return math.nan
    return float(log_returns.std(ddof=1) * math.sqrt(PERIODS_PER_YEAR[interval]))


def drawdown(close: pd.Series) -> pd.Series:
    """Fraction below the running peak at each bar (0 at a new high, -0.5 when half the peak is lost)."""
    close = close.dropna()
    return close / close.cummax() - 1


def max_drawdown(close: pd.Series) -> float:
    """The deepest peak-to-trough fall, as a negative fraction (or 0.0 for a series that never fell)."""
    series = drawdown(close)
    return float(series.min()) if len(series) else math.nan


def normalise(close: pd.Series, mode: str = "index") -> pd.Series:
    """Rebase a series to its first value: "index" starts at 100, "percent" at 0 (% change since start)."""
    close = close.dropna()
    if close.empty:
        return close
    relative = close / close.iloc[0]
    if mode == "index":
        return relative * 100
    if mode == "percent":
        return (relative - 1) * 100
    raise ValueError(f"unknown normalisation mode: {mode!r}")


def sma(close: pd.Series, window: int) -> pd.Series:
    """Simple moving average; NaN until `window` bars are available."""
    return close.rolling(window=window, min_periods=window).mean()


# pandas rules that reproduce the backend's coarser bars: weeks from Monday, months from the 1st, each
# labelled by its first day.
RESAMPLE_RULES = {"1wk": "W-MON", "1mo": "MS"}
OHLCV_AGGREGATION = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


def resample(prices: pd.DataFrame, interval: str) -> pd.DataFrame:
    """OHLCV bars of a coarser interval ("1wk", "1mo") from finer ones; periods without bars are dropped."""
    bins = prices.resample(RESAMPLE_RULES[interval], closed="left", label="left")
    return bins.agg(OHLCV_AGGREGATION).dropna(subset=["close"])


def warmup_start(start: dt.date, window: int, interval: str) -> dt.date:
    """A start date early enough that a `window`-bar moving average is defined from `start` on."""
    return start - dt.timedelta(days=math.ceil(window * DAYS_PER_BAR[interval]) + 7)


@dataclass(frozen=True)
class TickerFigures:
    ticker: str
    last_close: float
    change: float
    cagr: float
    volatility: float
    max_drawdown: float
    first_date: pd.Timestamp
    last_date: pd.Timestamp


def ticker_figures(ticker: str, close: pd.Series, interval: str = "1d") -> TickerFigures:
    return TickerFigures(
        ticker=ticker,
        last_close=last_close(close),
        change=period_change(close),
        cagr=cagr(close),
        volatility=annualised_volatility(close, interval),
        max_drawdown=max_drawdown(close),
        first_date=close.index[0],
        last_date=close.index[-1],
    )


# The fields of TickerFigures that are fractions; tables show them in percent.
PERCENT_FIELDS = ("change", "cagr", "volatility", "max_drawdown")


def figures_table(rows: list[TickerFigures]) -> pd.DataFrame:
    """One row per ticker, with the PERCENT_FIELDS in percent (0.25 -> 25.0).

    In percent because a table column's printf format cannot scale a fraction, and Streamlit's own
    "percent" format drops trailing zeros, so one column would read 19.1% above 139.65%.
    """
    frame = pd.DataFrame([asdict(row) for row in rows]).set_index("ticker")
    frame[list(PERCENT_FIELDS)] *= 100
    return frame


def prices_table(prices_by_ticker: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The bars of every ticker as one long table (ticker, date, OHLCV), dates as plain dates."""
    table = pd.concat(prices_by_ticker, names=["ticker", "date"]).reset_index()
    table["date"] = table["date"].dt.date
    return table


def price_decimals(table: pd.DataFrame) -> int:
    """Decimals that show every price in the table usefully: cents, or pips below 10 (EURUSD=X at 1.0832)."""
    smallest = table["close"].abs().min()
    return 2 if pd.isna(smallest) or smallest >= 10 else 4
