"""gunicorn settings for the image and `make backend`: `gunicorn --config gunicorn.conf.py` from this folder.

Defaults suit a 1-CPU container: two worker processes (one can serve while the other is busy or being
replaced), each running gevent: every connection is a greenlet, so one that sends its headers slowly waits
in the event loop instead of holding one of a few threads (README.md, "Slow clients"). WEB_CONCURRENCY
overrides the worker count; GUNICORN_WORKER_CLASS=gthread (with GUNICORN_THREADS) brings back the threaded
worker for comparison (`make bench`); HOST and PORT choose the address.
"""

import ctypes
import ctypes.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

wsgi_app = "stockapi:create_app()"
bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '5000')}"  # noqa: S104 (in a container)
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))  # gthread only
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
if worker_class == "gevent":
    # The worker patches again after the fork, but the app is loaded here in the master (preload_app): patch
    # first, so what it creates while loading (the cache's lock) is gevent's too, as gevent
    # asks (patch before anything else is imported).
    from gevent import monkey

    monkey.patch_all()
# Load the app once in the master and fork ready workers: they share its memory, start at once, and no
# worker listens before the others can (a burst of keep-alive clients would all land on the first one).
preload_app = True
# Kubernetes sends SIGTERM, then SIGKILL 30 s later: finish in-flight requests well before that.
graceful_timeout = 20
# A worker silent this long is restarted; longer than the upstream timeout (10 s) of a cold fetch.
timeout = 60
keepalive = 5
# Requests are small GETs; anything larger is not ours.
limit_request_line = 2048

# glibc's malloc raises its mmap threshold each time a large block is freed, after which the 100-450 kB
# answers the cache churns through are carved from per-thread arenas that fragment and never shrink:
# 3,000 distinct keys grew the workers to 388 and 355 MB with a 64 MB cache. A fixed threshold keeps
# every block above 128 kB in its own mapping, given back to the system when the cache drops it; two
# arenas bound the rest. Set here, in the master, before the app is loaded and the workers forked.
if sys.platform == "linux":
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if hasattr(_libc, "mallopt"):  # glibc; musl has no mallopt and no such growth
        _M_ARENA_MAX, _M_MMAP_THRESHOLD = -8, -3
        _libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
        _libc.mallopt(_M_ARENA_MAX, 2)

accesslog = "-"
errorlog = "-"
logger_class = "stockapi.logs.GunicornLogger"

# prometheus_client's multiprocess mode: each worker writes its samples to files in this directory and
# /metrics merges them. It must be set before prometheus_client is first imported (it picks its storage on
# import), and the directory must start empty.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_own_metrics_dir = not _metrics_dir
if _own_metrics_dir:
    _metrics_dir = tempfile.mkdtemp(prefix="stockapi-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir
else:
    for _stale in Path(_metrics_dir).glob("*.db"):
        _stale.unlink()


# Requests gunicorn rejects before the app sees them (request line too long, headers too large, malformed)
# get the API's JSON error body instead of gunicorn's HTML page. Workers are forked from this process, so
# they inherit the replacement.
import gunicorn.util  # noqa: E402

from stockapi.errors import write_gunicorn_error  # noqa: E402

gunicorn.util.write_error = write_gunicorn_error

# Imported now rather than in the hook: child_exit runs from the master's SIGCHLD handling, and a first import
# there can interleave with another one.
from prometheus_client import multiprocess  # noqa: E402


def child_exit(server, worker):
    # Drop the dead worker's live gauges (in-flight requests, cache bytes) from the merged view.
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
