"""The real stack on loopback for the browser test: gunicorn backend (sample data), Streamlit, Chromium.

Each process is started by a fixture that always stops it (its whole process group), and readiness is
polled on the health endpoints rather than waited for with sleeps.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

FRONTEND = Path(__file__).resolve().parents[2]
BACKEND = FRONTEND.parent / "backend"
BIN = Path(sys.executable).parent
STARTUP_TIMEOUT_S = 60
# The flags GUIDE.md prescribes for Debian's Chromium in CI containers.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def out_dir() -> Path:
    """Where screenshots, timings and server logs go (git-ignored .out/e2e unless E2E_OUT says otherwise)."""
    path = Path(os.environ.get("E2E_OUT") or FRONTEND.parents[1] / ".out" / "e2e")
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args[0]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        # Polling a health endpoint: there is nothing to block on until the server listens.
        time.sleep(0.2)
    pytest.fail(f"{url} not healthy after {STARTUP_TIMEOUT_S}s; log:\n{log.read_text()[-3000:]}")


@contextmanager
def serve(command: list[str], *, cwd: Path, env: dict[str, str], health_url: str, log: Path) -> Iterator:
    with log.open("w") as sink:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_healthy(health_url, process, log)
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@contextmanager
def streamlit(
    backend_url: str, out_dir: Path, tmp_path_factory: pytest.TempPathFactory, name: str
) -> Iterator[tuple[str, int]]:
    """The dashboard on a free port, talking to backend_url; yields URL and PID. Log: <out_dir>/<name>.log."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # As in the container: a throwaway home, no file watcher.
    home = tmp_path_factory.mktemp(f"{name}-home")
    env = {"BACKEND_URL": backend_url, "HOME": str(home), "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}
    with serve(
        [str(BIN / "streamlit"), "run", "app.py", "--server.address=127.0.0.1", f"--server.port={port}"],
        cwd=FRONTEND,
        env=env,
        health_url=f"{url}/_stcore/health",
        log=out_dir / f"{name}.log",
    ) as process:
        yield url, process.pid


@pytest.fixture(scope="session")
def backend_url(out_dir: Path) -> Iterator[str]:
    if not (BACKEND / "gunicorn.conf.py").exists():
        pytest.fail(f"the backend is missing: {BACKEND / 'gunicorn.conf.py'}")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"HOST": "127.0.0.1", "PORT": str(port), "STOCK_DATA_SOURCE": "sample", "WEB_CONCURRENCY": "1"}
    with serve(
        [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py"],
        cwd=BACKEND,
        env=env,
        health_url=f"{url}/readyz",
        log=out_dir / "backend.log",
    ):
        yield url


@pytest.fixture(scope="session")
def frontend_url(
    request: pytest.FixtureRequest, out_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    # A frontend already running elsewhere, with its own backend (make check-images: the containers).
    if url := os.environ.get("E2E_FRONTEND_URL"):
        yield url
        return
    with streamlit(request.getfixturevalue("backend_url"), out_dir, tmp_path_factory, "frontend") as (url, _):
        yield url


@pytest.fixture(scope="module")
def own_frontend(backend_url: str, out_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A frontend only one test module talks to, and its process: for tests that measure the server."""
    with streamlit(backend_url, out_dir, tmp_path_factory, "own-frontend") as (url, pid):
        yield url, pid


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("E2E_REQUIRED") == "1":
            pytest.fail(f"{message}, and E2E_REQUIRED=1 makes the browser test mandatory")
        pytest.skip(message)
    return path


@contextmanager
def browser_page(chromium: str, profile: Path) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # A persistent context is how Playwright takes a --user-data-dir: a fresh, empty profile.
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 1000},
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


@pytest.fixture
def page(chromium: str, tmp_path: Path):
    """A browser with a fresh profile per test."""
    with browser_page(chromium, tmp_path / "profile") as page:
        yield page


@pytest.fixture(scope="module")
def module_page(chromium: str, tmp_path_factory: pytest.TempPathFactory):
    """One browser for a whole module, for many short cases that each load the page anew."""
    with browser_page(chromium, tmp_path_factory.mktemp("profile")) as page:
        yield page
