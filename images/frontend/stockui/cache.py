"""The process-wide caches of backend answers and of drawn figures, bounded in bytes, shared by every session.

Why not `st.cache_data`: it bounds entries, not bytes (512 entries of decades of daily bars was most of a
gigabyte), it unpickles a private copy of a value for every session that reads it, and any session can empty
it for everyone with one `clear_cache` websocket message, which Streamlit's server honours whatever the
toolbar shows. This cache lives in a module, out of that message's reach; its entries are measured with
pandas' own `memory_usage(deep=True)` and evicted least recently used once the total passes `MAX_BYTES`; and
concurrent misses on one key make one backend request (cachetools' condition), not one per session.

Figures are cached too: building one validates every property (5-10 ms for a year of candles), and many
visitors look at the same view (the default one above all), so under load they reuse it instead of queueing
behind each other's figure building for the one Python interpreter.

Sessions share the cached values, so nothing may modify them in place: pandas' copy-on-write (the default
since pandas 3) makes every slice and derived frame a copy as soon as someone writes to it, and
`st.plotly_chart` copies a figure (`to_dict`) before it serialises it.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
from collections.abc import Callable

import cachetools
import plotly.graph_objects as go

from stockui.client import PriceHistory

# Decades of daily bars are ~1.3 MB; 64 MiB holds ~50 of those or thousands of one-year ranges, and is a
# fixed share of the pod's memory limit (apps/stock-app/frontend/deployment.yaml) whatever the traffic.
MAX_BYTES = 64 * 2**20
# A figure is 0.3-1 MB in memory (at most 1,000 drawn bars, stockui/charts.py): 30-100 views.
FIGURE_MAX_BYTES = 32 * 2**20
TTL = dt.timedelta(minutes=10)
# Plotly's objects around the data; measured with tracemalloc: 300 kB for a year of candles (58 kB of JSON),
# 460 kB for 2,000 weekly candles (380 kB of JSON), twice the most a figure now draws.
_FIGURE_OVERHEAD = 256 * 2**10


def history_bytes(history: PriceHistory) -> int:
    """What an entry costs: the frame's buffers and index, plus the small objects around it."""
    frame_bytes = int(history.prices.memory_usage(index=True, deep=True).sum())
    return frame_bytes + sum(map(sys.getsizeof, (history, history.ticker, history.interval, history.source)))


def figure_bytes(figure: go.Figure) -> int:
    """An upper estimate of a figure's memory: twice its JSON plus Plotly's objects around it."""
    return 2 * len(figure.to_json()) + _FIGURE_OVERHEAD


class SharedCache:
    """A TTL + LRU cache whose size is the bytes of its values (`sizeof`), safe across threads."""

    def __init__(
        self,
        sizeof: Callable[[object], int],
        max_bytes: int = MAX_BYTES,
        ttl: dt.timedelta = TTL,
        timer=None,
    ) -> None:
        extra = {"timer": timer} if timer else {}
        self.entries: cachetools.TTLCache = cachetools.TTLCache(
            maxsize=max_bytes, ttl=ttl.total_seconds(), getsizeof=sizeof, **extra
        )
        self.condition = threading.Condition()

        # Keyed on the arguments after `fetch`: the client object may be recreated, the answers stay valid.
        self._get = cachetools.cached(
            self.entries, key=lambda _fetch, *args: cachetools.keys.hashkey(*args), condition=self.condition
        )(lambda fetch, *args: fetch(*args))

    def get(self, fetch: Callable, *args):
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


# Module attributes live as long as the process, and no websocket message reaches them.
HISTORIES = SharedCache(history_bytes)
FIGURES = SharedCache(figure_bytes, max_bytes=FIGURE_MAX_BYTES)
