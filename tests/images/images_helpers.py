"""Helpers of the image checks: start a container the way its Deployment runs it, poll its probes, HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pod
import pytest
from podman import podman

REPO_ROOT = Path(__file__).resolve().parents[2]

RUN_ID = f"{os.getpid()}"
# No network here: the backend serves its deterministic sample data instead of Yahoo (the Deployment's
# `yahoo`, the image default). This one setting differs from the cluster, for both the backend and the e2e.
BACKEND_OVERRIDES = {"STOCK_DATA_SOURCE": "sample"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Running:
    name: str
    spec: pod.PodSpec
    # container port -> http://127.0.0.1:<published port>
    urls: dict[int, str]
    started: float
    ready_after_s: float = 0.0

    def url(self, port_name: str = "http") -> str:
        return self.urls[self.spec.ports[port_name]]

    def logs(self) -> str:
        result = podman(["logs", self.name], check=False)
        return (result.stdout + result.stderr)[-4000:]

    def inspect(self) -> dict:
        return json.loads(podman(["container", "inspect", self.name]).stdout)[0]

    def exec(self, *command: str) -> subprocess.CompletedProcess:
        return podman(["exec", self.name, *command], check=False)


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 5):
    """(status, headers, body) for any answer, an HTTP error included."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def is_running(name: str) -> bool:
    result = podman(["container", "inspect", "--format", "{{.State.Running}}", name], check=False)
    return result.stdout.strip() == "true"


def wait_for_probe(running: Running, probe: pod.Probe) -> float:
    """Seconds until the probe's path answers 200; fails when the container exits or the budget runs out."""
    url = f"{running.urls[probe.port]}{probe.path}"
    deadline = running.started + probe.budget_s
    while time.monotonic() < deadline:
        if not is_running(running.name):
            pytest.fail(f"{running.name} exited before {probe.path} answered:\n{running.logs()}")
        try:
            if get(url, timeout=2)[0] == 200:
                return time.monotonic() - running.started
        except OSError:
            pass
        # Polling: nothing to block on until the server listens.
        time.sleep(0.25)
    pytest.fail(
        f"{url} did not answer 200 within the probe budget of {probe.budget_s:.0f}s:\n{running.logs()}"
    )


def remove(*names: str) -> None:
    for name in names:
        podman(["rm", "--force", "--time", "0", name], check=False)


def start(
    resources, name: str, container: str, network: str, overrides: dict[str, str] | None = None
) -> Running:
    spec = pod.pod_spec(resources, name, env_overrides=overrides)
    publish = {port: free_port() for port in spec.ports.values()}
    started = time.monotonic()
    podman(pod.run_args(spec, resources, name=container, network=network, publish=publish))
    running = Running(
        container, spec, {port: f"http://127.0.0.1:{host}" for port, host in publish.items()}, started
    )
    running.ready_after_s = wait_for_probe(running, spec.probes["startupProbe"])
    return running
