"""Stock price API: a Flask app over Yahoo Finance with an in-process response cache.

`create_app()` is the WSGI entry point (gunicorn.conf.py names it). The package imports nothing heavy at
module level, so the gunicorn master can import `stockapi.logs` without loading pandas or yfinance.
"""

from __future__ import annotations

import typing

if typing.TYPE_CHECKING:
    from flask import Flask

    from stockapi.config import Settings


def create_app(settings: Settings | None = None, **services: typing.Any) -> Flask:
    """Build the app; `settings` default to the environment, `services` override collaborators in tests."""
    from stockapi.app import build_app

    return build_app(settings, **services)
