"""The backend image answers the API contract, and stops cleanly under load within its grace period."""

from __future__ import annotations

import gzip
import json
import threading
import time
import urllib.error
import urllib.request

from images_helpers import BACKEND_OVERRIDES, RUN_ID, get, remove, start
from podman import podman

STOCK = "/api/stock?ticker=NVDA&start=2020-01-01&end=2020-12-31"


def test_a_valid_query_gets_prices_as_json(backend):
    status, headers, body = get(backend.url() + STOCK)
    assert status == 200, body[:300]
    assert headers["Content-Type"].startswith("application/json")
    answer = json.loads(body)
    assert answer["ticker"] == "NVDA"
    assert answer["source"] == "sample"
    assert answer["rows"] == len(answer["prices"]["date"]) > 200


def test_gzip_and_etag_revalidation(backend):
    plain = get(backend.url() + STOCK)[2]
    status, headers, body = get(backend.url() + STOCK, {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == plain
    etag = headers["ETag"]
    status, _, body = get(backend.url() + STOCK, {"If-None-Match": etag})
    assert (status, body) == (304, b"")


def test_bad_queries_get_json_errors_naming_the_problem(backend):
    cases = {
        "/api/stock?ticker=NVDA&start=2023-02-29": (400, "invalid_date"),
        "/api/stock?ticker=NV%20DA": (400, "invalid_ticker"),
        "/api/stock?ticker=NVDA&start=2024-01-01&end=2023-01-01": (400, "invalid_range"),
        "/api/stock?ticker=NVDA&interval=1h": (400, "invalid_interval"),
        "/api/stock": (400, "missing_parameter"),
        "/api/stock?ticker=UNKNOWN": (404, "unknown_ticker"),
    }
    for path, (expected_status, code) in cases.items():
        status, headers, body = get(backend.url() + path)
        assert status == expected_status, (path, body[:300])
        assert headers["Content-Type"].startswith("application/json"), path
        assert json.loads(body)["error"]["code"] == code, (path, body[:300])


def test_the_contract_is_served(backend):
    status, _, body = get(backend.url() + "/api/openapi.json")
    assert status == 200
    assert json.loads(body)["openapi"].startswith("3.1")


def test_sigterm_under_load_fails_no_request_in_flight_and_ends_within_the_grace_period(resources, network):
    # Its own container, as the test stops it; every request takes 300 ms upstream (a distinct range each,
    # so none is a cache hit) and is in flight when SIGTERM arrives.
    name = f"stock-backend-stop-{RUN_ID}"
    try:
        backend = start(
            resources, "backend", name, network, {**BACKEND_OVERRIDES, "SAMPLE_LATENCY_MS": "300"}
        )
        stopping = threading.Event()
        results: list[tuple[str, object]] = []
        lock = threading.Lock()

        def client(worker: int) -> None:
            for day in range(1, 10_000):
                if stopping.is_set():  # the endpoint is gone: the Service sends nothing new
                    return
                month, date = day % 12 + 1, day % 28 + 1
                query = f"ticker=W{worker}&start=2020-01-{date:02d}&end=2021-{month:02d}-{date:02d}"
                url = f"{backend.url()}/api/stock?{query}"
                try:
                    with urllib.request.urlopen(url, timeout=30) as response:
                        outcome = response.status
                        response.read()
                except (urllib.error.URLError, OSError) as error:
                    outcome = error
                with lock:
                    results.append((url, outcome))

        # Below the backend's workers x threads (2 x 4), so every request is being served, none queued.
        clients = [threading.Thread(target=client, args=(worker,)) for worker in range(6)]
        for thread in clients:
            thread.start()
        deadline = time.monotonic() + 30
        while len(results) < 12 and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the load's progress
        assert len(results) >= 12, f"the load did not get going: {results[:5]}\n{backend.logs()}"

        stopping.set()
        started = time.monotonic()
        podman(["stop", "--time", str(backend.spec.grace_s), name])
        stop_s = time.monotonic() - started
        for thread in clients:
            thread.join(timeout=35)
        state = backend.inspect()["State"]
        print(f"stock-backend: stopped in {stop_s:.1f}s (grace {backend.spec.grace_s}s); {len(results)} sent")
        failed = [(url, outcome) for url, outcome in results if outcome != 200]
        assert not failed, f"{len(failed)} of {len(results)} requests failed: {failed[:3]}\n{backend.logs()}"
        assert stop_s < backend.spec.grace_s
        assert state["ExitCode"] == 0, backend.logs()
    finally:
        remove(name)
