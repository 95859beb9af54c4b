"""The Flask application: configuration, collaborators, blueprints, error handlers, request metrics."""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml
from flask import Flask, Response, g, request

from stockapi import metrics
from stockapi.errors import register_error_handlers
from stockapi.fastpath import StockFastPath
from stockapi.routes import api, ops
from stockapi.service import StockService, utc_today
from stockapi.settings import Settings

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def build_app(settings: Settings | None = None, *, service: StockService | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    # Flask would answer OPTIONS itself with an empty text/html 200; this API serves no CORS preflight, so
    # OPTIONS gets the same JSON 405 as any other method a route does not take. Read when routes register.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    service = app.extensions["stockapi.service"] = service or _service(settings)
    app.extensions["stockapi.openapi"] = json.dumps(yaml.safe_load(OPENAPI_PATH.read_text())).encode()
    app.register_blueprint(api.bp)
    app.register_blueprint(ops.bp)
    register_error_handlers(app)
    _instrument(app)
    app.wsgi_app = StockFastPath(app.wsgi_app, service)  # type: ignore[method-assign]
    return app


def _service(settings: Settings) -> StockService:
    from stockapi.providers import make_providers

    primary, fallback = make_providers(settings, utc_today)
    return StockService(primary, fallback, max_bytes=settings.cache_max_bytes)


def _instrument(app: Flask) -> None:
    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()
        metrics.HTTP_IN_FLIGHT.inc()

    @app.after_request
    def record(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        # Unknown methods would each add a label value; they are all "other".
        method = request.method if request.method in KNOWN_METHODS else "other"
        metrics.observe_request(route, method, response.status_code, time.perf_counter() - g.started)
        return response

    @app.teardown_request
    def finish(_error: BaseException | None) -> None:
        if "started" in g:
            metrics.HTTP_IN_FLIGHT.dec()
