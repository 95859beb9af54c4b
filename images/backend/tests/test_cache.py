"""The cache: single-flight, TTL by recency, stale-if-error, negative caching, the memory bound, back-off."""

from __future__ import annotations

import datetime as dt
import gc
import gzip
import json
import math
import threading
import tracemalloc

import pytest
from prometheus_client import REGISTRY
from stockapi_testing import OLD_RANGE, TODAY, ControlledProvider, build_app, wait_for
from werkzeug.test import EnvironBuilder

from stockapi import policy
from stockapi.cache import State
from stockapi.errors import UpstreamUnavailableError
from stockapi.service import StockService
from stockapi.validation import StockQuery

OLD = StockQuery("NVDA", dt.date(2010, 1, 1), dt.date(2025, 8, 1))
RECENT = StockQuery("NVDA", dt.date(2025, 6, 1), TODAY)


def cache_events(event: str) -> float:
    return REGISTRY.get_sample_value("stockapi_cache_events_total", {"event": event}) or 0.0


def service_for(provider, clock, **kwargs) -> StockService:
    return StockService(
        provider, today=lambda: TODAY, clock=clock, max_bytes=kwargs.pop("max_bytes", 64 << 20), **kwargs
    )


def test_200_concurrent_misses_for_one_key_cause_exactly_one_fetch(provider, clock):
    service = service_for(provider, clock)
    threads = 200
    coalesced_before = cache_events("coalesced")
    # The one fetch finishes only once every other thread is waiting for it.
    provider.before_fetch = lambda: wait_for(
        lambda: cache_events("coalesced") - coalesced_before == threads - 1, what="199 coalesced waiters"
    )
    start = threading.Barrier(threads)
    results: list = [None] * threads

    def ask(i: int) -> None:
        start.wait()
        results[i] = service.lookup(OLD)

    workers = [threading.Thread(target=ask, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(provider.fetches) == 1
    assert len({id(result.entry) for result in results}) == 1
    assert {result.state for result in results} == {State.MISS}


def test_a_failed_fetch_is_shared_by_its_waiters_and_not_cached(provider, clock):
    service = service_for(provider, clock)
    provider.fail = UpstreamUnavailableError("down", retry_after=5)
    with pytest.raises(UpstreamUnavailableError):
        service.lookup(OLD)
    clock.advance(5)
    provider.fail = None
    assert service.lookup(OLD).state is State.MISS
    assert len(provider.fetches) == 2


@pytest.mark.parametrize(("query", "ttl"), [(OLD, policy.TTL_HISTORICAL_S), (RECENT, policy.TTL_RECENT_S)])
def test_entries_expire_after_a_ttl_chosen_by_recency(provider, clock, query, ttl):
    service = service_for(provider, clock)
    assert service.lookup(query).state is State.MISS
    clock.advance(ttl - 1)
    assert service.lookup(query).state is State.HIT
    clock.advance(1)
    assert service.lookup(query).state is State.MISS
    assert len(provider.fetches) == 2


def test_stale_answer_is_served_when_the_upstream_fails(client, provider, clock):
    fresh = client.get(f"/api/stock?{OLD_RANGE}")
    clock.advance(policy.TTL_HISTORICAL_S + 10)
    provider.fail = UpstreamUnavailableError("rate limited", retry_after=60)
    stale = client.get(f"/api/stock?{OLD_RANGE}")
    assert stale.status_code == 200
    assert stale.headers["X-Cache"] == "STALE"
    assert stale.headers["Age"] == str(policy.TTL_HISTORICAL_S + 10)
    assert "max-age=0" in stale.headers["Cache-Control"]
    assert stale.get_data() == fresh.get_data()
    # Past the stale-if-error window the failure shows.
    clock.advance(policy.STALE_IF_ERROR_S)
    gone = client.get(f"/api/stock?{OLD_RANGE}")
    assert gone.status_code == 503
    assert gone.get_json()["error"]["code"] == "upstream_unavailable"


def test_unavailable_upstream_with_nothing_cached_is_a_503_with_retry_after(client, provider):
    provider.fail = UpstreamUnavailableError("Yahoo Finance is rate-limiting", retry_after=60)
    response = client.get(f"/api/stock?{OLD_RANGE}")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert "rate-limiting" in response.get_json()["error"]["message"]


def test_after_a_failure_new_misses_skip_the_upstream_until_retry_after(client, provider, clock):
    provider.fail = UpstreamUnavailableError("down", retry_after=30)
    assert client.get("/api/stock?ticker=AAA").status_code == 503
    clock.advance(10)
    response = client.get("/api/stock?ticker=BBB")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "20"
    assert response.get_json()["error"]["message"].startswith("down; not asked again")
    assert [query.ticker for query in provider.fetches] == ["AAA"]
    clock.advance(20)
    provider.fail = None
    assert client.get("/api/stock?ticker=BBB").status_code == 200


def test_steady_traffic_across_a_back_off_asks_the_upstream_again_when_it_ends(client, provider, clock):
    """10 requests a second on uncached keys for 95 s while the upstream is down, then it recovers."""
    provider.fail = UpstreamUnavailableError("down", retry_after=policy.UPSTREAM_BACKOFF_S)
    asked_at: list[float] = []
    provider.before_fetch = lambda: asked_at.append(clock.now)
    began = clock.now
    bodies = set()
    for i in range(950):
        clock.now = began + i / 10
        response = client.get(f"/api/stock?ticker=K{i}")
        assert response.status_code == 503
        bodies.add(response.get_data())
        # Retry-After counts down to the real deadline: the last attempt plus its back-off.
        deadline = asked_at[-1] + policy.UPSTREAM_BACKOFF_S * 2 ** (len(asked_at) - 1)
        assert int(response.headers["Retry-After"]) == max(1, math.ceil(deadline - clock.now))
    # Asked at once, again when the 30 s back-off ended, and again after the doubled 60 s one.
    assert [round(t - began, 1) for t in asked_at] == [0, 30, 90]
    assert len(bodies) == 2  # the provider's own failure, then one fixed refusal
    provider.fail = None
    clock.now = asked_at[-1] + 4 * policy.UPSTREAM_BACKOFF_S
    assert client.get("/api/stock?ticker=LATE").status_code == 200
    # A success ends the back-off at once: the next miss goes straight to the upstream.
    assert client.get("/api/stock?ticker=NEXT").status_code == 200
    assert len(asked_at) == 5


def test_repeated_failures_grow_the_back_off_up_to_a_cap_and_a_success_resets_it(provider, clock):
    service = service_for(provider, clock)
    provider.fail = UpstreamUnavailableError("down", retry_after=30)
    backoffs = []
    for i in range(7):
        with pytest.raises(UpstreamUnavailableError) as first:
            service.lookup(StockQuery(f"T{i}", OLD.start, OLD.end))
        asked = len(provider.fetches)
        with pytest.raises(UpstreamUnavailableError) as refused:
            service.lookup(StockQuery(f"R{i}", OLD.start, OLD.end))
        assert len(provider.fetches) == asked  # refused without asking
        assert first.value.retry_after == refused.value.retry_after
        backoffs.append(refused.value.retry_after)
        clock.advance(refused.value.retry_after)
    assert backoffs == [30, 60, 120, 240, 300, 300, 300]
    assert policy.UPSTREAM_BACKOFF_MAX_S == 300
    provider.fail = None
    assert service.lookup(StockQuery("UP", OLD.start, OLD.end)).state is State.MISS
    provider.fail = UpstreamUnavailableError("down", retry_after=30)
    with pytest.raises(UpstreamUnavailableError):
        service.lookup(StockQuery("DOWN", OLD.start, OLD.end))
    with pytest.raises(UpstreamUnavailableError) as refused:
        service.lookup(StockQuery("AGAIN", OLD.start, OLD.end))
    assert refused.value.retry_after == 30


def test_when_a_back_off_ends_one_miss_asks_again_while_the_others_are_refused(provider, clock):
    service = service_for(provider, clock)
    provider.fail = UpstreamUnavailableError("down", retry_after=30)
    with pytest.raises(UpstreamUnavailableError):
        service.lookup(StockQuery("A", OLD.start, OLD.end))
    clock.advance(30)
    release = threading.Event()
    # Only the probe waits at the upstream; any other fetch (the bug) answers at once and fails the test.
    provider.before_fetch = lambda: provider.fetches[-1].ticker == "PROBE" and release.wait()
    provider.fail = None
    probe = threading.Thread(target=service.lookup, args=(StockQuery("PROBE", OLD.start, OLD.end),))
    probe.start()
    try:
        wait_for(lambda: len(provider.fetches) == 2, what="the probe to reach the upstream")
        for ticker in ("B", "C", "D"):
            with pytest.raises(UpstreamUnavailableError) as refused:
                service.lookup(StockQuery(ticker, OLD.start, OLD.end))
            assert refused.value.retry_after == 1
    finally:
        release.set()
        probe.join()
    assert [query.ticker for query in provider.fetches] == ["A", "PROBE"]
    assert service.lookup(StockQuery("B", OLD.start, OLD.end)).state is State.MISS


def test_fetches_failing_together_count_as_one_failure(provider, clock):
    service = service_for(provider, clock)
    provider.fail = UpstreamUnavailableError("down", retry_after=30)
    all_asked = threading.Barrier(3)
    provider.before_fetch = all_asked.wait
    errors = []

    def ask(ticker: str) -> None:
        try:
            service.lookup(StockQuery(ticker, OLD.start, OLD.end))
        except UpstreamUnavailableError as error:
            errors.append(error)

    threads = [threading.Thread(target=ask, args=(ticker,)) for ticker in ("A", "B", "C")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 3
    with pytest.raises(UpstreamUnavailableError) as refused:
        service.lookup(StockQuery("D", OLD.start, OLD.end))
    assert refused.value.retry_after == 30  # one outage, not three failures in a row (120 s)


def test_the_refusal_has_the_same_size_on_the_1st_and_10000th_request_and_memory_stays_flat(
    app, provider, clock
):
    provider.fail = UpstreamUnavailableError("Yahoo Finance is unavailable (DNSError)", retry_after=30)
    environ = EnvironBuilder(path="/api/stock", query_string="ticker=NVDA").get_environ()
    statuses = []

    def refused() -> bytes:
        # 10,000 requests a millisecond apart: 10 s, inside the 30 s back-off.
        clock.advance(0.001)
        # The bare WSGI call: a test client would keep state of its own across 10,000 requests.
        body = b"".join(app(dict(environ), lambda status, headers, exc_info=None: statuses.append(status)))
        assert statuses.pop().startswith("503")
        return body

    failure = refused()  # the one request that asked the upstream
    first = refused()
    for _ in range(2, 8_000):
        refused()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(8_000, 10_000):
            last = refused()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(provider.fetches) == 1
    assert json.loads(failure)["error"]["message"] == provider.fail.message
    assert grown < 16 * 1024, f"{grown} bytes more after the last 2,000 refusals"
    assert len(first) == len(last) < 200, (first, last)


def test_unknown_tickers_are_cached_briefly(client, provider, clock):
    for _ in range(3):
        response = client.get("/api/stock?ticker=UNKNOWN")
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "unknown_ticker"
    assert len(provider.fetches) == 1
    clock.advance(policy.TTL_NEGATIVE_S)
    client.get("/api/stock?ticker=UNKNOWN")
    assert len(provider.fetches) == 2


def test_memory_is_bounded_and_least_recently_used_entries_go_first(provider, clock):
    one = service_for(provider, clock).lookup(OLD).entry.size
    service = service_for(provider, clock, max_bytes=3 * one + one // 2)
    queries = [StockQuery(t, OLD.start, OLD.end) for t in ("AAA", "BBB", "CCC", "DDD")]
    for query in queries[:3]:
        service.lookup(query)
    service.lookup(queries[0])  # AAA is now the most recently used
    service.lookup(queries[3])  # evicts BBB, the least recently used
    assert service.cache.current_bytes <= 3 * one + one // 2
    assert len(service.cache) == 3
    fetched = len(provider.fetches)
    assert service.lookup(queries[0]).state is State.HIT
    assert service.lookup(queries[1]).state is State.MISS
    assert len(provider.fetches) == fetched + 1


def test_an_answer_larger_than_the_whole_cache_is_served_but_not_kept(provider, clock):
    service = service_for(provider, clock, max_bytes=1000)
    assert service.lookup(OLD).state is State.MISS
    assert service.lookup(OLD).state is State.MISS
    assert service.cache.current_bytes == 0


def test_etag_and_if_none_match_give_304(client):
    first = client.get(f"/api/stock?{OLD_RANGE}")
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    again = client.get(f"/api/stock?{OLD_RANGE}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["ETag"] == etag
    assert (
        client.get(f"/api/stock?{OLD_RANGE}", headers={"If-None-Match": '"other", ' + etag}).status_code
        == 304
    )
    assert client.get(f"/api/stock?{OLD_RANGE}", headers={"If-None-Match": "*"}).status_code == 304
    assert client.get(f"/api/stock?{OLD_RANGE}", headers={"If-None-Match": 'W/"other"'}).status_code == 200


def test_gzip_and_plain_bytes_are_the_same_document(client):
    plain = client.get(f"/api/stock?{OLD_RANGE}", headers={"Accept-Encoding": "identity"})
    zipped = client.get(f"/api/stock?{OLD_RANGE}", headers={"Accept-Encoding": "gzip, br"})
    refused = client.get(f"/api/stock?{OLD_RANGE}", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert zipped.headers["Vary"] == "Accept-Encoding"
    assert "Content-Encoding" not in refused.headers
    assert gzip.decompress(zipped.get_data()) == plain.get_data()
    assert zipped.headers["ETag"] == plain.headers["ETag"]
    assert len(zipped.get_data()) <= 100_000  # the seed's 15-year daily NVDA answer


def test_cache_control_reflects_remaining_freshness(client, clock):
    assert "max-age=21600" in client.get(f"/api/stock?{OLD_RANGE}").headers["Cache-Control"]
    clock.advance(600)
    hit = client.get(f"/api/stock?{OLD_RANGE}")
    assert hit.headers["X-Cache"] == "HIT"
    assert "max-age=21000" in hit.headers["Cache-Control"]
    assert hit.headers["Age"] == "600"


def test_auto_mode_falls_back_to_labelled_sample_data(clock):
    yahoo, sample = ControlledProvider("yahoo"), ControlledProvider("sample")
    yahoo.fail = UpstreamUnavailableError("no network", retry_after=30)
    client = build_app(yahoo, sample, clock=clock).test_client()
    response = client.get(f"/api/stock?{OLD_RANGE}")
    assert response.status_code == 200
    assert response.get_json()["source"] == "sample"
    assert "max-age=60" in response.headers["Cache-Control"]
    # Once the fallback expires and Yahoo is back, Yahoo answers.
    clock.advance(policy.TTL_FALLBACK_S)
    yahoo.fail = None
    assert client.get(f"/api/stock?{OLD_RANGE}").get_json()["source"] == "yahoo"


def test_auto_mode_prefers_stale_yahoo_data_to_sample_data(clock):
    yahoo, sample = ControlledProvider("yahoo"), ControlledProvider("sample")
    client = build_app(yahoo, sample, clock=clock).test_client()
    client.get(f"/api/stock?{OLD_RANGE}")
    clock.advance(policy.TTL_HISTORICAL_S)
    yahoo.fail = UpstreamUnavailableError("no network", retry_after=30)
    response = client.get(f"/api/stock?{OLD_RANGE}")
    assert response.headers["X-Cache"] == "STALE"
    assert json.loads(response.get_data())["source"] == "yahoo"
    assert sample.fetches == []


def test_cache_metrics_count_hits_and_misses(client):
    hits, misses = cache_events("hit"), cache_events("miss")
    for _ in range(3):
        client.get(f"/api/stock?{OLD_RANGE}")
    assert (cache_events("hit") - hits, cache_events("miss") - misses) == (2, 1)
