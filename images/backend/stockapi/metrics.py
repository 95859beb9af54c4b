"""Prometheus metrics, correct under several gunicorn workers.

gunicorn.conf.py points PROMETHEUS_MULTIPROC_DIR at a fresh directory before the workers start; each worker
then writes its samples to memory-mapped files there, and /metrics merges the files of every worker
(prometheus_client's multiprocess mode). Without that variable (tests, a single process) the default
in-process registry is used.
"""

from __future__ import annotations

import functools
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HTTP_REQUESTS = Counter(
    "stockapi_http_requests_total",
    "HTTP requests answered, by route and status",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "stockapi_http_request_duration_seconds",
    "Time to answer an HTTP request, by route and status",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge(
    "stockapi_http_requests_in_flight", "HTTP requests being answered now", multiprocess_mode="livesum"
)
CACHE_EVENTS = Counter(
    "stockapi_cache_events_total",
    "Cache lookups by outcome: hit, miss (this request fetched), coalesced (waited for another "
    "request's fetch), stale (served an expired answer because the upstream failed)",
    ["event"],
)
CACHE_BYTES = Gauge("stockapi_cache_bytes", "Bytes held by the response cache", multiprocess_mode="livesum")
CACHE_ENTRIES = Gauge(
    "stockapi_cache_entries", "Answers held by the response cache", multiprocess_mode="livesum"
)
CACHE_HIT, CACHE_MISS, CACHE_COALESCED, CACHE_STALE = (
    CACHE_EVENTS.labels(event) for event in ("hit", "miss", "coalesced", "stale")
)
UPSTREAM_FETCHES = Counter(
    "stockapi_upstream_fetches_total",
    "Fetches from a data source, by source and outcome (ok, not_found, unavailable, error)",
    ["source", "outcome"],
)
UPSTREAM_LATENCY = Histogram(
    "stockapi_upstream_fetch_duration_seconds",
    "Time a data source took to answer",
    ["source"],
    buckets=LATENCY_BUCKETS,
)


@functools.cache
def _request_children(route: str, method: str, status: int) -> tuple[Counter, Histogram]:
    # labels() validates and locks on every call; the few (route, method, status) children are kept instead.
    return HTTP_REQUESTS.labels(route, method, str(status)), HTTP_LATENCY.labels(route, method, str(status))


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    counter, histogram = _request_children(route, method, status)
    counter.inc()
    histogram.observe(seconds)


def exposition() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
