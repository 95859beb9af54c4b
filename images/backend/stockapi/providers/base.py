"""The provider interface and the price table every provider returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from stockapi.domain import StockQuery

# Prices are sent with 6 significant digits: more than a chart or a daily return needs, and it keeps the
# 15-year daily NVDA answer small (noise digits of adjusted prices do not compress).
SIGNIFICANT_DIGITS = 6


@dataclass(frozen=True, eq=False)
class Prices:
    """Bars oldest first: dates as ISO strings, prices and volumes as numpy arrays, which orjson writes as it
    writes Python floats and ints (the same digits) without making a Python object per number first."""

    source: str
    date: list[str]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.int64]

    @classmethod
    def from_arrays(
        cls,
        source: str,
        dates: list[str],
        ohlc: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
        volume: npt.ArrayLike,
    ) -> Prices:
        return cls(source, list(dates), *normalised_columns(source, ohlc, volume))

    def __len__(self) -> int:
        return len(self.date)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Prices):
            return NotImplemented
        return (self.source, self.date) == (other.source, other.date) and all(
            np.array_equal(getattr(self, column), getattr(other, column))
            for column in ("open", "high", "low", "close", "volume")
        )

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside: not hashable, as before


def normalised_columns(
    source: str,
    ohlc: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
    volume: npt.ArrayLike,
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.int64],
]:
    """Open, high, low, close and volume as Prices holds them: rounded finite prices, whole volumes >= 0."""
    o, h, lo, c = (np.ascontiguousarray(round_significant(column)) for column in ohlc)
    # JSON has no NaN or infinity (render relies on this); providers drop incomplete bars before.
    if not all(np.isfinite(column).all() for column in (o, h, lo, c)):
        raise ValueError(f"{source} returned a price that is not a finite number")
    vol = np.nan_to_num(np.asarray(volume, dtype=float), nan=0.0).clip(min=0).round().astype(np.int64)
    return o, h, lo, c, np.ascontiguousarray(vol)


class Provider(Protocol):
    name: str

    def fetch(self, query: StockQuery) -> Prices: ...


# The ISO strings of these days are made once, on import (in gunicorn's master, before the workers fork):
# every provider's bars fall in here in practice, and numpy's datetime_as_string cost about a microsecond a
# date (4 ms of a 15-year daily miss) where a lookup in this table costs a hundredth of that.
ISO_TABLE_FIRST = np.datetime64("1900-01-01", "D")
_ISO_TABLE = np.array(
    np.datetime_as_string(np.arange(ISO_TABLE_FIRST, np.datetime64("2101-01-01", "D"))).tolist(), dtype=object
)


def iso_dates(days: npt.ArrayLike) -> list[str]:
    """`YYYY-MM-DD` strings of datetime64 days, as np.datetime_as_string writes them."""
    days = np.asarray(days, dtype="datetime64[D]")
    offsets = (days - ISO_TABLE_FIRST).astype(np.int64)  # NaT becomes the most negative int64
    if not len(days) or offsets.min() < 0 or offsets.max() >= len(_ISO_TABLE):
        return np.datetime_as_string(days).tolist()
    return _ISO_TABLE[offsets].tolist()


def round_significant(values: npt.ArrayLike, digits: int = SIGNIFICANT_DIGITS) -> npt.NDArray[np.float64]:
    a = np.asarray(values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.floor(np.log10(np.abs(a)))
    decimals = np.clip(np.nan_to_num(digits - 1 - magnitude, nan=0.0, posinf=0.0, neginf=0.0), 0, 12)
    # Dividing by an exact power of ten gives the double nearest the decimal, so repr() prints it short.
    scale = 10.0**decimals
    return np.round(a * scale) / scale
