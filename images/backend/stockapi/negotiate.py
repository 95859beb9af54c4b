"""HTTP for a cached answer: status (200 or 304), ETag, Content-Encoding and the cache headers.

The one place that turns a cache Lookup into what goes on the wire. Both ways in use it: the Flask route
(routes/api.py) and the WSGI fast path (fastpath.py), so their answers agree by construction. Error
statuses are not decided here but by the error classes in errors.py.
"""

from __future__ import annotations

import functools
import http

from werkzeug.http import parse_accept_header, parse_etags

from stockapi.cache import Lookup, State
from stockapi.policy import STALE_IF_ERROR_S
from stockapi.render import Body

Answer = tuple[int, list[tuple[str, str]], bytes]


@functools.lru_cache(maxsize=256)
def _accepts_gzip(accept_encoding: str) -> bool:
    return parse_accept_header(accept_encoding)["gzip"] > 0


@functools.cache
def status_line(status: int) -> str:
    """WSGI's status string ("304 Not Modified") for a status answer() returns."""
    return f"{status} {http.HTTPStatus(status).phrase}"


def answer(lookup: Lookup, now: float, if_none_match: str | None, accept_encoding: str | None) -> Answer:
    """Status, headers and body of a cached 200 answer, negotiated for one request.

    `lookup` must hold a rendered Body; StockService.lookup and .peek raise or skip cached errors.
    """
    entry = lookup.entry
    body = entry.value
    if not isinstance(body, Body):
        raise TypeError(f"answer() needs a rendered Body, not {type(body).__name__}")
    fresh_for = 0 if lookup.state is State.STALE else max(0, int(entry.fresh_until - now))
    headers = [
        ("ETag", f'W/"{body.etag}"'),
        ("Cache-Control", f"public, max-age={fresh_for}, stale-if-error={STALE_IF_ERROR_S}"),
        ("Vary", "Accept-Encoding"),
        ("X-Cache", lookup.state.value),
        ("Age", str(max(0, int(now - entry.fetched_at)))),
    ]
    if if_none_match and parse_etags(if_none_match).contains_weak(body.etag):
        return 304, headers, b""
    headers.append(("Content-Type", "application/json"))
    if accept_encoding and _accepts_gzip(accept_encoding):
        headers.append(("Content-Encoding", "gzip"))
        content = body.gzipped
    else:
        content = body.plain
    headers.append(("Content-Length", str(len(content))))
    return 200, headers, content
