"""The API's errors and the one helper that turns any of them into a JSON response."""

from __future__ import annotations

import http
import json
import logging
import math
import socket

from flask import Flask, Response, request
from gunicorn.util import write_nonblock
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer other than 200, with a machine-readable code and a message naming the problem."""

    status = 500
    code = "internal"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def headers(self) -> dict[str, str]:
        return {}


class InvalidParameterError(ApiError):
    status = 400
    code = "invalid_parameter"


class NotFoundError(ApiError):
    """The symbol is unknown, or has no bars in the range; both are cached briefly."""

    status = 404
    code = "unknown_ticker"


class UpstreamUnavailableError(ApiError):
    status = 503
    code = "upstream_unavailable"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after), "Cache-Control": "no-store"}


def error_body(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":"))


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(error_body(code, message), status=status, headers=headers, mimetype="application/json")


def write_gunicorn_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Replacement for gunicorn.util.write_error, which answers requests gunicorn itself rejects.

    A request line over `limit_request_line`, oversized headers or a malformed request never reach Flask;
    gunicorn would answer them with an HTML page. This sends the API's JSON error shape instead.

    gunicorn 23 changes the status of some rejections but not the reason it starts from, "Bad Request": an
    unknown Transfer-Encoding (`xchunked`) gets 501, which RFC 9112 section 6.1 asks for, with that
    reason. The reason phrase and the error code therefore come from the status alone.
    """
    if status_int in http.HTTPStatus._value2member_map_:
        reason = http.HTTPStatus(status_int).phrase
    body = error_body(reason.lower().replace(" ", "_").replace("-", "_"), mesg or reason).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    write_nonblock(sock, head.encode("latin-1") + body)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        return error_response(error.status, error.code, error.message, error.headers())

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        # Routing errors (unknown path, wrong method) keep their status but get the API's JSON shape.
        code = (error.name or "error").lower().replace(" ", "_")
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}  # e.g. Allow on 405
        message = error.description or code
        if error.code == 404:
            message = f"no endpoint at {request.path}; the API is described at /api/openapi.json"
        return error_response(error.code or 500, code, message, headers)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "internal", "internal error; it has been logged")
