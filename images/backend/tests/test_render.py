"""The finished bytes of an answer: orjson's output against the json module's, and no NaN in JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import json

import numpy as np
import pytest
from stockapi_testing import TODAY

from stockapi import render as render_module
from stockapi.providers.base import Prices, iso_dates
from stockapi.providers.sample import SampleProvider
from stockapi.render import document, render
from stockapi.validation import StockQuery

QUERY = StockQuery("NVDA", dt.date(2010, 1, 1), dt.date(2025, 8, 1))


def as_json_module_wrote_it(query: StockQuery, prices: Prices) -> bytes:
    """The encoder the backend used before orjson, kept here as the reference."""
    return json.dumps(
        document(query, prices), separators=(",", ":"), allow_nan=False, default=np.ndarray.tolist
    ).encode()


def test_the_answer_is_the_bytes_the_json_module_wrote():
    prices = SampleProvider(today=lambda: TODAY).fetch(QUERY)
    body = render(QUERY, prices)
    assert body.plain == as_json_module_wrote_it(QUERY, prices)
    assert gzip.decompress(body.gzipped) == body.plain


def test_extreme_numbers_decode_to_the_same_document():
    values = [1e-05, 0.000123457, 1.5e-07, 123457.0, 1e16, 2.5e20, 0.1]
    prices = Prices.from_arrays(
        "yahoo",
        [f"2024-01-{day:02d}" for day in range(1, len(values) + 1)],
        (values, values, values, values),
        [0, 1, 2**53, 10**15, 5, 6, 7],
    )
    assert json.loads(render(QUERY, prices).plain) == json.loads(as_json_module_wrote_it(QUERY, prices))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_price_that_is_not_a_finite_number_is_refused_not_sent_as_null(bad):
    with pytest.raises(ValueError, match="not a finite number"):
        Prices.from_arrays("yahoo", ["2024-01-02", "2024-01-03"], ([1.0, bad],) * 4, [1, 2])


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("1899-12-25", "1900-01-06"),  # the table's first day, and days before it
        ("1969-12-28", "1970-01-03"),
        ("2000-02-27", "2000-03-02"),  # a leap day
        ("2100-12-25", "2101-01-06"),  # the table's last day, and days after it
        ("2100-12-25", "2101-01-01"),  # up to the first day past the table
        ("1600-01-01", "1600-01-03"),
        ("9999-12-29", "9999-12-31"),
    ],
)
def test_iso_dates_are_what_numpy_writes(first, last):
    days = np.arange(np.datetime64(first), np.datetime64(last) + 1)[::-1]
    assert iso_dates(days) == np.datetime_as_string(days).tolist()


def test_iso_dates_of_no_days_and_of_a_missing_day():
    assert iso_dates(np.array([], dtype="datetime64[D]")) == []
    assert iso_dates(np.array(["2024-01-02", "NaT"], dtype="datetime64[D]")) == ["2024-01-02", "NaT"]


@pytest.mark.parametrize("column", ["date", "open", "high", "low", "close", "volume"])
def test_prices_differing_in_one_column_are_not_equal(column):
    """Prices compares its numpy columns by value; the sample provider's tests rely on that."""
    prices = SampleProvider(today=lambda: TODAY).fetch(QUERY)
    changed = getattr(prices, column).copy()
    changed[-1] = "1999-01-01" if column == "date" else changed[-1] + 1
    assert prices == dataclasses.replace(prices, **{column: getattr(prices, column).copy()})
    assert prices != dataclasses.replace(prices, **{column: changed})


def test_the_etag_follows_the_content_not_its_compression(monkeypatch):
    """Pods on different nodes must tag one answer alike, though ISA-L may compress it differently there."""
    prices = SampleProvider(today=lambda: TODAY).fetch(QUERY)
    body = render(QUERY, prices)
    monkeypatch.setattr(render_module, "GZIP_LEVEL", 0)
    recompressed = render(QUERY, prices)
    assert recompressed.gzipped != body.gzipped
    assert recompressed.etag == body.etag
    assert render(QUERY, dataclasses.replace(prices, source="yahoo")).etag != body.etag
