"""The two scripts the cluster runs from ConfigMaps: the load test and the metrics-server check.

Both are served by a local HTTP server on 127.0.0.1, with bounded request counts.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import check
import loadtest
import pytest

# path -> (status, JSON body); the server answers every GET from this table.
Routes = dict[str, tuple[int, object]]


@pytest.fixture
def server() -> Iterator[tuple[str, Routes]]:
    routes: Routes = {}
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            status, body = routes.get(self.path, (404, {"error": "no route"}))
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", routes
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_loadtest_sends_exactly_the_requested_rounds(server, capsys):
    base, routes = server
    routes["/api/stock"] = (200, {"rows": 1})
    assert loadtest.main(["--url", f"{base}/api/stock", "--rounds", "6", "--concurrency", "10"]) == 0
    out = capsys.readouterr().out
    assert "rounds:      6 of 6" in out
    assert "requests:    60" in out
    assert "failures:    0" in out
    assert "req/s:" in out


def test_loadtest_keeps_the_hand_ins_shape():
    """Like `seq 1 C | xargs -P C curl` in a loop: C requests in flight at once, then the next round.

    The server holds the first answer of each round back until a later request arrives or HOLD seconds
    pass. Rounds never overlap, so nothing arrives while it is held; a client that refills its free slots
    (a plain pool of C workers) sends at once, and a client with fewer than C in flight breaks the barrier.
    """
    concurrency, rounds, hold = 5, 3, 0.4
    barrier = threading.Barrier(concurrency, timeout=10)
    arrived = threading.Condition()
    state = {"arrivals": 0, "overlaps": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with arrived:
                state["arrivals"] += 1
                arrived.notify_all()
            try:
                first = barrier.wait() == 0
            except threading.BrokenBarrierError:
                self.send_error(500, "fewer requests in flight than the round's size")
                return
            if first:
                with arrived:
                    seen = state["arrivals"]
                    if arrived.wait_for(lambda: state["arrivals"] > seen, timeout=hold):
                        state["overlaps"] += 1
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/api/stock"
        tally, _ = loadtest.run(url, rounds=rounds, concurrency=concurrency, timeout=15, max_seconds=60)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert tally.failures == {}
    assert (tally.rounds, tally.ok) == (rounds, rounds * concurrency)
    assert state == {"arrivals": rounds * concurrency, "overlaps": 0}


def test_loadtest_counts_failures_by_kind_and_fails(server, capsys):
    base, routes = server
    routes["/api/stock"] = (503, {"error": "upstream"})
    assert loadtest.main(["--url", f"{base}/api/stock", "--rounds", "5", "--concurrency", "4"]) == 1
    out = capsys.readouterr().out
    assert "failures:    20" in out
    assert "20 x HTTP 503" in out


def test_loadtest_stops_at_its_deadline():
    tally, elapsed = loadtest.run(
        "http://127.0.0.1:9/", rounds=10**9, concurrency=2, timeout=1, max_seconds=0.3
    )
    assert 0 < tally.rounds < 10**9
    assert elapsed < 5


@pytest.mark.parametrize(
    "argv",
    [
        ["--url", "http://x", "--rounds", "0"],
        ["--url", "ftp://x"],
        ["--url", "http://x", "--concurrency", "-1"],
    ],
)
def test_loadtest_refuses_bad_arguments(argv):
    with pytest.raises(SystemExit) as exit_info:
        loadtest.main(argv)
    assert exit_info.value.code == 2


def available(status: str, reason: str = "Passed") -> dict:
    return {
        "status": {"conditions": [{"type": "Available", "status": status, "reason": reason, "message": "m"}]}
    }


def test_apiservice_verdicts():
    assert check.apiservice_problem(available("True")) is None
    assert "is not Available: FailedDiscoveryCheck" in check.apiservice_problem(
        available("False", "FailedDiscoveryCheck")
    )
    assert "no Available condition" in check.apiservice_problem({})


def test_node_metrics_verdicts():
    assert check.node_metrics_problem({"items": [{"usage": {"cpu": "12m", "memory": "1Mi"}}]}) is None
    assert "no node reports CPU usage" in check.node_metrics_problem({"items": []})


APISERVICE_PATH = "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io"
NODES_PATH = "/apis/metrics.k8s.io/v1beta1/nodes"


def test_check_passes_when_metrics_flow(server):
    base, routes = server
    routes[APISERVICE_PATH] = (200, available("True"))
    routes[NODES_PATH] = (200, {"items": [{"usage": {"cpu": "5m"}}]})
    check.check_once(base, "token", ssl.create_default_context())


@pytest.mark.parametrize(
    ("apiservice", "nodes", "message"),
    [
        ((200, available("False", "MissingEndpoints")), (200, {"items": []}), "MissingEndpoints"),
        ((200, available("True")), (503, {}), "HTTP 503"),
        ((403, {}), (200, {"items": []}), "HTTP 403"),
    ],
)
def test_check_fails_with_the_reason(server, apiservice, nodes, message):
    base, routes = server
    routes[APISERVICE_PATH] = apiservice
    routes[NODES_PATH] = nodes
    with pytest.raises(check.CheckFailedError, match=message):
        check.check_once(base, "token", ssl.create_default_context())


def test_check_reports_an_unreachable_api_server():
    with pytest.raises(check.CheckFailedError, match="GET /apis"):
        check.check_once("http://127.0.0.1:9", "token", ssl.create_default_context())
