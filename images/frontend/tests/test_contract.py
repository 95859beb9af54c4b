"""The frontend's ticker rule is the backend's: what one accepts, the other does too.

The backend's OpenAPI document is the one home of the API contract; this test reads it from the tree.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from stockui.state import TICKER_MAX_LENGTH, TICKER_RE

OPENAPI = Path(__file__).resolve().parents[2] / "backend" / "stockapi" / "openapi.yaml"


@functools.cache
def ticker_schema() -> dict:
    document = yaml.safe_load(OPENAPI.read_text())
    parameters = document["paths"]["/api/stock"]["get"]["parameters"]
    return next(parameter for parameter in parameters if parameter["name"] == "ticker")["schema"]


pytestmark = pytest.mark.skipif(
    not OPENAPI.exists(), reason="the backend's OpenAPI document is not in the tree"
)


def backend_accepts(symbol: str) -> bool:
    schema = ticker_schema()
    return schema["minLength"] <= len(symbol) <= schema["maxLength"] and bool(
        re.search(schema["pattern"], symbol)
    )


def frontend_accepts(symbol: str) -> bool:
    return len(symbol) <= TICKER_MAX_LENGTH and bool(TICKER_RE.fullmatch(symbol))


def test_the_length_limit_is_the_backends():
    assert ticker_schema()["maxLength"] == TICKER_MAX_LENGTH


@given(st.from_regex(TICKER_RE, fullmatch=True) | st.text("^=.-AXFZ09 ", max_size=24))
def test_the_frontend_accepts_exactly_what_the_backend_accepts(symbol):
    assert frontend_accepts(symbol) == backend_accepts(symbol)


@given(st.text(alphabet="abcxfABCXF09^=.-", min_size=1, max_size=22))
def test_lower_case_symbols_are_accepted_after_upper_casing(symbol):
    assert frontend_accepts(symbol.upper()) == backend_accepts(symbol)
