"""Answers to price queries: providers behind the cache, with the freshness rules of policy.py."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from stockapi import metrics, policy
from stockapi.cache import Loaded, Lookup, PriceCache
from stockapi.domain import StockQuery
from stockapi.errors import ApiError, NotFoundError, UpstreamUnavailableError
from stockapi.providers import Provider
from stockapi.render import render


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


class StockService:
    def __init__(
        self,
        primary: Provider,
        fallback: Provider | None = None,
        *,
        max_bytes: int,
        today: Callable[[], dt.date] = utc_today,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.today = today
        self.clock = clock
        self.cache = PriceCache(
            lambda query: self._fetch(primary, query, self._ttl(query)),
            fallback=(lambda query: self._fetch(fallback, query, policy.TTL_FALLBACK_S))
            if fallback
            else None,
            max_bytes=max_bytes,
            stale_if_error_s=policy.STALE_IF_ERROR_S,
            # A waiting request gives up a little after the fetch it waits for would have timed out.
            wait_timeout_s=policy.UPSTREAM_TIMEOUT_S * 3,
            backoff_max_s=policy.UPSTREAM_BACKOFF_MAX_S,
            clock=clock,
        )

    def peek(self, query: StockQuery) -> Lookup | None:
        """A fresh cached answer (never a cached error), or None; never fetches. The fast path's lookup."""
        return self.cache.peek(query)

    def lookup(self, query: StockQuery) -> Lookup:
        """The answer, fetched if need be; a cached "unknown ticker" or "no data" is raised."""
        lookup = self.cache.get(query)
        if isinstance(lookup.entry.value, ApiError):
            raise lookup.entry.value
        return lookup

    def _ttl(self, query: StockQuery) -> float:
        recent = query.end >= self.today() - dt.timedelta(days=policy.RECENT_DAYS)
        return policy.TTL_RECENT_S if recent else policy.TTL_HISTORICAL_S

    @staticmethod
    def _fetch(provider: Provider, query: StockQuery, ttl_s: float) -> Loaded:
        started = time.perf_counter()
        outcome = "error"
        try:
            prices = provider.fetch(query)
            outcome = "ok"
        except NotFoundError as error:
            outcome = "not_found"
            return Loaded(error, policy.TTL_NEGATIVE_S)
        except UpstreamUnavailableError:
            outcome = "unavailable"
            raise
        finally:
            metrics.UPSTREAM_FETCHES.labels(provider.name, outcome).inc()
            metrics.UPSTREAM_LATENCY.labels(provider.name).observe(time.perf_counter() - started)
        return Loaded(render(query, prices), ttl_s)
