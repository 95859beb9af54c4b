"""Liveness, readiness and metrics, for Kubernetes probes and Prometheus."""

from __future__ import annotations

from flask import Blueprint, Response

from stockapi import metrics

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> dict[str, str]:
    # Ready as soon as the app is built: its configuration was valid and its providers were created. It
    # deliberately does not ask Yahoo: an upstream outage is answered per request (from the cache, or with
    # 503 and Retry-After), whereas failing readiness would drop every pod from the Service at once.
    return {"status": "ready"}


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)
