"""/api/stock and the API's own description, /api/openapi.json."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from stockapi.negotiate import answer
from stockapi.service import StockService
from stockapi.validation import parse_query_string

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/stock")
def stock() -> Response:
    service: StockService = current_app.extensions["stockapi.service"]
    query = parse_query_string(request.query_string, service.today)
    lookup = service.lookup(query)
    status, headers, body = answer(
        lookup, service.clock(), request.headers.get("If-None-Match"), request.headers.get("Accept-Encoding")
    )
    return Response(body, status=status, headers=headers)


@bp.get("/openapi.json")
def openapi() -> Response:
    return Response(current_app.extensions["stockapi.openapi"], mimetype="application/json")
