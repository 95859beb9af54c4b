"""Fixtures for the backend's tests; the helpers they use are in stockapi_testing.py."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

# Metrics go to the in-process registry in tests; multiprocess mode is tested against a real gunicorn.
os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

from stockapi_testing import ControlledProvider, FakeClock, build_app


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def provider() -> ControlledProvider:
    return ControlledProvider()


@pytest.fixture
def app(provider: ControlledProvider, clock: FakeClock) -> Flask:
    return build_app(provider, clock=clock)


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as client:
        yield client
