"""Stock price API: a Flask app over Yahoo Finance with an in-process response cache.

`create_app()` is the WSGI entry point (gunicorn.conf.py names it). The package imports nothing heavy at
module level, so the gunicorn master can import `stockapi.logs` without loading pandas or yfinance.
"""

from __future__ import annotations

import typing

if typing.TYPE_CHECKING:
    from flask import Flask

    from stockapi.service import StockService
    from stockapi.settings import Settings


def create_app(settings: Settings | None = None, *, service: StockService | None = None) -> Flask:
    """Build the app; `settings` default to the environment, `service` replaces theirs (tests)."""
    from stockapi.app import build_app

    return build_app(settings, service=service)
