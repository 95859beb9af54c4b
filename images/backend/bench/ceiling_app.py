"""The benchmark's ceiling: a bare WSGI app that returns the same precomputed gzip bytes as the backend,
under the same gunicorn configuration. Nothing serves that answer faster on this gunicorn."""

from __future__ import annotations

import os
from pathlib import Path

BODY = Path(os.environ["CEILING_BODY"]).read_bytes()
HEADERS = [
    ("Content-Type", "application/json"),
    ("Content-Encoding", "gzip"),
    ("Content-Length", str(len(BODY))),
]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
