"""`make run`: start the backend and the frontend together, print their URLs, stop both on Ctrl-C.

The ports are 5000 and 8501 unless BACKEND_PORT / FRONTEND_PORT say otherwise; the frontend is always
pointed at the backend started here.

Each tier is started through its own make target (`make backend`, `make frontend`), so there is one
definition of how a tier runs locally. Each child gets its own process group: stopping it stops
gunicorn's or Streamlit's workers too, and if one tier dies the other is stopped rather than left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

STARTUP_TIMEOUT_S = 120
STOP_TIMEOUT_S = 15


@dataclass(frozen=True)
class Tier:
    name: str
    target: str
    url: str
    health_path: str
    make_vars: tuple[str, ...]


def tiers(backend_port: int, frontend_port: int) -> tuple[Tier, ...]:
    backend_url = f"http://127.0.0.1:{backend_port}"
    return (
        Tier("backend", "backend", backend_url, "/readyz", (f"BACKEND_PORT={backend_port}",)),
        Tier(
            "frontend",
            "frontend",
            f"http://127.0.0.1:{frontend_port}",
            "/_stcore/health",
            (f"FRONTEND_PORT={frontend_port}", f"BACKEND_URL={backend_url}"),
        ),
    )


def port_from_env(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    if not value.isdigit() or not 0 < int(value) < 65536:
        sys.exit(f"make run: {name} must be a TCP port number (1-65535), not {value!r}")
    return int(value)


def is_healthy(url: str) -> bool:
    try:
        # The URLs are the http://127.0.0.1 ones built in tiers().
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def stop(processes: dict[Tier, subprocess.Popen]) -> None:
    for process in processes.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for tier, process in processes.items():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{tier.name} did not stop within {STOP_TIMEOUT_S}s; killing it", file=sys.stderr)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_until_up(processes: dict[Tier, subprocess.Popen]) -> str | None:
    """Return None once every tier answers its health check, else a reason to give up."""
    pending = set(processes)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while pending:
        for tier in list(pending):
            if processes[tier].poll() is not None:
                return f"{tier.name} exited with status {processes[tier].returncode} while starting"
            if is_healthy(tier.url + tier.health_path):
                pending.discard(tier)
        if time.monotonic() > deadline:
            return "not healthy after {}s: {}".format(
                STARTUP_TIMEOUT_S, ", ".join(tier.name for tier in pending)
            )
        # Polling a health endpoint: there is nothing to block on until the server listens.
        time.sleep(0.5)
    return None


def main() -> int:
    # SIGTERM (e.g. from a supervisor) should stop the children just like Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    selected = tiers(port_from_env("BACKEND_PORT", 5000), port_from_env("FRONTEND_PORT", 8501))
    processes: dict[Tier, subprocess.Popen] = {}
    try:
        for tier in selected:
            processes[tier] = subprocess.Popen(
                ["make", "--no-print-directory", "-s", tier.target, *tier.make_vars], start_new_session=True
            )
        problem = wait_until_up(processes)
        if problem:
            print(f"make run: {problem}", file=sys.stderr)
            return 1
        print("\nThe stock app is running:")
        for tier in selected:
            print(f"  {tier.name:<9} {tier.url}")
        print("Press Ctrl-C to stop both.\n", flush=True)
        while True:
            for tier, process in processes.items():
                try:
                    process.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    continue
                print(f"make run: {tier.name} exited with status {process.returncode}", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
        return 0
    finally:
        stop(processes)


if __name__ == "__main__":
    sys.exit(main())
