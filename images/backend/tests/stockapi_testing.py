"""Test helpers: an app over a controllable provider, an injected clock, and a test client that checks
every response it receives against the OpenAPI document. Found through pytest's `pythonpath` setting."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from flask import Flask
from flask.testing import FlaskClient

from stockapi import create_app
from stockapi.errors import UpstreamUnavailableError
from stockapi.providers.base import Prices
from stockapi.providers.sample import SampleProvider
from stockapi.service import StockService
from stockapi.validation import StockQuery

BACKEND = Path(__file__).resolve().parents[1]

TODAY = dt.date(2025, 9, 3)  # a Wednesday
SPEC = yaml.safe_load((BACKEND / "stockapi" / "openapi.yaml").read_text())
OLD_RANGE = "ticker=NVDA&start=2010-01-01&end=2025-08-01"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ControlledProvider:
    """The sample provider, counting its fetches; `fail` makes it unavailable, `gate` makes it wait."""

    def __init__(self, name: str = "sample") -> None:
        self.name = name
        self._sample = SampleProvider(today=lambda: TODAY)
        self.fetches: list[StockQuery] = []
        self.fail: UpstreamUnavailableError | None = None
        self.before_fetch: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def fetch(self, query: StockQuery) -> Prices:
        with self._lock:
            self.fetches.append(query)
        if self.before_fetch:
            self.before_fetch()
        if self.fail:
            raise self.fail
        prices = self._sample.fetch(query)
        return Prices(
            self.name, prices.date, prices.open, prices.high, prices.low, prices.close, prices.volume
        )


def wait_for(condition: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    """Poll `condition` until it is truthy (there is no event to block on when watching another process)."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
    return result


# --- OpenAPI conformance -------------------------------------------------------------------------------


ERROR_SCHEMA = {"$ref": "#/components/schemas/Error", "components": SPEC["components"]}


def response_schema(path: str, method: str, status: int) -> dict[str, Any] | None:
    operation = SPEC["paths"].get(path, {}).get(method.lower())
    if operation is None:
        return ERROR_SCHEMA  # unknown paths and methods still answer with the documented error shape
    responses = operation["responses"]
    response = responses.get(str(status), responses.get("default"))
    assert response is not None, (
        f"{method} {path} answered {status}, which the OpenAPI document does not list"
    )
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    return None if schema is None else {**schema, "components": SPEC["components"]}


def assert_conforms(path: str, method: str, status: int, headers: Any, body: bytes) -> None:
    schema = response_schema(path, method, status)
    if schema is not None and body:
        assert headers.get("Content-Type", "").startswith("application/json"), headers
        jsonschema.validate(
            json.loads(body),
            schema,
            cls=jsonschema.Draft202012Validator,
            format_checker=jsonschema.FormatChecker(),
        )
    if path == "/api/stock" and status in (200, 304):
        for name in ("ETag", "Cache-Control"):
            assert name in headers, f"{name} missing"
    if status == 503:
        assert int(headers["Retry-After"]) >= 1


class ConformingClient(FlaskClient):
    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        request = response.request
        body = response.get_data()
        if response.headers.get("Content-Encoding") == "gzip":
            import gzip

            body = gzip.decompress(body)
        assert_conforms(request.path, request.method, response.status_code, response.headers, body)
        return response


def build_app(
    provider: ControlledProvider,
    fallback: ControlledProvider | None = None,
    clock: FakeClock | None = None,
    max_bytes: int = 64 << 20,
) -> Flask:
    service = StockService(
        provider, fallback, max_bytes=max_bytes, today=lambda: TODAY, clock=clock or FakeClock()
    )
    app = create_app(service=service)
    app.test_client_class = ConformingClient
    return app
