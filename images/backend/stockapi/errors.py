"""The API's errors and the one helper that turns any of them into a JSON response."""

from __future__ import annotations

import json
import logging
import math

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def __getattr__(name: str) -> object:
    # gunicorn.conf.py still imports write_gunicorn_error from here; it lives beside the gunicorn logger now.
    # Lazy, so this module does not import gunicorn, and module-level imports stay free of cycles.
    if name == "write_gunicorn_error":
        from stockapi.logs import write_gunicorn_error

        return write_gunicorn_error
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
