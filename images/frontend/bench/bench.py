"""`make bench-frontend`: time to first chart for one visitor and for N at once, against the real backend.

Starts on 127.0.0.1 (free ports): the backend (gunicorn, STOCK_DATA_SOURCE=sample), the dashboard, and the
floor (bench/floor_app.py: a bare Streamlit page with one Plotly candlestick of the same bars). Then:

1. one visitor: headless Chromium loads each page `--repeat` times on a warm stack (after one cold load),
   in pairs (which page goes first alternates), and times the candlestick drawn by Plotly from the
   navigation's start, the same way on both pages; the overhead is the median of the pairs' ratios
   (dashboard / floor), printed with its quartiles, so no single noisy load decides it;
2. N visitors at once (`--sessions`, default 50), each a different ticker: `--browsers` of them in Chromium,
   the rest websocket clients speaking Streamlit's protocol (bench/session.py), against each page; prints
   median and p95 time to first chart, failed sessions and the server's peak RSS, next to the limit of the
   frontend container in the rendered Deployment (bench/manifest.py).

The Streamlit servers run on as many cores as the frontend container's CPU limit allows (one); everything
else (the backend, this process, Chromium under load) runs on the machine's other cores, as a visitor's
browser never runs on the frontend's pod. Under load the server's share is measured for each websocket
session, and a visitor's wait is that plus their browser's own work, measured for one visitor alone (in a
Chromium free to use every core, like the visitor's own machine). The Chromium sessions under load show the
whole path on this machine, their browsers sharing the clients' cores.

Numbers on a shared machine are noisy: run it twice and report both. Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

FRONTEND = Path(__file__).resolve().parents[1]
BACKEND = FRONTEND.parent / "backend"
# Run as a script, its own folder comes first on sys.path and `bench` would be this file: use the frontend's.
sys.path[0] = str(FRONTEND)

from bench.manifest import cpu_limit_cores, memory_limit_bytes  # noqa: E402
from bench.session import SessionResult, load_page  # noqa: E402

BIN = Path(sys.executable).parent
MiB = 2**20
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The first chart is there when Plotly has drawn the candlestick trace's SVG paths (its `boxes` trace group):
# the same element on both pages, whatever else the dashboard draws around it. Installed before the page's
# own scripts, a MutationObserver notes the time since the navigation started (performance.now()) in the
# task that adds them: nothing Playwright does before or after counts, and it needs no polling (a page
# waited for by animation-frame polling once never reported its chart within 180 s).
FIRST_CANDLES_MS = """
window.firstCandlesMs = new Promise(resolve => {
    const seen = () => {
        if (!document.querySelector('.js-plotly-plot .trace.boxes path.box')) return;
        observer.disconnect();
        resolve(performance.now());
    };
    const observer = new MutationObserver(seen);
    observer.observe(document, {childList: true, subtree: true});
});
"""
# Goals from issue 16.
LOAD_OVER_SINGLE = 2.0
DASHBOARD_OVER_FLOOR = 1.15


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve(
    command: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    health_url: str,
    log: Path,
    cpus: set[int] | None = None,
):
    """A server until the block ends, healthy when it starts; on `cpus` only, when given."""
    with log.open("w") as sink:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Before exec: every thread the server starts inherits it.
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                if process.poll() is not None:
                    sys.exit(f"{command[0]} exited with {process.returncode}; log: {log}")
                try:
                    with urllib.request.urlopen(health_url, timeout=2) as response:  # noqa: S310 - our http URL
                        if response.status == 200:
                            break
                except (urllib.error.URLError, OSError):
                    pass
                if time.monotonic() > deadline:
                    sys.exit(f"{health_url} not healthy after 90 s; log: {log}")
                time.sleep(0.2)  # polling a health endpoint: nothing to block on until the server listens
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def split_cores(server_cores: int) -> tuple[set[int], set[int]] | None:
    """The cores for the frontend under test (as many as its pod may use) and the rest for everything else."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) <= server_cores:
        return None
    return set(cpus[:server_cores]), set(cpus[server_cores:])


def pinned_launcher(chromium: Path, cpus: set[int], out: Path) -> Path:
    """A script starting Chromium on `cpus` only (util-linux's taskset: all it forks inherits that)."""
    launcher = out / "chromium-pinned"
    cpu_list = ",".join(map(str, sorted(cpus)))
    launcher.write_text(f'#!/bin/sh\nexec taskset --cpu-list {cpu_list} "{chromium}" "$@"\n')
    launcher.chmod(0o755)
    return launcher


def streamlit(script: Path, backend_url: str, out: Path, name: str, cpus: set[int] | None):
    port = free_port()
    home = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    env = {"BACKEND_URL": backend_url, "HOME": str(home), "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}
    command = [
        str(BIN / "streamlit"),
        "run",
        str(script),
        "--server.address=127.0.0.1",
        f"--server.port={port}",
    ]
    # Both pages run from the frontend folder, so both read its .streamlit/config.toml.
    url = f"http://127.0.0.1:{port}"
    return url, serve(
        command, cwd=FRONTEND, env=env, health_url=f"{url}/_stcore/health", log=out / f"{name}.log", cpus=cpus
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def browser_first_chart(
    browser, url: str, timeout_s: float = 180, fetched: list[str] | None = None
) -> SessionResult:
    """A new visitor (a fresh context: no cookies, an empty HTTP cache) until the candlestick is drawn;
    the URLs its browser requests are appended to `fetched`, when given."""
    context = await browser.new_context(viewport={"width": 1440, "height": 1000})
    try:
        await context.add_init_script(FIRST_CANDLES_MS)
        page = await context.new_page()
        if fetched is not None:
            page.on("request", lambda request: fetched.append(request.url))
        await page.goto(url)
        drawn_ms = await asyncio.wait_for(page.evaluate("() => window.firstCandlesMs"), timeout_s)
        return SessionResult(drawn_ms / 1000, None, None)
    except Exception as error:  # one failed visitor, reported by name
        return SessionResult(None, None, f"browser: {type(error).__name__}: {str(error)[:200]}")
    finally:
        await context.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@dataclass
class Row:
    scenario: str
    sessions: int
    # websocket sessions: the server's share of the time to first chart
    median_s: float | None
    p95_s: float | None
    # Chromium sessions: the whole time to a drawn chart, as a visitor sees it
    browser_median_s: float | None
    browser_max_s: float | None
    errors: int
    peak_rss_mib: float
    # the server's CPU time over the scenario, per session: what one page load costs the one interpreter
    cpu_ms_per_session: float | None = None
    first_error: str | None = None


async def visitor_files(browser, url: str) -> list[str]:
    """What a new visitor's browser fetches from the frontend over HTTP (not the websocket) for the page."""
    fetched: list[str] = []
    result = await browser_first_chart(browser, url, fetched=fetched)
    if result.error:
        sys.exit(f"a new visitor's page did not load: {result.error}")
    return [u for u in dict.fromkeys(fetched) if u.startswith(url.rstrip("/")) and "/_stcore/stream" not in u]


def files_cost(files: list[str], pid: int, visitors: int = 3) -> dict:
    """The server's CPU for one new visitor's files, fetched `visitors` times one after another."""
    cpu_before = cpu_seconds(pid)
    for _ in range(visitors):
        size = 0
        for url in files:
            with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - our own http URL
                size += len(response.read())
    return {
        "count": len(files),
        "bytes": size,
        "cpu_ms": 1000 * (cpu_seconds(pid) - cpu_before) / visitors,
    }


async def single(browser, urls: dict[str, str], repeat: int) -> dict[str, list[float]]:
    """`repeat` pairs of loads, one of each page; a pair with a failed load is left out whole."""
    times: dict[str, list[float]] = {name: [] for name in urls}
    for url in urls.values():  # the cold load: the servers' imports and caches
        await browser_first_chart(browser, url)
    for pair in range(repeat):
        # Alternate which page goes first, so neither always follows the other's leftovers (a browser still
        # cleaning up, a server still collecting garbage).
        order = list(urls.items()) if pair % 2 == 0 else list(reversed(urls.items()))
        results = {name: await browser_first_chart(browser, url) for name, url in order}
        failed = {name: r.error for name, r in results.items() if r.error}
        if failed:
            print(f"pair {pair + 1} left out, a load failed: {failed}", file=sys.stderr)
            continue
        for name, result in results.items():
            times[name].append(result.first_chart_s)
    return times


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


async def load(browser, url: str, pid: int, sessions: int, browsers: int, label: str) -> Row:
    tickers = [f"L{label[:1].upper()}{n}" for n in range(sessions)]
    peak = rss_bytes(pid)
    cpu_before = cpu_seconds(pid)
    tasks = [
        asyncio.create_task(browser_first_chart(browser, f"{url}/?tickers={t}")) for t in tickers[:browsers]
    ]
    tasks += [asyncio.create_task(load_page(url, f"tickers={t}", timeout_s=180)) for t in tickers[browsers:]]
    while not all(task.done() for task in tasks):
        peak = max(peak, rss_bytes(pid))
        await asyncio.sleep(0.1)  # sampling memory while the sessions run: polling is the measurement
    results = [task.result() for task in tasks]
    cpu_ms = 1000 * (cpu_seconds(pid) - cpu_before) / sessions
    ws = [r.first_chart_s for r in results[browsers:] if r.first_chart_s is not None and not r.error]
    chromium = [r.first_chart_s for r in results[:browsers] if r.first_chart_s is not None and not r.error]
    errors = [r.error for r in results if r.error]
    return Row(
        f"{label}, {sessions} at once ({browsers} in Chromium)",
        sessions,
        statistics.median(ws) if ws else None,
        percentile(ws, 0.95) if ws else None,
        statistics.median(chromium) if chromium else None,
        max(chromium) if chromium else None,
        len(errors),
        peak / MiB,
        cpu_ms,
        errors[0] if errors else None,
    )


async def run(
    args: argparse.Namespace, pages: dict[str, tuple[str, int]], client_cpus: set[int] | None
) -> dict:
    from playwright.async_api import async_playwright

    urls = {name: url for name, (url, _) in pages.items()}
    rows: list[Row] = []
    async with async_playwright() as playwright:
        # One visitor: Chromium on every core, as on the visitor's own machine.
        browser = await playwright.chromium.launch(
            executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            times = await single(browser, urls, args.repeat)
            # One websocket session alone: the reference for the same measurement under load, with the same
            # work (a ticker not asked for before: backend fetch, figure built).
            alone = [await load_page(urls["dashboard"], f"tickers=ALONE{n}") for n in range(5)]
            # The websocket sessions under load are visitors whose browser has the page's files cached; a new
            # visitor's browser fetches them too, and the same server serves them.
            files = await visitor_files(browser, urls["dashboard"])
            new_visitor_files = await asyncio.to_thread(files_cost, files, pages["dashboard"][1])
        finally:
            await browser.close()
        if args.sessions > 0:
            chromium = args.chromium
            if client_cpus:
                # Under load the clients keep off the servers' core: the websocket clients (this thread) and a
                # Chromium pinned before it starts (its zygote and renderers inherit that).
                os.sched_setaffinity(0, client_cpus)
                chromium = pinned_launcher(Path(args.chromium), client_cpus, args.out)
            browser = await playwright.chromium.launch(
                executable_path=chromium, headless=True, args=CHROMIUM_ARGS
            )
            try:
                rows = [
                    await load(browser, url, pid, args.sessions, args.browsers, name)
                    for name, (url, pid) in pages.items()
                ]
            finally:
                await browser.close()
    return {
        "single": times,
        "alone_ws_s": [r.first_chart_s for r in alone],
        "new_visitor_files": new_visitor_files,
        "rows": [asdict(r) for r in rows],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50, help="0: only the single visitor")
    parser.add_argument("--browsers", type=int, default=3)
    # 11 pairs, ~70 s: the pairs' ratios spread with an interquartile range of 0.1-0.3 on the shared machine,
    # which puts their median within ~±0.06 (5 loads each had put the ratio anywhere in 1.16-1.56).
    parser.add_argument("--repeat", type=int, default=11, help="pairs of single-visitor loads")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", type=Path, default=FRONTEND.parents[1] / ".out" / "bench-frontend")
    parser.add_argument(
        "--report", type=Path, help="print the table of an earlier run's result.json, run nothing"
    )
    args = parser.parse_args()
    if args.report:
        return report(json.loads(args.report.read_text()), memory_limit_bytes(), args)
    if not Path(args.chromium).exists():
        sys.exit(f"no Chromium at {args.chromium} (Debian: apt-get install chromium)")
    args.out.mkdir(parents=True, exist_ok=True)
    limit = memory_limit_bytes()
    cores = split_cores(cpu_limit_cores())
    server_cpus, client_cpus = cores or (None, None)
    if cores:
        print(f"Streamlit servers on CPU {sorted(server_cpus)}, the backend on CPU {sorted(client_cpus)}")
    else:
        print("Too few cores to keep the Streamlit servers apart from the clients: all share them")

    port = free_port()
    backend_url = f"http://127.0.0.1:{port}"
    backend_env = {"HOST": "127.0.0.1", "PORT": str(port), "STOCK_DATA_SOURCE": "sample"}
    backend = serve(
        [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py"],
        cwd=BACKEND,
        env=backend_env,
        health_url=f"{backend_url}/readyz",
        log=args.out / "backend.log",
        cpus=client_cpus,
    )
    dashboard_url, dashboard = streamlit(FRONTEND / "app.py", backend_url, args.out, "dashboard", server_cpus)
    floor_url, floor = streamlit(
        FRONTEND / "bench" / "floor_app.py", backend_url, args.out, "floor", server_cpus
    )
    load_before = os.getloadavg()
    with backend, dashboard as dashboard_process, floor as floor_process:
        pages = {"dashboard": (dashboard_url, dashboard_process.pid), "floor": (floor_url, floor_process.pid)}
        result = asyncio.run(run(args, pages, client_cpus))
    # Other work on the machine moves every number here: each run says how busy it was.
    result["load_average"] = {"start": load_before, "end": os.getloadavg()}
    result["cpus"] = {"servers": sorted(server_cpus or ()), "clients": sorted(client_cpus or ())}
    (args.out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return report(result, limit, args)


def seconds(value: float | None) -> str:
    return f"{value:.2f} s" if value is not None else "n/a"


def report(result: dict, limit: int, args: argparse.Namespace) -> int:
    times = result["single"]
    single = {name: statistics.median(values) for name, values in times.items()}
    alone = statistics.median(t for t in result["alone_ws_s"] if t is not None)
    if load := result.get("load_average"):
        start, end = (" ".join(f"{v:.2f}" for v in load[when]) for when in ("start", "end"))
        print(f"\nLoad average (1, 5, 15 min) at the start: {start}; at the end: {end}")
    pairs = len(times["floor"])
    print(f"\nOne visitor, Chromium, warm stack, time to the drawn candlestick, {pairs} pairs of loads:")
    for name, median in single.items():
        spread = ", ".join(f"{t:.2f}" for t in times[name])
        print(f"  {name:<10} median {median:.2f} s   ({spread})")
    ratios = [d / f for d, f in zip(times["dashboard"], times["floor"], strict=True)]
    q1, ratio, q3 = quartiles(ratios)
    print(f"  dashboard / floor, pair by pair: median {ratio:.2f}x, quartiles {q1:.2f}-{q3:.2f}x")
    medians = single["dashboard"] / single["floor"]
    print(f"  (ratio of the medians: {medians:.2f}x; goal <= {DASHBOARD_OVER_FLOOR}x)")
    print(f"  one websocket session alone, dashboard: {alone:.2f} s to the chart's element")
    goals = {
        f"one visitor within {DASHBOARD_OVER_FLOOR}x of the floor (median of the pairs' ratios)": ratio
        <= DASHBOARD_OVER_FLOOR,
    }
    if not result["rows"]:
        return verdict(goals)
    print(
        "\n| scenario | websocket median | websocket p95 | Chromium median | Chromium max | failed "
        "| peak RSS | server CPU per session |"
        "\n| --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    for row in result["rows"]:
        cpu = row.get("cpu_ms_per_session")
        print(
            f"| {row['scenario']} | {seconds(row['median_s'])} | {seconds(row['p95_s'])} "
            f"| {seconds(row['browser_median_s'])} | {seconds(row['browser_max_s'])} | {row['errors']} "
            f"| {row['peak_rss_mib']:.0f} MiB of {limit / MiB:.0f} | {f'{cpu:.0f} ms' if cpu else 'n/a'} |"
        )
        if row["first_error"]:
            print(f"  first failure: {row['first_error']}")
    dashboard = next(row for row in result["rows"] if row["scenario"].startswith("dashboard"))
    if cpu := dashboard.get("cpu_ms_per_session"):
        # One interpreter runs Python one thread at a time: N sessions' script runs take N times one run's CPU
        # however they interleave, and the sessions' charts arrive as their runs end.
        floor_s = dashboard["sessions"] * cpu / 1000
        print(
            f"\n  {dashboard['sessions']} sessions x {cpu:.0f} ms of server CPU = {floor_s:.1f} s of work "
            f"for one Python interpreter: the last chart cannot come before ~{floor_s:.1f} s."
        )
        print(
            f"  Page loads one pod serves at once within 1 s: ~{1000 / cpu:.0f}; "
            f"within 3 s: ~{3000 / cpu:.0f}."
        )
    # A visitor waits for the server's share (measured under the load), then for their own browser's work
    # (measured for one visitor alone: a browser runs on its visitor's machine, never on the frontend's pod).
    visitor_alone = single["dashboard"]
    browser_share = visitor_alone - alone
    p95 = dashboard["p95_s"]
    p95_visitor = p95 + browser_share if p95 is not None else None
    if p95_visitor is not None:
        print(
            f"  A visitor's wait under load, p95: the server's share {p95:.2f} s + the browser's own "
            f"{browser_share:.2f} s = {p95_visitor:.2f} s, "
            f"{p95_visitor / visitor_alone:.2f}x one visitor alone ({visitor_alone:.2f} s)."
        )
    if files := result.get("new_visitor_files"):
        print(
            f"  A new visitor's browser also fetches {files['count']} files "
            f"({files['bytes'] / 2**20:.1f} MiB) from the frontend: {files['cpu_ms']:.0f} ms of its CPU, "
            f"on top of the session's "
            f"{cpu or 0:.0f} ms (cached by a returning visitor's browser)."
        )
    goals |= {
        f"p95 under load <= {LOAD_OVER_SINGLE}x one visitor alone ({visitor_alone:.2f} s)": (
            p95_visitor is not None and p95_visitor <= LOAD_OVER_SINGLE * visitor_alone
        ),
        "no session failed": dashboard["errors"] == 0,
        "peak RSS under the Deployment's limit": dashboard["peak_rss_mib"] * MiB < limit,
    }
    return verdict(goals)


def verdict(goals: dict[str, bool]) -> int:
    print()
    for goal, met in goals.items():
        print(f"  {'met   ' if met else 'MISSED'}  {goal}")
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
