"""The finished bytes of an answer: orjson's output against the json module's, and no NaN in JSON."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import numpy as np
import pytest
from stockapi_testing import TODAY

from stockapi.providers.base import Prices
from stockapi.providers.sample import SampleProvider
from stockapi.render import document, render
from stockapi.validation import StockQuery

QUERY = StockQuery("NVDA", dt.date(2010, 1, 1), dt.date(2025, 8, 1))


def as_json_module_wrote_it(query: StockQuery, prices: Prices) -> bytes:
    """The encoder the backend used before orjson, kept here as the reference."""
    return json.dumps(document(query, prices), separators=(",", ":"), allow_nan=False).encode()


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
