"""What gunicorn loads from this package: JSON logs, and the JSON error for requests it rejects itself.

gunicorn.conf.py installs `GunicornLogger`, which formats gunicorn's own messages, the access log and the
app's loggers (via the root logger) with `JsonFormatter`, one object per line on stdout; and it puts
`write_gunicorn_error` in place of gunicorn.util.write_error. The only module here that imports gunicorn.
"""

from __future__ import annotations

import datetime as dt
import http
import json
import logging
import socket
import sys
from typing import Any

from gunicorn.glogging import Logger
from gunicorn.util import write_nonblock

from stockapi.errors import error_body

# LogRecord attributes that are not worth a field of their own.
_SKIPPED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "fields"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        entry.update((key, value) for key, value in vars(record).items() if key not in _SKIPPED)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class GunicornLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        formatter = JsonFormatter()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)
        # The app's own loggers (stockapi.*, yfinance) propagate to the root logger.
        root = logging.getLogger()
        if not any(getattr(handler, "_stockapi", False) for handler in root.handlers):
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(formatter)
            handler._stockapi = True  # type: ignore[attr-defined]
            root.addHandler(handler)
        root.setLevel(logging.INFO)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: dt.timedelta) -> None:
        if not self.cfg.accesslog:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        response_headers = {name.lower(): value for name, value in resp.headers}
        fields = {
            "remote": environ.get("REMOTE_ADDR"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "query": environ.get("QUERY_STRING"),
            "status": int(status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "cache": response_headers.get("x-cache"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
        }
        self.access_log.info("request", extra={"fields": fields})


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
