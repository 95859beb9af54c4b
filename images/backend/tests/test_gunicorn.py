"""A real gunicorn with the image's config: graceful shutdown, metrics merged across workers, JSON logs."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from stockapi_testing import BACKEND, assert_conforms, wait_for

GUNICORN = Path(sys.executable).with_name("gunicorn")


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    tmp: Path
    lines: list[str] = field(default_factory=list)

    def get(self, path: str, timeout: float = 30) -> tuple[int, bytes]:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
            body = response.read()
            assert_conforms(path.split("?")[0], "GET", response.status, response.headers, body)
            return response.status, body

    def metric(self, name: str, **labels: str) -> float:
        text = self.get("/metrics")[1].decode()
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    def logs(self) -> list[dict]:
        """Every line gunicorn and the app wrote, each of which must be a JSON object."""
        return [json.loads(line) for line in self.lines if line.strip()]


def start_server(tmp_path: Path, **env: str) -> Server:
    environment = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    # PORT=0: the kernel picks a free port, which gunicorn logs; TMPDIR: the metrics dir is made in tmp_path.
    environment |= {"HOST": "127.0.0.1", "PORT": "0", "STOCK_DATA_SOURCE": "sample", "TMPDIR": str(tmp_path)}
    environment |= env
    process = subprocess.Popen(
        [str(GUNICORN), "--config", "gunicorn.conf.py"],
        cwd=BACKEND,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = Server(process, "", tmp_path)
    listening: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            server.lines.append(line)
            if "Listening at: " in line:
                listening.put(json.loads(line)["message"].split("Listening at: ")[1].split()[0])

    threading.Thread(target=read, daemon=True).start()
    try:
        server.url = listening.get(timeout=60)
    except queue.Empty:
        process.kill()
        raise AssertionError("gunicorn did not start:\n" + "".join(server.lines)) from None
    wait_for(lambda: _answers(server, "/readyz"), what="readiness")
    return server


def _answers(server: Server, path: str) -> bool:
    try:
        return server.get(path, timeout=2)[0] == 200
    except OSError:
        return False


@pytest.fixture
def servers(tmp_path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


def test_requests_in_flight_at_sigterm_complete(servers, tmp_path):
    server = start_server(tmp_path, SAMPLE_LATENCY_MS="3000", WEB_CONCURRENCY="2", GUNICORN_THREADS="8")
    servers.append(server)
    in_flight = 6
    with ThreadPoolExecutor(in_flight) as pool:
        # Distinct cold keys, so each request waits for the (slow) data source.
        futures = [
            pool.submit(server.get, f"/api/stock?ticker=T{i}&start=2024-01-02&end=2024-01-31")
            for i in range(in_flight)
        ]
        # The scrape counts itself too.
        wait_for(
            lambda: server.metric("stockapi_http_requests_in_flight") == in_flight + 1,
            what="requests in flight",
        )
        server.process.send_signal(signal.SIGTERM)
        answers = [future.result() for future in futures]
    assert [status for status, _ in answers] == [200] * in_flight
    assert all(json.loads(body)["rows"] == 22 for _, body in answers)
    assert server.process.wait(timeout=60) == 0
    assert not list(tmp_path.glob("stockapi-metrics-*")), "the metrics directory outlived gunicorn"
    access = [entry for entry in server.logs() if entry["logger"] == "gunicorn.access"]
    assert sum(entry["path"] == "/api/stock" and entry["status"] == 200 for entry in access) == in_flight


def test_metrics_are_merged_across_workers_and_fetches_stay_per_worker(servers, tmp_path):
    workers = 2
    server = start_server(
        tmp_path, SAMPLE_LATENCY_MS="200", WEB_CONCURRENCY=str(workers), GUNICORN_THREADS="8"
    )
    servers.append(server)
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda _: server.get("/api/stock?ticker=NVDA")[0], range(48)))
    assert statuses == [200] * 48
    assert server.metric("stockapi_http_requests_total", route="/api/stock", status="200") == 48
    fetches = server.metric("stockapi_upstream_fetches_total", source="sample")
    assert 1 <= fetches <= workers
    hits_and_waits = server.metric("stockapi_cache_events_total", event="hit") + server.metric(
        "stockapi_cache_events_total", event="coalesced"
    )
    assert hits_and_waits == 48 - fetches
    serving_pids = {entry["pid"] for entry in server.logs() if entry.get("path") == "/api/stock"}
    assert serving_pids, "access log lines are JSON with the serving worker's pid"
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0


@pytest.mark.parametrize(
    ("headers", "query", "status"),
    [
        pytest.param({}, "?ticker=" + "A" * 3000, 400, id="request-line-too-long"),
        pytest.param({"X-Big": "a" * 9000}, "", 431, id="header-too-large"),
    ],
)
def test_requests_gunicorn_rejects_get_the_json_error_shape(servers, tmp_path, headers, query, status):
    """gunicorn answers these before Flask sees them; they must not get its HTML page."""
    server = start_server(tmp_path)
    servers.append(server)
    request = urllib.request.Request(server.url + "/api/stock" + query, headers=headers)
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=10)
    assert answer.value.code == status
    assert answer.value.headers["Content-Type"] == "application/json"
    error = json.loads(answer.value.read())["error"]
    assert error["code"]
    assert error["message"]
