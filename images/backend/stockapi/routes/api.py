"""/api/stock and the API's own description, /api/openapi.json."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from stockapi import config
from stockapi.cache import State
from stockapi.errors import ApiError
from stockapi.render import Body
from stockapi.service import StockService
from stockapi.validation import parse_query

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/stock")
def stock() -> Response:
    service: StockService = current_app.extensions["stockapi.service"]
    query = parse_query(request.args, service.today)
    lookup = service.lookup(query)
    entry = lookup.entry
    if isinstance(entry.value, ApiError):  # a cached "unknown ticker" / "no data"
        raise entry.value
    body: Body = entry.value
    now = service.clock()
    fresh_for = 0 if lookup.state is State.STALE else max(0, int(entry.fresh_until - now))
    headers = {
        "ETag": f'W/"{body.etag}"',
        "Cache-Control": f"public, max-age={fresh_for}, stale-if-error={config.STALE_IF_ERROR_S}",
        "Vary": "Accept-Encoding",
        "X-Cache": lookup.state.value,
        "Age": str(max(0, int(now - entry.fetched_at))),
    }
    if request.if_none_match.contains_weak(body.etag):
        return Response(status=304, headers=headers)
    if request.accept_encodings["gzip"]:
        headers["Content-Encoding"] = "gzip"
        return Response(body.gzipped, headers=headers, mimetype="application/json")
    return Response(body.plain, headers=headers, mimetype="application/json")


@bp.get("/openapi.json")
def openapi() -> Response:
    return Response(current_app.extensions["stockapi.openapi"], mimetype="application/json")
