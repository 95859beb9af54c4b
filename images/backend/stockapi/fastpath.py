"""Fresh cache hits of /api/stock answered before Flask, as plain WSGI.

Nearly every request under load is a hit, and for a hit Flask's request context, routing, hooks and
Response object cost several times the work of the answer itself. Everything that is not a fresh hit
(misses, errors, other paths) goes on to Flask unchanged; hits use the same query parser, cache and
header logic (negotiate.answer) as the Flask route, so the two paths cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Iterable
from typing import Any

from stockapi import metrics
from stockapi.domain import StockQuery
from stockapi.errors import ApiError
from stockapi.negotiate import answer, status_line
from stockapi.service import StockService
from stockapi.validation import parse_query_string

ROUTE = "/api/stock"


@functools.lru_cache(maxsize=4096)
def _parse(query_string: str, today: dt.date) -> StockQuery | None:
    """The same few query strings arrive over and over; today is part of the key (it sets the defaults)."""
    try:
        # PEP 3333: QUERY_STRING holds the request's bytes as latin-1, so this gives them back exactly.
        return parse_query_string(query_string.encode("latin-1"), lambda: today)
    except ApiError:
        return None


class CacheHitFastPath:
    def __init__(self, app: Any, service: StockService) -> None:
        self.app = app
        self.service = service

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != ROUTE or environ.get("REQUEST_METHOD") != "GET":
            return self.app(environ, start_response)
        started = time.perf_counter()
        query = _parse(environ.get("QUERY_STRING", ""), self.service.today())
        # Bad input and misses go to Flask, which answers errors with the error helper and fetches misses.
        lookup = None if query is None else self.service.peek(query)
        if lookup is None:
            return self.app(environ, start_response)
        metrics.HTTP_IN_FLIGHT.inc()
        try:
            status, headers, body = answer(
                lookup,
                self.service.clock(),
                environ.get("HTTP_IF_NONE_MATCH"),
                environ.get("HTTP_ACCEPT_ENCODING"),
            )
            start_response(status_line(status), headers)
            metrics.observe_request(ROUTE, "GET", status, time.perf_counter() - started)
            return [body]
        finally:
            metrics.HTTP_IN_FLIGHT.dec()
