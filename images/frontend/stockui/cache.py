"""The process-wide cache of backend answers, bounded in bytes, shared by every session.

Why not `st.cache_data`: it bounds entries, not bytes (512 entries of decades of daily bars was most of a
gigabyte), it unpickles a private copy of a value for every session that reads it, and any session can empty
it for everyone with one `clear_cache` websocket message, which Streamlit's server honours whatever the
toolbar shows. This cache lives in a module, out of that message's reach; its entries are measured with
pandas' own `memory_usage(deep=True)` and evicted least recently used once the total passes `MAX_BYTES`; and
concurrent misses on one key make one backend request (cachetools' condition), not one per session.

Sessions share the cached frames, so nothing may modify them in place: pandas' copy-on-write (the default
since pandas 3) makes every slice and derived frame a copy as soon as someone writes to it.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
from collections.abc import Callable

import cachetools

from stockui.client import PriceHistory

# Decades of daily bars are ~1.3 MB; 64 MiB holds ~50 of those or thousands of one-year ranges, and is a
# fixed share of the pod's memory limit (apps/stock-app/frontend/deployment.yaml) whatever the traffic.
MAX_BYTES = 64 * 2**20
TTL = dt.timedelta(minutes=10)


def history_bytes(history: PriceHistory) -> int:
    """What an entry costs: the frame's buffers and index, plus the small objects around it."""
    frame_bytes = int(history.prices.memory_usage(index=True, deep=True).sum())
    return frame_bytes + sum(map(sys.getsizeof, (history, history.ticker, history.interval, history.source)))


class HistoryCache:
    """A TTL + LRU cache of `PriceHistory` whose size is the bytes of its values, safe across threads."""

    def __init__(self, max_bytes: int = MAX_BYTES, ttl: dt.timedelta = TTL, timer=None) -> None:
        extra = {"timer": timer} if timer else {}
        self.entries: cachetools.TTLCache = cachetools.TTLCache(
            maxsize=max_bytes, ttl=ttl.total_seconds(), getsizeof=history_bytes, **extra
        )
        self.condition = threading.Condition()

        # Keyed on the arguments after `fetch`: the client object may be recreated, the answers stay valid.
        self._get = cachetools.cached(
            self.entries, key=lambda _fetch, *args: cachetools.keys.hashkey(*args), condition=self.condition
        )(lambda fetch, *args: fetch(*args))

    def get(self, fetch: Callable[..., PriceHistory], *args) -> PriceHistory:
        """`fetch(*args)`, from the cache when it holds them; an exception is not cached, so a failure is
        asked for again on the next run."""
        return self._get(fetch, *args)

    @property
    def current_bytes(self) -> int:
        with self.condition:
            return int(self.entries.currsize)

    def clear(self) -> None:
        with self.condition:
            self.entries.clear()


# The one instance: a module attribute lives as long as the process, and no websocket message reaches it.
HISTORIES = HistoryCache()
