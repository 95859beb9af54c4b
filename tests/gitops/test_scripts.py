"""The two scripts the cluster runs from ConfigMaps: the load test and the metrics-server check.

Both are served by a local HTTP server on 127.0.0.1, with bounded request counts; it also stands in for
the API server that the check patches its CronJob on (what it receives is kept in `patches`).
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import check
import loadtest
import pytest
from gitops_helpers import resource

# path -> (status, JSON body); the server answers every GET, and every PATCH (by path without its query),
# from this table.
Routes = dict[str, tuple[int, object]]


@pytest.fixture
def patches() -> list[dict]:
    """Each PATCH the server received: its path with query, Content-Type and JSON body."""
    return []


@pytest.fixture
def server(patches: list[dict]) -> Iterator[tuple[str, Routes]]:
    routes: Routes = {}
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.answer(*routes.get(self.path, (404, {"error": "no route"})))

        def do_PATCH(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length)) if length else None
            patches.append(
                {"path": self.path, "content_type": self.headers.get("Content-Type"), "body": body}
            )
            path = urllib.parse.urlsplit(self.path).path
            self.answer(*routes.get(path, (404, {"error": "no route"})))

        def answer(self, status: int, body: object) -> None:
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


CRONJOB_PATH = "/apis/batch/v1/namespaces/kube-system/cronjobs/metrics-server-check"
CRONJOB = ("kube-system", "metrics-server-check")


def metrics_flow(routes: Routes) -> None:
    routes[APISERVICE_PATH] = (200, available("True"))
    routes[NODES_PATH] = (200, {"items": [{"usage": {"cpu": "5m"}}]})


def recorded_verdict(patches: list[dict]) -> dict[str, str]:
    """The one PATCH the run sent, checked for its shape; its annotations."""
    assert len(patches) == 1, f"the run sent {len(patches)} PATCH requests, not one: {patches}"
    (patch,) = patches
    assert urllib.parse.urlsplit(patch["path"]).path == CRONJOB_PATH
    assert "fieldManager=metrics-server-check" in patch["path"]
    # A merge patch of three annotations: nothing else on the CronJob is touched.
    assert patch["content_type"] == "application/merge-patch+json"
    assert list(patch["body"]) == ["metadata"]
    assert list(patch["body"]["metadata"]) == ["annotations"]
    annotations = patch["body"]["metadata"]["annotations"]
    assert set(annotations) == {check.RESULT, check.FINISHED, check.REASON}
    return annotations


def test_a_passing_run_records_success_on_its_cronjob(server, patches, capsys):
    base, routes = server
    metrics_flow(routes)
    routes[CRONJOB_PATH] = (200, {"kind": "CronJob"})
    assert check.run(base, "token", ssl.create_default_context(), CRONJOB, attempts=1, interval=0) == 0
    annotations = recorded_verdict(patches)
    assert annotations[check.RESULT] == check.SUCCEEDED
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", annotations[check.FINISHED])
    assert "node metrics are flowing" in annotations[check.REASON]
    assert "OK:" in capsys.readouterr().out


def test_a_failing_run_records_the_failure_and_still_fails(server, patches, capsys):
    base, routes = server
    routes[APISERVICE_PATH] = (200, available("False", "MissingEndpoints"))
    routes[CRONJOB_PATH] = (200, {"kind": "CronJob"})
    assert check.run(base, "token", ssl.create_default_context(), CRONJOB, attempts=2, interval=0) == 1
    annotations = recorded_verdict(patches)
    assert annotations[check.RESULT] == check.FAILED
    assert "is not Available: MissingEndpoints" in annotations[check.REASON]
    out = capsys.readouterr().out
    assert "attempt 2/2:" in out
    assert out.rstrip().splitlines()[-1].startswith("FAILED: the HPA cannot scale")


def test_a_passing_run_that_cannot_record_its_verdict_fails_and_says_so(server, patches, capsys):
    base, routes = server
    metrics_flow(routes)
    routes[CRONJOB_PATH] = (403, {"kind": "Status", "reason": "Forbidden"})
    assert check.run(base, "token", ssl.create_default_context(), CRONJOB, attempts=1, interval=0) == 1
    assert len(patches) == 1
    out = capsys.readouterr().out
    where = "CronJob kube-system/metrics-server-check"
    assert f"could not record the verdict on {where} (PATCH {CRONJOB_PATH}: HTTP 403" in out
    assert "rbac.yaml" in out


def test_a_failing_run_that_cannot_record_its_verdict_keeps_its_failure_message(server, capsys):
    base, routes = server
    routes[APISERVICE_PATH] = (503, {})
    assert check.run(base, "token", ssl.create_default_context(), CRONJOB, attempts=1, interval=0) == 1
    out = capsys.readouterr().out
    assert "could not record the verdict" in out
    assert out.rstrip().splitlines()[-1].startswith("FAILED: the HPA cannot scale")


def test_a_long_reason_is_cut_to_fit_an_annotation():
    annotations = check.verdict_patch(check.FAILED, "x" * 5000, 0)["metadata"]["annotations"]
    assert len(annotations[check.REASON]) == check.REASON_CHARS
    assert annotations[check.REASON].endswith("...")
    assert annotations[check.FINISHED] == "1970-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("unset", "bad", "message"),
    [
        ("CHECK_CRONJOB_NAME", {}, "CHECK_CRONJOB_NAME is not set"),
        ("CHECK_CRONJOB_NAMESPACE", {}, "CHECK_CRONJOB_NAMESPACE is not set"),
        ("KUBERNETES_SERVICE_HOST", {}, "KUBERNETES_SERVICE_HOST is not set"),
        (None, {"CHECK_ATTEMPTS": "six"}, "CHECK_ATTEMPTS='six' is not a number"),
        (None, {"CHECK_INTERVAL_SECONDS": "-1"}, "CHECK_INTERVAL_SECONDS='-1' is negative"),
        (None, {}, "the service account's token or CA in"),
    ],
)
def test_a_pod_without_what_the_check_needs_gets_a_clear_message(
    monkeypatch, tmp_path, capsys, unset, bad, message
):
    monkeypatch.setattr(check, "SERVICE_ACCOUNT", tmp_path / "no-service-account")
    for variable, value in {
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "CHECK_CRONJOB_NAME": "metrics-server-check",
        "CHECK_CRONJOB_NAMESPACE": "kube-system",
        **bad,
    }.items():
        monkeypatch.setenv(variable, value)
    if unset:
        monkeypatch.delenv(unset)
    assert check.main() == 2
    assert message in capsys.readouterr().out


def test_the_check_may_patch_its_own_cronjob_and_nothing_else(prod):
    """As rendered (kustomize rewrites names it thinks are references): the pod names the CronJob it
    runs in, and its account may patch that one, in its namespace, and do nothing else to it."""
    cronjob = resource(prod, "CronJob", "metrics-server-check")
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {variable["name"]: variable for variable in container["env"]}
    assert env[check.NAME_VARIABLE]["value"] == cronjob["metadata"]["name"]
    assert env[check.NAMESPACE_VARIABLE]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    binding = resource(prod, "RoleBinding", "metrics-server-check")
    assert binding["metadata"]["namespace"] == cronjob["metadata"]["namespace"]
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": pod["serviceAccountName"],
            "namespace": cronjob["metadata"]["namespace"],
        }
    ]
    role = resource(prod, "Role", binding["roleRef"]["name"])
    assert binding["roleRef"]["kind"] == "Role"
    assert role["metadata"]["namespace"] == cronjob["metadata"]["namespace"]
    assert role["rules"] == [
        {
            "apiGroups": ["batch"],
            "resources": ["cronjobs"],
            "resourceNames": [cronjob["metadata"]["name"]],
            "verbs": ["patch"],
        }
    ]
