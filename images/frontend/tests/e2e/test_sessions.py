"""Many sessions against one real frontend process: its memory levels off under the Deployment's limit, no
session can empty the cache the others rely on, and a page sends its chart before its controls.

Sessions are websocket clients speaking Streamlit's protocol (bench/session.py): to the server they are
browser tabs, at a fraction of a browser's cost.
"""

from __future__ import annotations

import asyncio
import re
import urllib.request
from pathlib import Path

from bench.manifest import memory_limit_bytes
from bench.session import clear_cache, load_page

# Waves of visitors each asking for a different ticker's whole history (the most memory a view takes), more
# tickers in total than the byte-bounded cache holds, so the later waves run with the cache full.
WAVES = 4
SESSIONS = 25
# Peak RSS must stay this far under the limit: the rest is headroom for what the test does not model.
LIMIT_SHARE = 0.75
MiB = 2**20


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise LookupError(f"no VmRSS for process {pid}")


async def wave(url: str, pid: int, tickers: list[str]) -> tuple[int, list]:
    """Open one session per ticker, all at once, keep them open until every page has loaded, close them.
    Returns the peak RSS seen meanwhile and the sessions' results."""
    hold = asyncio.Event()
    loaded = 0

    def one_loaded() -> None:
        nonlocal loaded
        loaded += 1

    sessions = [
        asyncio.create_task(
            load_page(url, f"tickers={ticker}&period=Max", hold=hold, on_loaded=one_loaded, timeout_s=240)
        )
        for ticker in tickers
    ]
    peak = rss_bytes(pid)
    # Sampling memory while the wave runs: the polling is the measurement, not a wait for a condition.
    while loaded + sum(task.done() for task in sessions) < len(sessions):
        peak = max(peak, rss_bytes(pid))
        await asyncio.sleep(0.2)
    peak = max(peak, rss_bytes(pid))
    hold.set()
    return peak, await asyncio.gather(*sessions)


def test_memory_levels_off_under_the_deployments_limit(own_frontend):
    url, pid = own_frontend
    limit = memory_limit_bytes()
    start = rss_bytes(pid)
    peaks = []
    for number in range(WAVES):
        peak, results = asyncio.run(wave(url, pid, [f"MEM{number}X{n}" for n in range(SESSIONS)]))
        failed = [result.error for result in results if result.error]
        assert failed == [], f"wave {number}: {len(failed)} sessions failed, first: {failed[0]}"
        peaks.append(peak)
    report = ", ".join(f"wave {n}: peak {p / MiB:.0f} MiB" for n, p in enumerate(peaks))
    print(f"RSS from {start / MiB:.0f} MiB; {report}; limit {limit / MiB:.0f} MiB")
    assert max(peaks) < LIMIT_SHARE * limit, report
    # Levelled off: the later waves' highest peak is barely above the earlier waves', while the first wave
    # (which filled the caches and the allocator) grew a lot. Peaks, not the RSS between waves: that one
    # swings by ~100 MiB with when closed sessions are cleaned up, a leak raises every peak.
    half = WAVES // 2
    first_growth = peaks[0] - start
    assert max(peaks[half:]) - max(peaks[:half]) < max(first_growth / 4, 32 * MiB), report


def backend_stock_requests(backend_url: str) -> float:
    with urllib.request.urlopen(f"{backend_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    pattern = r'^stockapi_http_requests_total\{[^}]*route="/api/stock"[^}]*\} ([0-9.e+]+)$'
    return sum(float(value) for value in re.findall(pattern, text, flags=re.MULTILINE))


def test_no_session_can_clear_the_cache_for_everyone(own_frontend, backend_url):
    url, _ = own_frontend
    query = "tickers=CLEARME&period=5Y"
    assert asyncio.run(load_page(url, query)).error is None
    fetched = backend_stock_requests(backend_url)
    # What the developer menu's "Clear cache" sends, hidden from viewers but still accepted by the server.
    assert asyncio.run(load_page(url, "tickers=OTHER", before_close=clear_cache())).error is None
    assert asyncio.run(load_page(url, query)).error is None
    assert backend_stock_requests(backend_url) == fetched + 1, "only OTHER was fetched; CLEARME came cached"


def test_the_chart_reaches_the_browser_before_the_controls(own_frontend):
    # A browser draws elements in the order they arrive; the first chart does not need the sidebar's controls.
    url, _ = own_frontend
    result = asyncio.run(load_page(url, "tickers=ORDER"))
    assert result.error is None
    assert result.elements.index("plotly_chart") < result.elements.index("text_input"), result.elements
