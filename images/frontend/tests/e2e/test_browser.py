"""The dashboard in a real browser against the real backend (sample data)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from playwright.sync_api import Page, expect

# Streamlit renders Plotly into a div.js-plotly-plot; Plotly keeps the drawn data on that element.
FIRST_TRACE = "() => document.querySelector('.js-plotly-plot')?.data?.[0]?.name ?? null"
CHART_TIMEOUT_MS = 30_000


def wait_until_idle(page: Page) -> None:
    """Until the script run has finished (Streamlit hides its running/stop widget)."""
    expect(page.get_by_test_id("stStatusWidget")).to_be_hidden(timeout=CHART_TIMEOUT_MS)


def wait_for_chart(page: Page, first_trace: str) -> None:
    """Until Plotly has drawn a chart whose first trace is `first_trace` (SVG paths exist in the plot)."""
    page.wait_for_function(
        """name => {
            const plot = document.querySelector('.js-plotly-plot');
            return plot?.data?.[0]?.name === name && plot.querySelectorAll('.trace path').length > 0;
        }""",
        arg=first_trace,
        timeout=CHART_TIMEOUT_MS,
    )


def test_the_chart_renders_and_follows_the_ticker(page: Page, frontend_url: str, out_dir: Path):
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Plotly.js logs what it cannot use ("WARN: Invalid color specifier ...") with a stack trace each: once
    # per volume bar, that was 0.4 s of the main thread before the first chart.
    plotly_warnings: list[str] = []
    page.on("console", lambda msg: msg.text.startswith("WARN:") and plotly_warnings.append(msg.text))

    started = time.monotonic()
    page.goto(frontend_url)
    wait_for_chart(page, "NVDA")
    cold_s = time.monotonic() - started
    expect(page.get_by_text("Sample data, not market data")).to_be_visible()

    # The warm stack: backend and Streamlit caches hold the answer, the browser has the static files.
    started = time.monotonic()
    page.reload()
    wait_for_chart(page, "NVDA")
    warm_s = time.monotonic() - started

    tickers = page.get_by_role("textbox", name="Tickers")
    tickers.fill("AAPL")
    tickers.press("Enter")
    wait_for_chart(page, "AAPL")
    expect(page.get_by_role("heading", name="AAPL")).to_be_visible()
    # The view is in the URL, so the link can be shared.
    page.wait_for_url("**/?tickers=AAPL")
    wait_until_idle(page)
    page.screenshot(path=out_dir / "dashboard.png", full_page=True)

    tickers.fill("NVDA, AAPL, ^GSPC")
    tickers.press("Enter")
    wait_for_chart(page, "NVDA")
    assert page.evaluate("() => document.querySelector('.js-plotly-plot').data.map(t => t.name)") == [
        "NVDA",
        "AAPL",
        "^GSPC",
    ]
    wait_until_idle(page)
    page.screenshot(path=out_dir / "comparison.png", full_page=True)

    (out_dir / "timings.json").write_text(
        json.dumps({"first_chart_cold_s": round(cold_s, 2), "first_chart_warm_s": round(warm_s, 2)}) + "\n"
    )
    print(f"time to first chart: cold {cold_s:.2f} s, warm {warm_s:.2f} s")
    assert errors == []
    assert plotly_warnings[:3] == [], f"{len(plotly_warnings)} warnings from Plotly.js"


def test_a_shared_link_opens_the_same_view_and_its_data_downloads(page: Page, frontend_url: str):
    page.goto(f"{frontend_url}/?tickers=MSFT&chart=line&moving_averages=20&period=1M")
    wait_for_chart(page, "MSFT")
    names = page.evaluate("() => document.querySelector('.js-plotly-plot').data.map(t => t.name)")
    assert names == ["MSFT", "SMA 20", "Volume"]
    assert page.evaluate("() => document.querySelector('.js-plotly-plot').data[0].type") == "scatter"
    bars = int(
        page.get_by_test_id("stMetric").filter(has_text="Bars").get_by_test_id("stMetricValue").inner_text()
    )

    # The CSV is a file the session keeps on the server and the browser fetches over plain HTTP.
    page.get_by_role("tab", name="Data").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0] == "ticker,date,open,high,low,close,volume"
    assert len(lines) == 1 + bars
    assert all(line.startswith("MSFT,") for line in lines[1:])
