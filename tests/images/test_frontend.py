"""The frontend image reaches the backend at the cluster's BACKEND_URL and passes the browser test."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from images_helpers import REPO_ROOT, RUN_ID, remove, start
from podman import podman


def test_the_frontend_reaches_the_backend_through_the_service_name(frontend):
    assert frontend.spec.env["BACKEND_URL"] == "http://stock-backend"
    # From inside the frontend container, through DNS (the alias) and the Service's port 80.
    script = "import os, urllib.request as r; print(r.urlopen(os.environ['BACKEND_URL'] + '/readyz').status)"
    result = frontend.exec("python", "-c", script)
    assert result.stdout.strip() == "200", result.stderr


def test_the_browser_test_passes_against_the_containers(frontend, tmp_path):
    out = REPO_ROOT / ".out" / "images" / "e2e"
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "E2E_FRONTEND_URL": frontend.url(), "E2E_OUT": str(out), "E2E_REQUIRED": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/e2e"],
        cwd=REPO_ROOT / "images" / "frontend",
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    print(result.stdout[-3000:])
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:] + frontend.logs()


def test_sigterm_ends_the_frontend_within_the_grace_period(resources, network, backend_service):
    name = f"stock-frontend-stop-{RUN_ID}"
    try:
        frontend = start(resources, "frontend", name, network)
        started = time.monotonic()
        podman(["stop", "--time", str(frontend.spec.grace_s), name])
        stop_s = time.monotonic() - started
        print(f"stock-frontend: stopped in {stop_s:.1f}s (grace {frontend.spec.grace_s}s)")
        assert stop_s < frontend.spec.grace_s
        assert frontend.inspect()["State"]["ExitCode"] == 0, frontend.logs()
    finally:
        remove(name)
