"""`make run` for real: both tiers come up on loopback, answer, and both stop on Ctrl-C."""

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "Press Ctrl-C to stop both."
STARTUP_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def read_until(process: subprocess.Popen, marker: str, timeout: float) -> str:
    """Collect the launcher's output until `marker` appears; fail with that output otherwise.

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


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read()


@pytest.fixture
def launched():
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


def test_make_run_serves_both_tiers_and_ctrl_c_stops_them(launched):
    process, backend_port, frontend_port = launched
    output = read_until(process, READY_LINE, STARTUP_TIMEOUT_S)
    assert f"http://127.0.0.1:{backend_port}" in output
    assert f"http://127.0.0.1:{frontend_port}" in output

    status, body = get(
        f"http://127.0.0.1:{backend_port}/api/stock?ticker=NVDA&start=2024-01-02&end=2024-01-31"
    )
    answer = json.loads(body)
    assert status == 200
    assert answer["source"] == "sample"
    assert answer["rows"] == len(answer["prices"]["close"]) > 0
    assert get(f"http://127.0.0.1:{frontend_port}/_stcore/health") == (200, b"ok")

    # A terminal's Ctrl-C reaches the launcher's whole process group.
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=30) == 0
    assert not listening(backend_port)
    assert not listening(frontend_port)


def test_a_bad_port_is_refused_with_a_clear_message():
    result = subprocess.run(
        [sys.executable, "tools/run_local.py"],
        cwd=REPO_ROOT,
        env={**os.environ, "BACKEND_PORT": "http"},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 1
    assert "BACKEND_PORT must be a TCP port number" in result.stderr
