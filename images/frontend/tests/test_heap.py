"""The startup heap is frozen once, after a warm-up, so Streamlit's collection after each run walks little."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from stockui_testing import FRONTEND

from stockui import heap

# In a fresh interpreter, as the server has it when the page first runs: Streamlit imported, nothing else.
CHILD = """
import gc, json
import plotly.io
import streamlit
from stockui import analytics, charts, heap
from stockui_testing import synthetic_prices

first, again = heap.freeze_startup_heap(), heap.freeze_startup_heap()
frozen = gc.get_freeze_count()
# What a script run builds: both kinds of price figure, a comparison, the JSON, the figures above the chart.
prices = synthetic_prices("NVDA", "2023-01-01", "2024-12-31")
for kind in ("candlestick", "line"):
    charts.price_figure(prices, "NVDA", kind=kind, moving_averages=(20, 50), draw_interval="1wk")
figure = charts.comparison_figure({"A": prices["close"], "B": prices["close"]})
plotly.io.to_json(figure.to_dict(), validate=False)
analytics.ticker_figures("NVDA", prices["close"])
del figure, prices
gc.collect()
print(json.dumps({"first": first, "again": again, "frozen": frozen, "tracked": len(gc.get_objects())}))
"""


@pytest.fixture(scope="module")
def child() -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FRONTEND), str(FRONTEND / "tests")])}
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_freezes_once_per_process(child):
    # A second freeze would pin whatever is alive then (cached frames and figures) for good.
    assert (child["first"], child["again"]) == (True, False)


def test_after_a_run_the_collector_walks_a_tiny_share_of_the_heap(child):
    # Without the freeze a full collection walks all ~100,000 objects of the imports; without the warm-up
    # the Plotly classes a figure loads on first use (~2,500 objects) stay in its way.
    assert child["frozen"] > 50_000, child
    assert child["tracked"] < 1_000, child


def test_the_page_freezes_the_heap(app, fake_backend, monkeypatch):
    calls = []
    monkeypatch.setattr(heap, "freeze_startup_heap", lambda: calls.append(True))
    app.run()
    assert calls == [True]
