"""`make run`'s launcher (tools/run_local.py) as a real process on free loopback ports, for the tests that
need the app up: tests/tools/test_run_local.py (the launcher itself) and tests/workflows/test_k3d_live.py
(the k3d job's smoke test against it)."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "Press Ctrl-C to stop both."
STARTUP_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def launched() -> Iterator[tuple[subprocess.Popen, int, int]]:
    """The launcher with sample data, in a session of its own; the process and its backend and frontend
    ports. Whatever is still running at the end is killed by process group."""
    backend_port, frontend_port = free_port(), free_port()
    env = {
        **os.environ,
        "BACKEND_PORT": str(backend_port),
        "FRONTEND_PORT": str(frontend_port),
        "STOCK_DATA_SOURCE": "sample",
    }
    process = subprocess.Popen(
        [sys.executable, "tools/run_local.py"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield process, backend_port, frontend_port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def read_until(
    process: subprocess.Popen, marker: str = READY_LINE, timeout: float = STARTUP_TIMEOUT_S
) -> str:
    """Collect the launcher's output until `marker` appears (by default: both tiers answer their health
    checks); fail with that output otherwise.

    A reader thread feeds a queue: select() on the pipe would miss lines already sitting in the text
    wrapper's buffer and wait for output that never comes.
    """
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        # Also keeps the pipe drained after readiness, so the tiers never block on a full pipe.
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    seen = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    pytest.fail(f"make run did not report readiness; its output:\n{''.join(seen)}")
