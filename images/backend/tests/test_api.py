"""The endpoints as a client sees them (every response is also checked against the OpenAPI document)."""

from __future__ import annotations

import json

import yaml
from openapi_spec_validator import validate
from stockapi_testing import BACKEND, OLD_RANGE, SPEC


def test_openapi_document_is_valid_and_served_as_json(client):
    validate(SPEC)
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == yaml.safe_load((BACKEND / "stockapi" / "openapi.yaml").read_text())


def test_stock_answer_has_the_documented_shape(client):
    response = client.get(f"/api/stock?{OLD_RANGE}")
    body = json.loads(response.get_data())
    assert (body["ticker"], body["start"], body["end"], body["interval"], body["source"]) == (
        "NVDA",
        "2010-01-01",
        "2025-08-01",
        "1d",
        "sample",
    )
    prices = body["prices"]
    assert body["rows"] == len(prices["date"]) > 3900
    assert {len(column) for column in prices.values()} == {body["rows"]}
    assert (prices["date"][0], prices["date"][-1]) == ("2010-01-01", "2025-08-01")
    assert prices["date"] == sorted(prices["date"])


def test_weekly_and_monthly_intervals(client):
    weekly = client.get("/api/stock?ticker=NVDA&start=2024-01-01&end=2024-12-31&interval=1wk").get_json()
    monthly = client.get("/api/stock?ticker=NVDA&start=2024-01-01&end=2024-12-31&interval=1mo").get_json()
    assert (weekly["rows"], monthly["rows"]) == (53, 12)


def test_a_range_without_trading_days_is_a_404_no_data(client):
    response = client.get("/api/stock?ticker=NVDA&start=2024-01-06&end=2024-01-07")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "no_data"


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ready"}


def test_readiness_does_not_depend_on_the_upstream(client, provider):
    from stockapi.errors import UpstreamUnavailableError

    provider.fail = UpstreamUnavailableError("down", retry_after=30)
    assert client.get("/api/stock?ticker=NVDA").status_code == 503
    assert client.get("/readyz").status_code == 200
    assert provider.fetches  # the outage was real, yet the instance stays in the Service


def test_unknown_paths_and_methods_get_json_errors(client):
    missing = client.get("/api/stocks")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"
    assert "/api/stocks" in missing.get_json()["error"]["message"]
    wrong = client.post("/api/stock?ticker=NVDA")
    assert wrong.status_code == 405
    assert wrong.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["Allow"]


def test_options_gets_the_json_405_not_an_empty_html_answer(client):
    answer = client.options("/api/stock?ticker=NVDA")
    assert answer.status_code == 405
    assert answer.mimetype == "application/json"
    assert answer.get_json()["error"]["code"] == "method_not_allowed"


def test_an_unexpected_error_is_a_json_500_without_a_trace(client, provider):
    def broken():
        raise RuntimeError("secret internals")

    provider.before_fetch = broken
    response = client.get("/api/stock?ticker=NVDA")
    assert response.status_code == 500
    assert response.get_json() == {
        "error": {"code": "internal", "message": "internal error; it has been logged"}
    }


def test_metrics_count_requests_by_route_and_status(client):
    client.get(f"/api/stock?{OLD_RANGE}")
    client.get("/api/stock?ticker=")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'stockapi_http_requests_total{method="GET",route="/api/stock",status="200"}' in text
    assert 'stockapi_http_requests_total{method="GET",route="/api/stock",status="400"}' in text
    assert 'stockapi_upstream_fetches_total{outcome="ok",source="sample"}' in text
    assert "stockapi_http_request_duration_seconds_bucket" in text
