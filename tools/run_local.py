"""`make run`: start the backend and the frontend together, print their URLs, stop both on Ctrl-C.

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


TIERS = (
    Tier("backend", "backend", "http://127.0.0.1:5000", "/readyz"),
    Tier("frontend", "frontend", "http://127.0.0.1:8501", "/_stcore/health"),
)


def is_healthy(url: str) -> bool:
    try:
        # The URLs are the fixed http://127.0.0.1 ones in TIERS.
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
    processes: dict[Tier, subprocess.Popen] = {}
    try:
        for tier in TIERS:
            processes[tier] = subprocess.Popen(
                ["make", "--no-print-directory", "-s", tier.target], start_new_session=True
            )
        problem = wait_until_up(processes)
        if problem:
            print(f"make run: {problem}", file=sys.stderr)
            return 1
        print("\nThe stock app is running:")
        for tier in TIERS:
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
