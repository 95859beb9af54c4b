"""`make run` for real: both tiers come up on loopback, answer, and both stop on Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest
from tools_helpers import REPO_ROOT, launched, listening, read_until


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read()


@pytest.fixture(name="launched")
def launched_fixture():
    with launched() as app:
        yield app


def test_make_run_serves_both_tiers_and_ctrl_c_stops_them(launched):
    process, backend_port, frontend_port = launched
    output = read_until(process)
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
