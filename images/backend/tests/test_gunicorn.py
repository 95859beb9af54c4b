"""A real gunicorn with the image's config: graceful shutdown, metrics merged across workers, JSON logs."""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import re
import signal
import socket
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
import yaml
from prometheus_client.parser import text_string_to_metric_families
from stockapi_testing import BACKEND, assert_conforms, wait_for

GUNICORN = Path(sys.executable).with_name("gunicorn")
KUBECTL = Path(sys.executable).with_name("kubectl")
QUANTITY_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9, "": 1}


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


def raw_request(server: Server, request: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send bytes exactly as given (no client library sends a raw 0xE9); the status line, headers, body."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return status_line, headers, body


def get_raw(target: bytes) -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"


def test_raw_bytes_and_unknown_transfer_codings_get_json_errors_and_no_logged_error(servers, tmp_path):
    server = start_server(tmp_path)
    servers.append(server)
    for target, code, named in [
        (b"/api/stock?ticker=\xe9", "invalid_ticker", "'ticker'"),
        (b"/api/stock?ticker=NVDA&end=2024-01-0\xff", "invalid_date", "'end'"),
        (b"/api/stock?\xe9=NVDA", "unknown_parameter", "parameter name"),
    ]:
        status_line, headers, body = raw_request(server, get_raw(target))
        assert status_line == "HTTP/1.1 400 BAD REQUEST", (target, body)
        error = json.loads(body)["error"]
        assert (error["code"], named in error["message"]) == (code, True), error
    # Every single byte as the ticker's value: whatever gunicorn or the app makes of it, never a 5xx.
    for byte in range(256):
        status_line, headers, body = raw_request(server, get_raw(b"/api/stock?ticker=" + bytes([byte])))
        assert status_line.split()[1] < "500", (byte, status_line, body)
        assert headers["Content-Type"] == "application/json", (byte, headers)
        assert set(json.loads(body)) <= {
            "error",
            "ticker",
            "start",
            "end",
            "interval",
            "source",
            "rows",
            "prices",
        }
    # RFC 9112 section 6.1: a transfer coding the server does not understand is a 501 Not Implemented.
    status_line, headers, body = raw_request(
        server,
        b"POST /api/stock HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    )
    assert status_line == "HTTP/1.1 501 Not Implemented"
    error = json.loads(body)["error"]
    assert error["code"] == "not_implemented"
    assert "xchunked" in error["message"]
    # gunicorn logs that rejection as a warning before it answers, so once the line is read, every error
    # the earlier requests could have logged (before their answers) has been read too.
    wait_for(
        lambda: any("xchunked" in entry["message"] for entry in server.logs()), what="the 501's log line"
    )
    problems = [
        entry for entry in server.logs() if entry["level"] in ("error", "critical") or "exception" in entry
    ]
    assert problems == []


def deployment_memory_limit() -> int:
    """The backend container's memory limit in bytes, from apps/stock-app as kustomize renders it."""
    rendered = subprocess.run(
        [str(KUBECTL), "kustomize", str(BACKEND.parents[1] / "apps" / "stock-app")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    (limit,) = [
        container["resources"]["limits"]["memory"]
        for doc in yaml.safe_load_all(rendered)
        if doc and doc["kind"] == "Deployment" and doc["metadata"]["name"] == "stock-backend"
        for container in doc["spec"]["template"]["spec"]["containers"]
    ]
    number, unit = re.fullmatch(r"(\d+)([KMG]i?|)", limit).groups()
    return int(number) * QUANTITY_UNITS[unit]


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) * 1024


def test_many_distinct_keys_keep_master_and_workers_under_the_pods_memory_limit(servers, tmp_path):
    """2,000 large answers (25 years of daily bars) through the default 2 workers and 64 MB caches.

    Without the fixed mmap threshold in gunicorn.conf.py the workers' heaps fragment and grow far past the
    cache bound (788 MB for master and workers after these keys, still rising; 862 MB after 3,000).
    """
    limit = deployment_memory_limit()
    server = start_server(tmp_path, SAMPLE_LATENCY_MS="0")
    servers.append(server)
    first, keys = dt.date(1995, 1, 2), 2_000

    def ask(i: int) -> int:
        start = first + dt.timedelta(days=i)
        request = urllib.request.Request(
            f"{server.url}/api/stock?ticker=M{i % 20}&start={start}&end=2025-08-01",
            headers={"Accept-Encoding": "gzip"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
            return response.status

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(ask, range(keys)))
    assert statuses == [200] * keys
    workers = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    total = rss_bytes(server.process.pid) + sum(rss_bytes(int(pid)) for pid in workers)
    print(f"master + {len(workers)} workers: {total / 2**20:.0f} MiB of a {limit / 2**20:.0f} MiB limit")
    assert total < 0.8 * limit, (
        f"{total / 2**20:.0f} MiB is not under 80 % of the {limit / 2**20:.0f} MiB limit"
    )


def test_clients_sending_headers_slowly_do_not_block_other_requests(servers, tmp_path):
    """Twice as many half-sent requests as the default 2 workers x 4 threads: gthread gave each one a thread
    that waited for the rest of its headers, and /healthz behind them went unanswered (issue 15)."""
    server = start_server(tmp_path)
    servers.append(server)
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    slow = [socket.create_connection((host, int(port)), timeout=10) for _ in range(16)]
    try:
        for connection in slow:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Unfinished: ")
        # New connections each, as a liveness probe makes them; the timeout bounds the test, it is no goal.
        statuses = [server.get("/healthz", timeout=10)[0] for _ in range(8)]
    finally:
        for connection in slow:
            connection.close()
    assert statuses == [200] * 8
