"""Keep Streamlit's collection after every script run cheap: freeze the startup heap out of its way.

Streamlit runs a full `gc.collect(2)` after every script run (`runner.postScriptGC`), in the one interpreter
all sessions share. A full collection walks every tracked object, and after the imports (Streamlit, Plotly's
validators, pandas, pyarrow) that is ~120,000 of them: 50-120 ms a run on the 2-core machine, most of a warm
page's server time, and 50 visitors at once queued 50 of them. Those objects live as long as the process and
are never garbage, so `gc.freeze()` moves them to the permanent generation the collector skips; the
collection after each run then walks only what runs create, which keeps its job (freeing a finished run's
cycles promptly, so memory levels off: tests/e2e/test_sessions.py) at a fraction of the cost.

Frozen objects are never collected, so the freeze must hold only what lives for good: it runs once per
process, after a warm-up that imports what a script run uses, builds throwaway figures and collects them.
What else is alive then (the first session's own objects, which the page calls this from) stays for good
too: once, and small.
"""

from __future__ import annotations

import gc
import threading

import pandas as pd
import plotly.io

from stockui import analytics, charts

_lock = threading.Lock()
_frozen = False


def _warm_up() -> None:
    """Import and initialise what a script run touches (Plotly's trace classes and validators load on first
    use), through the same calls the page makes; everything built here is garbage afterwards."""
    index = pd.date_range("2024-01-01", periods=300, freq="B")
    close = pd.Series(range(100, 400), index=index, dtype=float)
    prices = pd.DataFrame({"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": 1.0})
    for kind in ("candlestick", "line"):
        figure = charts.price_figure(prices, "WARMUP", kind=kind, moving_averages=(20,), draw_interval="1wk")
        plotly.io.to_json(figure.to_dict(), validate=False)
    plotly.io.to_json(charts.comparison_figure({"A": close, "B": close * 2}).to_dict(), validate=False)
    analytics.ticker_figures("WARMUP", close)
    analytics.prices_table({"WARMUP": prices}).to_csv()


def freeze_startup_heap() -> bool:
    """Warm up, collect, and freeze what is left, the first time it is called in this process; True then."""
    global _frozen
    with _lock:
        if _frozen:
            return False
        _warm_up()
        gc.collect()
        gc.freeze()
        _frozen = True
        return True
