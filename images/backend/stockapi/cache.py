"""An in-process cache of finished answers: single-flight, TTL by recency, bounded bytes, stale-if-error.

Each gunicorn worker has its own cache, so one key costs at most one upstream fetch per worker per TTL.
Within a worker:
- concurrent misses for a key wait for the one fetch in flight (single-flight) instead of each fetching;
- an entry stays fresh for a TTL that the loader picks (ranges that reach today expire sooner);
- entries are evicted least-recently-used once their bytes exceed the bound;
- when the upstream is unavailable, an expired entry is served for a while longer, marked STALE;
- NotFoundError is cached too (briefly), so a repeated typo does not reach the upstream each time;
- after the upstream fails, new misses skip it for a back-off instead of piling onto it (see _ask).
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass

import cachetools

from stockapi import metrics
from stockapi.errors import ApiError, UpstreamUnavailableError
from stockapi.render import Body

ENTRY_OVERHEAD_BYTES = 512  # key, dataclass and dict slot; keeps tiny negative entries from being free


class State(enum.Enum):
    HIT = "HIT"
    MISS = "MISS"
    STALE = "STALE"


@dataclass(frozen=True, slots=True)
class Entry:
    value: Body | ApiError
    fetched_at: float
    fresh_until: float

    @property
    def size(self) -> int:
        return ENTRY_OVERHEAD_BYTES + (self.value.size if isinstance(self.value, Body) else 0)


@dataclass(frozen=True, slots=True)
class Lookup:
    entry: Entry
    state: State


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a loader returns: the answer and how many seconds it stays fresh."""

    value: Body | ApiError
    ttl_s: float


class PriceCache:
    def __init__(
        self,
        load: Callable[[Hashable], Loaded],
        *,
        fallback: Callable[[Hashable], Loaded] | None = None,
        max_bytes: int,
        stale_if_error_s: float,
        wait_timeout_s: float,
        backoff_max_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._fallback = fallback
        self._stale_if_error_s = stale_if_error_s
        self._wait_timeout_s = wait_timeout_s
        self._backoff_max_s = backoff_max_s
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: cachetools.LRUCache[Hashable, Entry] = cachetools.LRUCache(
            maxsize=max_bytes, getsizeof=lambda entry: entry.size
        )
        self._flights: dict[Hashable, Future[Lookup]] = {}
        # The upstream's health as this worker saw it last (all under _lock): consecutive failures, the
        # back-off they set, the provider's own message for the last one, whether a miss is asking again
        # right now, and a counter of recorded outcomes that tells a fetch whether news arrived meanwhile.
        self._failures = 0
        self._backoff_until = float("-inf")
        self._failure_message = ""
        self._probing = False
        self._outcomes = 0

    @property
    def current_bytes(self) -> int:
        return int(self._entries.currsize)

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, key: Hashable) -> Lookup | None:
        """A fresh cached answer for key, or None; never fetches. The cheap path for most requests."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or now >= entry.fresh_until or not isinstance(entry.value, Body):
            return None
        metrics.CACHE_HIT.inc()
        return Lookup(entry, State.HIT)

    def get(self, key: Hashable) -> Lookup:
        """The answer for key: from memory, from the one fetch in flight, or fetched now. Raises ApiError."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now < entry.fresh_until:
                metrics.CACHE_HIT.inc()
                return Lookup(entry, State.HIT)
            flight = self._flights.get(key)
            leader = flight is None
            if leader:
                flight = self._flights[key] = Future()
        if not leader:
            metrics.CACHE_COALESCED.inc()
            try:
                return flight.result(timeout=self._wait_timeout_s)
            except TimeoutError:
                raise UpstreamUnavailableError("the data source is slow to answer", retry_after=5) from None
        metrics.CACHE_MISS.inc()
        try:
            result = self._refresh(key, entry, now)
        except BaseException as error:
            flight.set_exception(error)
            raise
        else:
            flight.set_result(result)
            return result
        finally:
            with self._lock:
                del self._flights[key]

    def _refresh(self, key: Hashable, previous: Entry | None, now: float) -> Lookup:
        try:
            loaded = self._ask(key, now)
        except UpstreamUnavailableError:
            if previous is not None and now < previous.fresh_until + self._stale_if_error_s:
                metrics.CACHE_STALE.inc()
                return Lookup(previous, State.STALE)
            if self._fallback is None:
                raise
            loaded = self._fallback(key)
        done = self._clock()  # a slow fetch must not eat into the freshness of what it brought
        entry = Entry(loaded.value, fetched_at=done, fresh_until=done + loaded.ttl_s)
        with self._lock:
            try:
                self._entries[key] = entry
            except ValueError:  # larger than the whole cache: serve it, don't keep it
                self._entries.pop(key, None)
            metrics.CACHE_BYTES.set(self._entries.currsize)
            metrics.CACHE_ENTRIES.set(len(self._entries))
        return Lookup(entry, State.MISS)

    def _ask(self, key: Hashable, now: float) -> Loaded:
        """The upstream's answer for key, unless it is in back-off. Raises UpstreamUnavailableError.

        After a failure every miss is refused until the back-off ends; the first miss after that asks again,
        alone (misses meanwhile are refused for a second), and its outcome decides: a success ends the
        back-off, a failure starts a longer one (doubling up to backoff_max_s). Refusals change nothing, so
        the deadline holds however many requests arrive, and their message is the provider's own, once.
        """
        with self._lock:
            probe = self._failures > 0
            if probe:
                if self._probing or now < self._backoff_until:
                    raise UpstreamUnavailableError(
                        f"{self._failure_message}; not asked again until its back-off ends",
                        retry_after=max(1.0, self._backoff_until - now),
                    )
                self._probing = True
            outcomes_before = self._outcomes
        try:
            loaded = self._load(key)
        except UpstreamUnavailableError as error:
            with self._lock:
                done = self._clock()
                # Fetches that were already under way when another one failed report the same outage:
                # only the first of them (or a probe) counts towards the next, longer back-off.
                if probe or self._outcomes == outcomes_before:
                    self._outcomes += 1
                    self._failures += 1
                    growth = 2 ** min(self._failures - 1, 16)
                    self._backoff_until = done + min(self._backoff_max_s, error.retry_after * growth)
                    self._failure_message = error.message
                retry_after = max(1.0, self._backoff_until - done)
            # The client learns when the upstream will really be asked again, not the provider's hint.
            raise UpstreamUnavailableError(error.message, retry_after=retry_after) from None
        else:
            with self._lock:
                if self._failures:
                    self._outcomes += 1
                    self._failures = 0
                    self._backoff_until = float("-inf")
            return loaded
        finally:
            if probe:
                with self._lock:
                    self._probing = False
